/** The approvals queue: live (server-sent events, and a periodic refresh for decisions made elsewhere). */
import { useEffect, useState } from 'preact/hooks';
import { get, has, post, time, type Me } from '../api.js';

interface Approval {
  id: string; createdAt: number; expiresAt: number; status: string;
  principal: { subject: string; issuer: string; clientId?: string };
  client?: { name?: string; version?: string };
  server: string; endpoint: string; method: string; shownItem: string; arguments?: unknown; reason: string;
  rules: { id: string; reason: string }[];
  findings: { guardrail: string; rule: string; severity: string; action: string; path: string }[];
  requirement: { required: number; fourEyes: boolean; approverRoles: string[] };
  decisions: { approver: { subject: string }; decision: string; reason?: string; at: number }[];
}

const REFRESH_MS = 10_000;

export function Approvals({ me }: { me: Me }) {
  const [status, setStatus] = useState('pending');
  const [items, setItems] = useState<Approval[]>([]);
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    get<{ approvals: Approval[] }>('approvals', { status }).then((r) => { setItems(r.approvals); setError(undefined); }, (e: Error) => setError(e.message));
  }, [status, tick]);
  useEffect(() => {
    const events = new EventSource('api/approvals/events');
    events.addEventListener('changed', () => setTick((t) => t + 1));
    const timer = setInterval(() => setTick((t) => t + 1), REFRESH_MS);
    return () => { events.close(); clearInterval(timer); };
  }, []);
  const mayDecide = has(me, 'approver', 'admin');
  return (
    <section>
      <h1>Approvals</h1>
      <label>Show <select value={status} onChange={(e) => setStatus((e.target as HTMLSelectElement).value)}>
        {['pending', 'approved', 'denied', 'expired', 'all'].map((s) => <option key={s} value={s}>{s}</option>)}
      </select></label>
      {error && <p class="error">{error}</p>}
      {items.length === 0 && <p class="empty">No {status === 'all' ? '' : status} approvals.</p>}
      {items.map((a) => <ApprovalCard key={a.id} a={a} mayDecide={mayDecide} onDone={() => setTick((t) => t + 1)} />)}
    </section>
  );
}

function ApprovalCard({ a, mayDecide, onDone }: { a: Approval; mayDecide: boolean; onDone: () => void }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const decide = async (decision: 'approve' | 'deny') => {
    setBusy(true);
    try { await post(`approvals/${encodeURIComponent(a.id)}/decide`, { decision, ...(reason ? { reason } : {}) }); onDone(); }
    catch (e) { setError((e as Error).message); }
    finally { setBusy(false); }
  };
  return (
    <article class={`card approval ${a.status}`} data-approval={a.id}>
      <h2><code>{a.shownItem}</code> on <code>{a.server}</code> <span class={`badge ${a.status}`}>{a.status}</span></h2>
      <dl>
        <dt>Caller</dt><dd>{a.principal.subject} <small>({a.principal.issuer})</small></dd>
        <dt>Client</dt><dd>{a.client?.name ?? a.principal.clientId ?? '—'} {a.client?.version ?? ''}</dd>
        <dt>Method</dt><dd>{a.method} via {a.endpoint}</dd>
        <dt>Why</dt><dd>{a.reason}{a.rules.length > 0 && <ul>{a.rules.map((r) => <li key={r.id}><code>{r.id}</code>: {r.reason}</li>)}</ul>}</dd>
        <dt>Arguments</dt><dd><pre class="args">{JSON.stringify(a.arguments ?? {}, null, 2)}</pre></dd>
        {a.findings.length > 0 && <><dt>Findings</dt><dd><ul>{a.findings.map((f, i) => <li key={i}>{f.severity} {f.guardrail}/{f.rule} at {f.path} ({f.action})</li>)}</ul></dd></>}
        <dt>Needs</dt><dd>{a.requirement.required} approval(s) by {a.requirement.approverRoles.join(' or ')}{a.requirement.fourEyes ? ', not the caller' : ''}; expires {time(a.expiresAt)}</dd>
        {a.decisions.length > 0 && <><dt>Decisions</dt><dd><ul>{a.decisions.map((d, i) => <li key={i}>{d.approver.subject}: {d.decision}{d.reason ? ` (${d.reason})` : ''} at {time(d.at)}</li>)}</ul></dd></>}
      </dl>
      {a.status === 'pending' && mayDecide && (
        <div class="actions">
          <input type="text" placeholder="Reason (optional)" value={reason} maxLength={1000} onInput={(e) => setReason((e.target as HTMLInputElement).value)} />
          <button type="button" class="approve" disabled={busy} onClick={() => decide('approve')}>Approve</button>
          <button type="button" class="deny" disabled={busy} onClick={() => decide('deny')}>Deny</button>
        </div>
      )}
      {error && <p class="error">{error}</p>}
    </article>
  );
}
