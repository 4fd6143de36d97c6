/**
 * The request pipeline: an ordered list of named stages, so the whole path of a request reads in one place.
 *
 *   transport        (src/transport/*: Host/Origin, body cap, JSON-RPC shape and size limits, era selection)
 *   → monitoring     when enabled (src/monitoring): metrics and anomaly detection see every request end; with tracing,
 *                    a span per request and per stage
 *   → audit          wraps everything below: records outcome and latency of every request
 *   → authenticate   attaches the principal (set by the HTTP edge's OAuth/mTLS, or the local principal)
 *   → route          resolves which upstream(s) serve the request and translates namespaced names
 *   → policy         decides the use with the rule set in force (allow, deny, approval), with the session's taint
 *                    when a condition reads it; filters lists
 *   → validate       arguments against the tool's schemas and size limits; Mcp-Param-* mirrors
 *   → guardrails     outbound arguments scanned (secrets, personal data; refuse or redact); a tainted session calling
 *                    a sink needs approval; on the way back the result is scanned (redact, flag, wrap, withhold) and
 *                    what reached the client taints the session
 *   → approval       a use the policy or the taint tracker allows only with approval waits for human approvers
 *   → limits         rate limits, concurrency limits, quotas; the upstream's concurrency cap and priority queue
 *   → results        results against limits.maxResultBytes and the tool's outputSchema, before the guardrails see them
 *   → upstream       calls the upstream(s), bridges eras (MRTR ⇄ server-to-client requests), maps results
 *
 * Credentials will slot in between limits and upstream. Every rejection names the stage that made it
 * (GatewayError.stage).
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
      const name = (e: unknown): never => {
        if (isGatewayError(e) && e.stage === undefined) e.stage = stage.name;
        throw e;
      };
      let out: Promise<JsonObject>;
      try {
        out = stage.run(ctx, () => {
          if (called) return Promise.reject(new Error(`stage ${stage.name} called next() twice`));
          called = true;
          return dispatch(i + 1);
        });
      } catch (e) {
        // A stage that is not async may throw before it returns a promise: it still names itself.
        return Promise.reject(e).catch(name);
      }
      return out.catch(name);
    };
    return dispatch(0);
  };
}
