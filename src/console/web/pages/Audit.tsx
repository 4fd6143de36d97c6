/** Audit log search (time range, principal, type, outcome, upstream, text) and the chain's verification status. */
import { useEffect, useState } from 'preact/hooks';
import { get, time } from '../api.js';

interface Rec { seq: number; time: number; type: string; principal?: string; issuer?: string; upstream?: string; method?: string; item?: { kind: string; name: string }; outcome?: string; latencyMs?: number; detail?: unknown; error?: { code: string; message: string }; hash: string }
interface Result { records: Rec[]; scanned: number; truncated: boolean }
interface Chain { ok: boolean; records: number; checkpoints: number; unsigned: number; problem?: { kind: string; seq: number; message: string } }

const FIELDS = ['since', 'until', 'principal', 'type', 'outcome', 'upstream', 'text'] as const;
type Query = Partial<Record<(typeof FIELDS)[number], string>>;

export function Audit() {
  const [q, setQ] = useState<Query>({});
  const [result, setResult] = useState<Result>();
  const [chain, setChain] = useState<Chain>();
  const [error, setError] = useState<string>();
  const search = (query: Query) => {
    const iso = (v?: string) => (v ? String(new Date(v).getTime()) : undefined);
    get<Result>('audit', { ...query, since: iso(query.since), until: iso(query.until) }).then((r) => { setResult(r); setError(undefined); }, (e: Error) => setError(e.message));
  };
  useEffect(() => {
    search({});
    get<Chain>('audit/verify').then(setChain, (e: Error) => setError(e.message));
  }, []);
  const set = (k: keyof Query) => (e: Event) => setQ({ ...q, [k]: (e.target as HTMLInputElement).value });
  return (
    <section>
      <h1>Audit log</h1>
      {chain && (
        <p id="chain" class={chain.ok ? 'ok' : 'error'}>
          Chain {chain.ok ? 'verified' : 'BROKEN'}: {chain.records} records, {chain.checkpoints} signed checkpoints, {chain.unsigned} after the last checkpoint.
          {chain.problem && ` ${chain.problem.kind} at ${chain.problem.seq}: ${chain.problem.message}`}
        </p>
      )}
      <form class="filters" onSubmit={(e) => { e.preventDefault(); search(q); }}>
        <label>From <input type="datetime-local" name="since" value={q.since ?? ''} onInput={set('since')} /></label>
        <label>To <input type="datetime-local" name="until" value={q.until ?? ''} onInput={set('until')} /></label>
        <label>Principal <input name="principal" value={q.principal ?? ''} onInput={set('principal')} /></label>
        <label>Type <input name="type" placeholder="request, admin.*" value={q.type ?? ''} onInput={set('type')} /></label>
        <label>Outcome <input name="outcome" value={q.outcome ?? ''} onInput={set('outcome')} /></label>
        <label>Server <input name="upstream" value={q.upstream ?? ''} onInput={set('upstream')} /></label>
        <label>Text <input name="text" value={q.text ?? ''} onInput={set('text')} /></label>
        <button type="submit">Search</button>
      </form>
      {error && <p class="error">{error}</p>}
      {result && (
        <>
          <p class="muted">{result.records.length} shown of {result.scanned} searched{result.truncated ? ' (older records not searched: narrow the time range)' : ''}.</p>
          <table class="records">
            <thead><tr><th>#</th><th>Time</th><th>Type</th><th>Principal</th><th>What</th><th>Outcome</th><th>ms</th></tr></thead>
            <tbody>{result.records.map((r) => (
              <tr key={r.seq} title={r.hash}>
                <td>{r.seq}</td><td>{time(r.time)}</td><td>{r.type}</td><td>{r.principal ?? ''}</td>
                <td>{r.item ? `${r.upstream ?? ''} ${r.item.kind} ${r.item.name}` : r.method ?? (r.detail ? JSON.stringify(r.detail) : '')}</td>
                <td class={r.outcome === 'ok' ? 'ok' : 'warn'}>{r.outcome ?? ''}{r.error ? `: ${r.error.message}` : ''}</td><td>{r.latencyMs ?? ''}</td>
              </tr>
            ))}</tbody>
          </table>
        </>
      )}
    </section>
  );
}
