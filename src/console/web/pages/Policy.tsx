/** "What can this user do?": the policy in force, asked for every item of every upstream. */
import { useState } from 'preact/hooks';
import { get } from '../api.js';

interface Item { kind: string; name: string; visible: boolean; action: string; outcome: string; rules: { id: string; effect: string; reason: string }[] }
interface ServerView { server: string; reachable: boolean; items: Item[]; error?: string }

export function Policy() {
  const [subject, setSubject] = useState('');
  const [roles, setRoles] = useState('');
  const [groups, setGroups] = useState('');
  const [result, setResult] = useState<ServerView[]>();
  const [error, setError] = useState<string>();
  const ask = (e: Event) => {
    e.preventDefault();
    get<{ servers: ServerView[] }>('policy', { subject, roles, groups }).then((r) => { setResult(r.servers); setError(undefined); }, (x: Error) => setError(x.message));
  };
  const val = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value);
  return (
    <section>
      <h1>What can this user do?</h1>
      <form class="filters" onSubmit={ask}>
        <label>Subject <input name="subject" required value={subject} onInput={val(setSubject)} /></label>
        <label>Roles <input name="roles" placeholder="comma-separated" value={roles} onInput={val(setRoles)} /></label>
        <label>Groups <input name="groups" placeholder="comma-separated" value={groups} onInput={val(setGroups)} /></label>
        <button type="submit">Ask the policy</button>
      </form>
      <p class="muted">Decided without arguments: a rule constraining arguments may still refuse a particular call.</p>
      {error && <p class="error">{error}</p>}
      {result?.map((s) => (
        <article key={s.server} class="card">
          <h2>{s.server} <span class={`badge ${s.reachable ? 'approved' : 'unapproved'}`}>{s.reachable ? 'reachable' : 'nothing allowed'}</span></h2>
          {s.error && <p class="error">{s.error}</p>}
          <table class="policy">
            <thead><tr><th>Kind</th><th>Name</th><th>Listed</th><th>Use</th><th>Deciding rules</th></tr></thead>
            <tbody>{s.items.map((i) => (
              <tr key={`${i.kind} ${i.name}`} data-item={i.name}>
                <td>{i.kind}</td><td><code>{i.name}</code></td><td>{i.visible ? 'yes' : 'hidden'}</td>
                <td class={i.outcome === 'allow' ? 'ok' : i.outcome === 'deny' ? 'error' : 'warn'}>{i.action}: {i.outcome}</td>
                <td>{i.rules.map((r) => <div key={r.id}><code>{r.id}</code> ({r.effect}): {r.reason}</div>)}</td>
              </tr>
            ))}</tbody>
          </table>
        </article>
      ))}
    </section>
  );
}
