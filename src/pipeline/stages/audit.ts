/**
 * Records every request's outcome and latency. Today this is a structured log line; the tamper-evident
 * audit log replaces the sink, not the stage.
 */
import { isGatewayError, UpstreamRpcError } from '../../core/errors.js';
import type { NamedStage } from '../pipeline.js';

export const audit: NamedStage = {
  name: 'audit',
  run: async (ctx, next) => {
    const fields = () => ({
      method: ctx.request.method,
      endpoint: ctx.endpoint.key,
      era: ctx.era,
      session: ctx.session?.id,
      principal: ctx.principal?.subject,
      upstream: ctx.route?.kind === 'forward' ? ctx.route.upstream.name : undefined,
      decision: ctx.decision?.outcome,
      rules: ctx.decision?.rules.map((r) => r.id),
      ms: Math.round((performance.now() - ctx.startedAt) * 100) / 100,
    });
    try {
      const result = await next();
      if (ctx.log.isLevelEnabled('debug')) ctx.log.debug({ ...fields(), outcome: 'ok' }, 'request');
      return result;
    } catch (e) {
      const outcome = isGatewayError(e) ? e.code : e instanceof UpstreamRpcError ? 'upstream_error' : 'internal_error';
      const level = outcome === 'internal_error' ? 'error' : 'info';
      ctx.log[level]({ ...fields(), outcome, stage: isGatewayError(e) ? e.stage : undefined, err: (e as Error).message }, 'request failed');
      throw e;
    }
  },
};
