/**
 * Approvals in the audit log: a call parked for approval, and every decision with the approver's identity and
 * reason. (The request record of the released call names the approval too: src/pipeline/stages/audit.ts.)
 */
import type { Logger } from '../core/log.js';
import type { AuditLog } from '../audit/log.js';
import type { Approvals } from './approvals.js';

export function auditApprovals(approvals: Approvals, audit: () => AuditLog | undefined, log: Logger): void {
  const append = (event: Parameters<AuditLog['append']>[0]) => {
    const a = audit();
    if (!a) return;
    a.append(event).catch((e: unknown) => log.error({ err: (e as Error).message, type: event.type }, 'approval event not recorded in the audit log'));
  };
  approvals.on({
    requested: (r) => append({
      type: 'approval.requested', principal: r.principal.subject, issuer: r.principal.issuer, client: r.principal.clientId, session: r.session,
      upstream: r.server, method: r.method, item: { kind: r.method === 'tools/call' ? 'tool' : r.method === 'prompts/get' ? 'prompt' : 'resource', name: r.item },
      outcome: 'pending',
      detail: { approval: r.id, reason: r.reason, rules: r.rules.map((x) => x.id), required: r.requirement.required, approverRoles: r.requirement.approverRoles, expiresAt: r.expiresAt },
    }),
    decided: (v, d) => append({
      type: 'approval.decided', principal: d.approver.subject, upstream: v.server, method: v.method,
      item: { kind: v.method === 'tools/call' ? 'tool' : v.method === 'prompts/get' ? 'prompt' : 'resource', name: v.item },
      outcome: d.decision,
      detail: { approval: v.id, approver: d.approver.key, caller: v.principal.key, status: v.status, ...(d.reason !== undefined && { reason: d.reason }) },
    }),
  });
}
