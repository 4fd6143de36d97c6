/** The human-readable trace of a decision (what `portcullis policy explain` prints). */
import type { Action, Decision, PolicyContext, PolicyPrincipal, PolicyResource, RuleTrace } from './types.js';

const MARK: Record<RuleTrace['result'], string> = { match: 'match', 'no match': 'no match', possible: 'possible', error: 'error' };

export function formatExplanation(
  e: { decision: Decision; considered: readonly RuleTrace[]; skipped: number },
  principal: PolicyPrincipal,
  action: Action,
  resource: PolicyResource,
  context: PolicyContext,
): string {
  const lines: string[] = [];
  lines.push(`decision: ${e.decision.outcome.toUpperCase()} (${e.decision.reason})`);
  lines.push(`principal: ${describePrincipal(principal)}`);
  const taint = context.taint?.length && action !== 'list' ? ` taint ${context.taint.join(',')}` : '';
  lines.push(`request: ${action} ${describeResource(resource)}${context.args && action !== 'list' ? ` args ${JSON.stringify(context.args)}` : ''}${taint} at ${context.time.toISOString()}`);
  if (action === 'list') lines.push('(a list decision: conditions on the arguments or the session\'s taint count as possible; the item is shown unless denied outright)');
  const others = `${e.skipped} ${e.skipped === 1 ? 'rule targets' : 'rules target'} other servers or kinds`;
  if (e.considered.length === 0) lines.push(`no rule targets this item (${others})`);
  else lines.push(`rules considered: ${e.considered.length} (${others})`);
  const width = Math.max(0, ...e.considered.map((t) => t.id.length));
  for (const t of e.considered) {
    lines.push(`  ${t.effect.padEnd(8)} ${t.id.padEnd(width)}  ${MARK[t.result].padEnd(8)}  ${t.detail}`);
    if (t.path !== t.id && !t.path.endsWith(t.id)) lines.push(`  ${''.padEnd(8)} ${''.padEnd(width)}  at ${t.path}`);
  }
  return lines.join('\n');
}

function describePrincipal(p: PolicyPrincipal): string {
  const parts = [`subject ${p.subject}`, `method ${p.method}`];
  if (p.issuer) parts.push(`issuer ${p.issuer}`);
  if (p.clientId) parts.push(`client ${p.clientId}`);
  if (p.tenant) parts.push(`tenant ${p.tenant}`);
  if (p.roles.length) parts.push(`roles ${p.roles.join(',')}`);
  if (p.groups.length) parts.push(`groups ${p.groups.join(',')}`);
  if (p.scopes.length) parts.push(`scopes ${p.scopes.join(',')}`);
  const attrs = Object.keys(p.attributes);
  if (attrs.length) parts.push(`attributes ${JSON.stringify(p.attributes)}`);
  return parts.join('; ');
}

export function describeResource(r: PolicyResource): string {
  const what = r.kind === 'server' ? r.server : `${r.server}/${r.kind === 'resource' || r.kind === 'template' ? (r.uri ?? '?') : (r.name ?? '?')}`;
  const notes: string[] = [];
  const a = r.annotations;
  if (a) for (const [k, v] of Object.entries(a)) if (v !== undefined) notes.push(`${k}=${String(v)}`);
  if (r.tags?.length) notes.push(`tags=${r.tags.join(',')}`);
  return `${r.kind} ${what}${notes.length ? ` [${notes.join(' ')}]` : ''}`;
}
