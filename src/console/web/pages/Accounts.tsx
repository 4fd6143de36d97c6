/**
 * The signed-in user's own upstream accounts (per-user credentials): connect, reconnect, disconnect. Open to every
 * session, with or without console roles. Connecting leaves the app for the gateway's connect page, whose button is
 * the consent step, then the upstream's own sign-in; its last page links back here.
 */
import { useEffect, useState } from 'preact/hooks';
import { get, post, time } from '../api.js';

interface Account {
  upstream: string; description?: string; mode: 'per-user' | 'token-exchange';
  connected?: boolean; connectedAt?: number; expiresAt?: number; scope?: string; renews?: boolean;
}

export function Accounts() {
  const [accounts, setAccounts] = useState<Account[]>();
  const [error, setError] = useState<string>();
  const [note, setNote] = useState<string>();
  const [busy, setBusy] = useState(false);
  const load = () => get<{ accounts: Account[] }>('accounts').then((r) => { setAccounts(r.accounts); setError(undefined); }, (e: Error) => setError(e.message));
  useEffect(() => { void load(); }, []);
  const connect = async (a: Account) => {
    setBusy(true);
    try { location.href = (await post<{ url: string }>(`accounts/${encodeURIComponent(a.upstream)}/connect`)).url; }
    catch (e) { setError((e as Error).message); setBusy(false); }
  };
  const disconnect = async (a: Account) => {
    setBusy(true);
    try {
      const r = await post<{ disconnected: boolean }>(`accounts/${encodeURIComponent(a.upstream)}/disconnect`);
      setNote(r.disconnected ? `Disconnected your ${a.upstream} account.` : `No ${a.upstream} account was connected.`);
    } catch (e) { setError((e as Error).message); }
    setBusy(false);
    await load();
  };
  return (
    <section>
      <h1>Your accounts</h1>
      <p class="muted">Upstream servers that act with your own account there. Connect it once; the gateway keeps the tokens and uses them only for your calls. Tokens are never shown.</p>
      {note && <p class="ok" id="note">{note}</p>}
      {error && <p class="error">{error}</p>}
      {!accounts && !error && <p>Loading…</p>}
      {accounts?.length === 0 && <p class="empty" id="no-accounts">No upstream here uses your own account: there is nothing to connect.</p>}
      {accounts?.map((a) => (
        <article key={a.upstream} class="card account" data-upstream={a.upstream}>
          <h2>{a.upstream} {a.mode === 'token-exchange'
            ? <span class="badge automatic">automatic</span>
            : <span class={`badge ${a.connected ? 'connected' : 'disconnected'}`}>{a.connected ? 'connected' : 'not connected'}</span>}</h2>
          {a.description && <p class="muted">{a.description}</p>}
          {a.mode === 'token-exchange' ? <p>The gateway obtains a token for you when you use it (token exchange): nothing to connect.</p> : a.connected ? (
            <dl>
              <dt>Connected</dt><dd>{a.connectedAt ? time(a.connectedAt) : 'yes'}</dd>
              <dt>Scope</dt><dd>{a.scope || 'as granted by the server'}</dd>
              <dt>Token expires</dt><dd>{a.expiresAt ? time(a.expiresAt) : 'not said by the server'}{a.renews ? ' (renewed automatically)' : ''}</dd>
            </dl>
          ) : <p>Not connected: calls to {a.upstream} ask you to connect first.</p>}
          {a.mode === 'per-user' && (
            <div class="actions">
              <button type="button" class="approve connect" disabled={busy} onClick={() => void connect(a)}>{a.connected ? 'Reconnect' : 'Connect'}</button>
              {a.connected && <button type="button" class="deny disconnect" disabled={busy} onClick={() => void disconnect(a)}>Disconnect</button>}
            </div>
          )}
        </article>
      ))}
    </section>
  );
}
