/**
 * Every way an upstream's server-to-client request (sampling, elicitation) reaches a client, and the one guard each
 * passes first (src/guardrails/serverRequests.ts):
 *
 *   upstream ↓ / client →   2025-11-25 client                          2026-07-28 client
 *   legacy upstream         relayed on the call's stream (upstream     held call: an inputRequests entry of an
 *                           stage); outside a call, on the session's   input_required result
 *                           stream (targets.ts connectionFor)          (bridge/heldCalls.ts, screened as it arrives)
 *   modern upstream         its inputRequests asked as real requests   its input_required result passed through
 *                           (upstream stage, fulfilForLegacyClient)    (upstream stage)
 *
 * The gateway's own requests (the credentials stage's connect link) are not an upstream's and are not screened.
 */
import type { CancelSignal } from '../core/cancel.js';
import { isObject, type JsonObject } from '../core/jsonrpc.js';
import type { ServerRequestOrigin } from '../guardrails/serverRequests.js';
import type { RequestContext } from './context.js';
import { taintScope } from './taint.js';

/** A request the upstream sent during this call: the params to relay, or PC_GUARDRAIL_BLOCKED thrown. */
export function screenRequest(ctx: RequestContext, server: string, method: string, params: JsonObject | undefined, signal?: CancelSignal): Promise<JsonObject | undefined> {
  const guard = ctx.serverRequests;
  return guard ? guard.screen(originOf(ctx, server, true), method, params, signal ?? ctx.signal) : Promise.resolve(params);
}

/**
 * A request not tied to a call, on the session's stream. `ctx` is the request that opened the connection, long
 * over: only its session and principal are used (findings are logged, not added to that request's audit record).
 */
export function screenUnclaimed(ctx: RequestContext, server: string, method: string, params: JsonObject | undefined, signal: CancelSignal): Promise<JsonObject | undefined> {
  const guard = ctx.serverRequests;
  return guard ? guard.screen(originOf(ctx, server, false), method, params, signal) : Promise.resolve(params);
}

/** A modern upstream's input_required result with each of its inputRequests screened; throws if one is refused. */
export async function screenInputRequests(ctx: RequestContext, server: string, result: JsonObject): Promise<JsonObject> {
  if (!ctx.serverRequests || !isObject(result.inputRequests)) return result;
  const requests: JsonObject = {};
  let changed = false;
  for (const [key, r] of Object.entries(result.inputRequests)) {
    requests[key] = r;
    if (!isObject(r) || typeof r.method !== 'string' || !isObject(r.params)) continue;
    const params = await screenRequest(ctx, server, r.method, r.params);
    if (params !== r.params) {
      requests[key] = { ...r, params: params ?? {} };
      changed = true;
    }
  }
  return changed ? { ...result, inputRequests: requests } : result;
}

function originOf(ctx: RequestContext, server: string, onCall: boolean): ServerRequestOrigin {
  const p = ctx.principal;
  const origin: ServerRequestOrigin = {
    server,
    principal: p && { subject: p.subject, issuer: p.issuer, clientId: p.clientId },
    scope: taintScope(ctx),
  };
  const r = ctx.route;
  if (!onCall || r?.kind !== 'forward') return origin;
  const item = typeof r.params.name === 'string' ? r.params.name : typeof r.params.uri === 'string' ? r.params.uri : '';
  origin.call = { method: r.method, item };
  // Asked during a call: the call's own rule set (a request outside any call gets the one in force then).
  origin.guards = ctx.rules;
  origin.log = ctx.log;
  origin.report = (findings) => { (ctx.findings ??= []).push(...findings.map((f) => ({ ...f, direction: 'server-request' as const }))); };
  return origin;
}
