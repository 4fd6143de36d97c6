/**
 * How an approval reads to a person (CLI, webhook-free chat, the console): who asked, from which client, for which
 * tool on which server, with which arguments, why it needs approval and what the guardrails found. Arguments are
 * shown as JSON with hidden characters escaped, so what the approver reads is what will run.
 */
import { escapeForReview } from '../integrity/text.js';
import type { ApprovalView } from './store.js';

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function formatApprovalLine(v: ApprovalView): string {
  return `${v.id}  ${v.status.padEnd(8)}  ${iso(v.createdAt)}  ${v.principal.subject} → ${v.server}/${v.item}  ${escapeForReview(v.reason, { singleLine: true }).slice(0, 120)}`;
}

export function formatApproval(v: ApprovalView): string {
  const lines = [
    `approval ${v.id}: ${v.status}`,
    `  caller     ${v.principal.subject} (issuer ${v.principal.issuer}${v.principal.clientId ? `, OAuth client ${v.principal.clientId}` : ''})`,
    `  client     ${v.client?.name ?? 'unknown'}${v.client?.version ? ` ${v.client.version}` : ''}${v.session ? `, session ${v.session}` : ''}`,
    `  call       ${v.method} ${v.server}/${v.item}${v.shownItem !== v.item ? ` (shown as ${v.shownItem})` : ''} via ${v.endpoint}`,
    `  reason     ${escapeForReview(v.reason, { singleLine: true })}`,
    ...v.rules.map((r) => `  rule       ${r.id}: ${escapeForReview(r.reason, { singleLine: true })}`),
    ...v.findings.map((f) => `  finding    ${f.severity} ${f.guardrail}/${f.rule} at ${f.path || '(whole)'} → ${f.action}`),
    `  needs      ${v.requirement.required} approval(s) by ${v.requirement.approverRoles.join(' or ')}${v.requirement.fourEyes ? ', not the caller' : ''}`,
    `  created    ${iso(v.createdAt)}, expires ${iso(v.expiresAt)}`,
    ...v.decisions.map((d) => `  decision   ${d.decision} by ${d.approver.subject} at ${iso(d.at)}${d.reason ? `: ${escapeForReview(d.reason, { singleLine: true })}` : ''}`),
    ...(v.executedAt !== undefined ? [`  executed   ${iso(v.executedAt)}`] : []),
    '  arguments',
    ...escapeForReview(JSON.stringify(v.arguments ?? {}, null, 2)).split('\n').map((l) => `    ${l}`),
  ];
  return lines.join('\n') + '\n';
}
