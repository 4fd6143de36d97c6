/** Live 2025-era sessions of this gateway, and revocation. */
import { useEffect, useState } from 'preact/hooks';
import { get, has, post, time, type Me } from '../api.js';

interface Session { id: string; endpoint: string; principal: string; protocolVersion: string; client?: { name?: string; version?: string }; createdAt: number; lastSeen: number }

export function Sessions({ me }: { me: Me }) {
  const [sessions, setSessions] = useState<Session[]>([]);
  const [error, setError] = useState<string>();
  const [note, setNote] = useState<string>();
  const load = () => get<{ sessions: Session[] }>('sessions').then((r) => { setSessions(r.sessions); setError(undefined); }, (e: Error) => setError(e.message));
  useEffect(() => { void load(); }, []);
  const revoke = async (id: string) => {
    try { await post(`sessions/${encodeURIComponent(id)}/revoke`); setNote(`Revoked session ${id}.`); }
    catch (e) { setError((e as Error).message); }
    await load();
  };
  return (
    <section>
      <h1>Sessions</h1>
      <button type="button" onClick={() => void load()}>Refresh</button>
      {note && <p class="ok" id="note">{note}</p>}
      {error && <p class="error">{error}</p>}
      {sessions.length === 0 ? <p class="empty">No live sessions.</p> : (
        <table class="sessions">
          <thead><tr><th>Session</th><th>Principal</th><th>Client</th><th>Endpoint</th><th>Version</th><th>Started</th><th>Last seen</th><th></th></tr></thead>
          <tbody>{sessions.map((s) => (
            <tr key={s.id} data-session={s.id}>
              <td><code>{s.id}</code></td><td>{s.principal}</td><td>{s.client?.name ?? ''} {s.client?.version ?? ''}</td><td>{s.endpoint}</td>
              <td>{s.protocolVersion}</td><td>{time(s.createdAt)}</td><td>{time(s.lastSeen)}</td>
              <td>{has(me, 'admin') && <button type="button" class="deny" onClick={() => void revoke(s.id)}>Revoke</button>}</td>
            </tr>
          ))}</tbody>
        </table>
      )}
    </section>
  );
}
