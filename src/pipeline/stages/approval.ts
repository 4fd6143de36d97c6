/**
 * The approval stage. The policy may answer "allowed, with a human approval"; until the approval flow exists, such
 * a use is refused with PC_APPROVAL_REQUIRED, carrying the reason and the approval rules that asked for it. It is
 * never run.
 */
import { GatewayError } from '../../core/errors.js';
import type { NamedStage } from '../pipeline.js';

export const approval: NamedStage = {
  name: 'approval',
  run: (ctx, next) => {
    const d = ctx.decision;
    if (d?.outcome !== 'approval') return next();
    const rules = d.rules.filter((r) => r.effect === 'approval').map((r) => ({ id: r.id, reason: r.reason }));
    throw new GatewayError('PC_APPROVAL_REQUIRED', `${d.reason}; approvals are not available yet, so this use is refused`, { data: { reason: d.reason, rules } });
  },
};
