/**
 * The request pipeline: an ordered list of named stages, so the whole path of a request reads in one place.
 *
 *   transport        (src/transport/*: Host/Origin, body cap, JSON-RPC shape and size limits, era selection)
 *   → audit          wraps everything below: records outcome and latency of every request
 *   → authenticate   attaches the principal (the local principal on loopback without auth; OAuth comes later)
 *   → route          resolves which upstream(s) serve the request and translates namespaced names
 *   → validate       checks what body and transport claim together (Mcp-Param-* mirrors)
 *   → upstream       calls the upstream(s), bridges eras (MRTR ⇄ server-to-client requests), maps results
 *
 * Later stages slot in around validate in this order: policy → validate → approval → credentials,
 * and guardrails between upstream and audit. Every rejection names the stage that made it (GatewayError.stage).
 */
import type { JsonObject } from '../core/jsonrpc.js';
import { isGatewayError } from '../core/errors.js';
import type { RequestContext, Stage } from './context.js';

export interface NamedStage {
  name: string;
  run: Stage;
}

export function compose(stages: readonly NamedStage[]): (ctx: RequestContext) => Promise<JsonObject> {
  return (ctx) => {
    const dispatch = (i: number): Promise<JsonObject> => {
      const stage = stages[i];
      if (!stage) return Promise.reject(new Error('pipeline ended without a result'));
      let called = false;
      return stage.run(ctx, () => {
        if (called) return Promise.reject(new Error(`stage ${stage.name} called next() twice`));
        called = true;
        return dispatch(i + 1);
      }).catch((e: unknown) => {
        if (isGatewayError(e) && e.stage === undefined) e.stage = stage.name;
        throw e;
      });
    };
    return dispatch(0);
  };
}
