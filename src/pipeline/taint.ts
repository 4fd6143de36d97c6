/**
 * A request's view of taint tracking (src/guardrails/taint.ts): whose conversation it belongs to, and that
 * conversation's marks, read from storage at most once per request. The policy stage reads them when a condition
 * uses context.taint; the guardrails stage's sink check then reuses what it read.
 */
import type { ScopeOf, TaintMark, TaintTracker } from '../guardrails/taint.js';
import type { RequestContext } from './context.js';

/** The session, or without one (a stateless 2026 client) the principal together with the client's name. */
export function taintScope(ctx: RequestContext): ScopeOf {
  return { sessionId: ctx.session?.id, principalKey: ctx.principal?.key, clientName: typeof ctx.clientInfo?.name === 'string' ? ctx.clientInfo.name : undefined };
}

export function sessionMarks(ctx: RequestContext, taint: TaintTracker): Promise<readonly TaintMark[]> {
  return (ctx.taintMarks ??= taint.marks(taint.scope(taintScope(ctx))));
}
