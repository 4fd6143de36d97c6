/** Upstreams, their items with pin state and quarantine, the drift to review, and approval of what was reviewed. */
import { useEffect, useState } from 'preact/hooks';
import { get, has, post, type Me } from '../api.js';

interface Item { kind: string; key: string; pin: string; admitted: boolean; reason?: string }
interface Server {
  name: string; health: string; approved: boolean; approvedAt?: string; reviewDigest?: string; items: Item[];
  drift: { kind: string; key: string; classification: string; severity?: string; text: string }[];
  removed: string[]; findings: { item: string; severity: string; rule: string; message: string }[]; collisions: string[]; error?: string;
}

export function Servers({ me }: { me: Me }) {
  const [servers, setServers] = useState<Server[]>();
  const [error, setError] = useState<string>();
  const [note, setNote] = useState<string>();
  const load = () => get<{ servers: Server[] }>('servers').then((r) => { setServers(r.servers); setError(undefined); }, (e: Error) => setError(e.message));
  useEffect(() => { void load(); }, []);
  const approve = async (s: Server) => {
    try {
      const r = await post<{ items: number }>(`servers/${encodeURIComponent(s.name)}/approve`, { digest: s.reviewDigest });
      setNote(`Approved ${s.name}: ${r.items} items pinned.`);
    } catch (e) { setError((e as Error).message); }
    await load();
  };
  return (
    <section>
      <h1>Servers</h1>
      <button type="button" onClick={() => void load()}>Review again</button>
      {note && <p class="ok" id="note">{note}</p>}
      {error && <p class="error">{error}</p>}
      {!servers && !error && <p>Fetching definitions…</p>}
      {servers?.map((s) => {
        const needsReview = !s.approved || s.drift.length > 0 || s.removed.length > 0;
        return (
          <article key={s.name} class="card server" data-server={s.name}>
            <h2>{s.name} <span class={`badge ${s.health}`}>{s.health}</span> <span class={`badge ${s.approved ? (needsReview ? 'drifted' : 'approved') : 'unapproved'}`}>{s.approved ? (needsReview ? 'drifted' : 'approved') : 'not approved'}</span></h2>
            {s.error && <p class="error">Could not fetch its definitions: {s.error}</p>}
            {s.approvedAt && <p class="muted">Pins approved {s.approvedAt}</p>}
            <table class="items">
              <thead><tr><th>Kind</th><th>Name</th><th>Pin</th><th>Admission</th></tr></thead>
              <tbody>{s.items.map((i) => (
                <tr key={`${i.kind} ${i.key}`} data-item={i.key}>
                  <td>{i.kind}</td><td><code>{i.key}</code></td><td class={i.pin === 'pinned' ? 'ok' : 'warn'}>{i.pin}</td>
                  <td class={!i.admitted ? 'error' : i.reason ? 'warn' : 'ok'}>{i.admitted ? 'admitted' : 'quarantined'}{i.reason ? `: ${i.reason}` : ''}</td>
                </tr>
              ))}</tbody>
            </table>
            {s.drift.length > 0 && <><h3>Drift from the pins</h3>{s.drift.map((d) => <pre key={`${d.kind} ${d.key}`} class="drift">{d.text}</pre>)}</>}
            {s.removed.length > 0 && <p>Removed since approval: {s.removed.join(', ')}</p>}
            {s.findings.length > 0 && <><h3>Findings</h3><ul>{s.findings.map((f, i) => <li key={i}>{f.severity} {f.rule} in {f.item}: {f.message}</li>)}</ul></>}
            {s.collisions.length > 0 && <p class="warn">Name collisions: {s.collisions.join('; ')}</p>}
            {has(me, 'admin') && s.reviewDigest && needsReview && (
              <button type="button" class="approve" onClick={() => void approve(s)}>{s.approved ? 'Re-approve these definitions' : 'Approve these definitions'}</button>
            )}
          </article>
        );
      })}
    </section>
  );
}
