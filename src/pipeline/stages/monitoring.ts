/**
 * The outermost stage when metrics or anomaly detection are on (src/monitoring): it sees every request end, with
 * what the stages below decided (principal, target, decision, guardrail findings), and hands it to monitoring.
 * It never changes a result or an error: a failure of monitoring itself is logged, not answered.
 */
import type { JsonObject } from '../../core/jsonrpc.js';
import type { NamedStage } from '../pipeline.js';
import type { RequestContext } from '../context.js';

type Done = (ctx: RequestContext, result: JsonObject | undefined, failure: unknown) => void;

export function monitoringStage(opts: { done: Done }): NamedStage {
  const report: Done = (ctx, result, failure) => {
    try {
      opts.done(ctx, result, failure);
    } catch (e) {
      ctx.log.error({ err: (e as Error).stack }, 'monitoring failed to record a request');
    }
  };
  return {
    name: 'monitoring',
    run: (ctx, next) => next().then(
      (result) => {
        report(ctx, result, undefined);
        return result;
      },
      (failure: unknown) => {
        report(ctx, undefined, failure);
        throw failure;
      },
    ),
  };
}
