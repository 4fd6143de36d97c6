/**
 * The limits stage: rate limits, concurrency limits and quotas (counted in storage), then the upstream's
 * concurrency cap with its priority queue. It runs after the policy, validation and approval stages, so only uses
 * that would go ahead are counted, and a refused one never reaches the upstream. Slots are held until the request
 * ends, whatever the outcome.
 */
import { metaOf } from '../../core/mcp.js';
import type { Limiter } from '../../limits/limiter.js';
import { priorityOf } from '../../limits/limiter.js';
import type { LimitSubject } from '../../limits/selector.js';
import type { UpstreamGate } from '../../limits/upstreamGate.js';
import type { NamedStage } from '../pipeline.js';
import type { RequestContext } from '../context.js';
import type { JsonObject } from '../../core/jsonrpc.js';

/** `_meta` key with which a client may lower its own request to the bulk class. */
export const PRIORITY_META = 'dev.portcullis/priority';

export interface LimitsStageDeps {
  limiter: Limiter;
  /** Upstreams with a concurrency cap. */
  gates: ReadonlyMap<string, UpstreamGate>;
}

export function limitsStage(deps: LimitsStageDeps): NamedStage {
  return {
    name: 'limits',
    run: (ctx, next) => {
      const limits = ctx.rules?.limits;
      const gate = ctx.route?.kind === 'forward' ? deps.gates.get(ctx.route.upstream.name) : undefined;
      // Nothing to count and no cap: no promise of its own on the hot path.
      if (!limits || (limits.empty && !gate)) return next();
      const subject = subjectOf(ctx);
      if (!subject) return next();
      return admitted(ctx, next, deps, subject, gate);
    },
  };
}

async function admitted(ctx: RequestContext, next: () => Promise<JsonObject>, deps: LimitsStageDeps, subject: LimitSubject, gate: UpstreamGate | undefined): Promise<JsonObject> {
  const limits = ctx.rules!.limits;
  // A 2026-era retry that carries requestState continues a use already counted (the upstream stage refuses a state
  // that does not verify before anything reaches an upstream): it is not counted again.
  const continuation = ctx.era === 'modern' && typeof ctx.request.params?.requestState === 'string';
  const release = limits.empty || continuation ? undefined : await deps.limiter.admit(limits, subject);
  let leave: (() => void) | undefined;
  try {
    if (gate) {
      const asked = metaOf(ctx.request.params)?.[PRIORITY_META];
      leave = await gate.enter(priorityOf(limits, subject, asked), ctx.signal);
    }
    return await next();
  } finally {
    leave?.();
    release?.();
  }
}

/** The request as limits see it; undefined for requests that use nothing (initialize, ping, unsubscribe, …). */
function subjectOf(ctx: RequestContext): LimitSubject | undefined {
  const principal = ctx.principal;
  const r = ctx.route;
  if (!principal || !r || !ctx.rules) return undefined;
  const t = ctx.target;
  if (t) {
    const item = t.item;
    return { principal, action: t.action, server: t.upstream.name, kind: item.kind === 'server' ? undefined : item.kind, name: item.name ?? item.uri };
  }
  if (r.kind === 'list') return { principal, action: 'list', server: undefined, kind: undefined, name: undefined };
  if (r.kind === 'forward' && ctx.listFilter) return { principal, action: 'list', server: r.upstream.name, kind: undefined, name: undefined };
  return undefined;
}
