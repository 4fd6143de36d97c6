/**
 * The terminal stage: answers gateway-local methods, merges lists, and forwards calls to upstreams,
 * bridging the eras on the way:
 *
 *   client ↓ / upstream →   legacy upstream                         modern upstream
 *   legacy client           server-to-client requests relayed       input_required fulfilled by server-to-client
 *                           on the call's stream                    requests, then the call retried upstream
 *   modern client           upstream call held open; its requests   input_required passed through, requestState
 *                           returned as input_required (heldCalls)  sealed by the gateway around the upstream's
 *
 * Every sampling and elicitation request of an upstream passes the guardrails before the client sees it
 * (src/pipeline/serverRequests.ts).
 */
import type { JsonObject, JsonRpcNotification, JsonRpcRequest } from '../../core/jsonrpc.js';
import { isObject } from '../../core/jsonrpc.js';
import { GatewayError, UpstreamRpcError } from '../../core/errors.js';
import { ErrorCode, MRTR_METHODS, negotiateLegacy, MODERN_VERSIONS, LEGACY_VERSIONS } from '../../core/protocol.js';
import { GATEWAY_INFO } from '../../core/mcp.js';
import { endpointCapabilities, endpointInstructions } from '../../endpoint/capabilities.js';
import { LIST_ITEMS, mergedList } from '../../endpoint/lists.js';
import { qualifyResult, shapeForEra } from '../../endpoint/mapResult.js';
import { HeldCall, type HeldCallRegistry } from '../../bridge/heldCalls.js';
import type { RequestStateCodec, StateBinding } from '../../bridge/requestState.js';
import type { UpstreamConnection } from '../../upstream/connection.js';
import type { Upstream } from '../../upstream/upstream.js';
import type { NamedStage } from '../pipeline.js';
import type { NotificationHub } from '../../endpoint/notifications.js';
import type { ListMethod, RequestContext } from '../context.js';
import { connectionFor } from '../targets.js';
import { clientSupports, logAllowed } from '../clientCapabilities.js';
import { headersFor } from '../../endpoint/paramHeaders.js';
import type { CancelSignal } from '../../core/cancel.js';
import { DISCOVER_META_KEY as ATTESTATION_META_KEY } from '../../attestation/document.js';
import { screenInputRequests, screenRequest } from '../serverRequests.js';

export interface UpstreamStageDeps {
  codec: RequestStateCodec;
  hub: NotificationHub;
  held: HeldCallRegistry;
  /** Rounds of input_required a legacy client is walked through before the gateway gives up. */
  maxInputRounds?: number;
  /** What server/discover names under `_meta` besides the protocol's keys (the attestation document). */
  discoverMeta?: () => JsonObject | undefined;
}

export function upstreamStage(deps: UpstreamStageDeps): NamedStage {
  return {
    name: 'upstream',
    run: async (ctx) => {
      const r = ctx.route;
      if (!r) throw new GatewayError('PC_INTERNAL', 'no route');
      let result: JsonObject;
      switch (r.kind) {
        case 'local':
          result = await local(ctx, deps);
          break;
        case 'list':
          result = await mergedList(r.method, ctx.endpoint.members, r.cursor, async (m, cursor) => {
            const conn = await acquire(ctx, m);
            const params: JsonObject = cursor === undefined ? {} : { cursor };
            const page = await conn.request(r.method, params, callOptions(ctx));
            return filtered(ctx, m.name, r.method, r.method === 'tools/list' ? admitTools(m, conn, page, cursor) : page);
          });
          break;
        case 'broadcast':
          result = await broadcast(ctx, r.method, r.params);
          break;
        case 'subscription': {
          const l = ctx.session?.listener;
          if (!l) throw new GatewayError('PC_METHOD_NOT_FOUND', `${ctx.request.method} needs a session; use subscriptions/listen`);
          if (r.action === 'subscribe') await deps.hub.subscribe(l, r.uri);
          else await deps.hub.unsubscribe(l, r.uri);
          result = {};
          break;
        }
        case 'forward':
          result = await forward(ctx, deps, r.upstream, r.method, r.params);
          if (ctx.endpoint.kind === 'virtual' && result.resultType !== 'input_required') result = qualifyResult(r.method, r.upstream.name, result);
          break;
      }
      return shapeForEra(result, ctx.request.method, ctx.era, ctx.endpoint.name);
    },
  };
}

async function local(ctx: RequestContext, deps: UpstreamStageDeps): Promise<JsonObject> {
  switch (ctx.request.method) {
    case 'ping':
      return {};
    case 'initialize': {
      await warmMembers(ctx);
      const result: JsonObject = {
        protocolVersion: negotiateLegacy(ctx.request.params?.protocolVersion),
        capabilities: endpointCapabilities(ctx.endpoint),
        serverInfo: { name: `${GATEWAY_INFO.name}/${ctx.endpoint.name}`, version: GATEWAY_INFO.version },
      };
      const instructions = endpointInstructions(ctx.endpoint);
      if (instructions) result.instructions = instructions;
      return result;
    }
    case 'server/discover': {
      await warmMembers(ctx);
      const result: JsonObject = {
        supportedVersions: [...MODERN_VERSIONS, ...LEGACY_VERSIONS],
        capabilities: endpointCapabilities(ctx.endpoint),
      };
      const instructions = endpointInstructions(ctx.endpoint);
      if (instructions) result.instructions = instructions;
      const attestation = deps.discoverMeta?.();
      if (attestation) result._meta = { [ATTESTATION_META_KEY]: attestation };
      return result;
    }
    default:
      throw new GatewayError('PC_METHOD_NOT_FOUND', ctx.request.method);
  }
}

/**
 * Capabilities come from the members' handshakes; give each unknown member one bounded chance to answer before
 * replying, so a slow or dead upstream delays an initialize by at most WARM_MS and never fails it.
 */
async function warmMembers(ctx: RequestContext): Promise<void> {
  const unknown = ctx.endpoint.members.filter((m) => !m.info);
  if (unknown.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled(unknown.map((m) => m.acquire())),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, WARM_MS); }),
  ]);
  clearTimeout(timer);
}

const WARM_MS = 5000;

const acquire = connectionFor;

function callOptions(ctx: RequestContext, onServerRequest?: (req: JsonRpcRequest, signal: CancelSignal) => Promise<JsonObject>) {
  return {
    signal: ctx.signal,
    clientCapabilities: ctx.clientCapabilities,
    logLevel: ctx.logLevel,
    onNotification: (n: JsonRpcNotification) => relay(ctx, n),
    onServerRequest,
    headers: traceHeaders(ctx),
  };
}

/** A traced request's trace continues at HTTP upstreams (src/monitoring/tracing.ts sets ctx.traceparent). */
function traceHeaders(ctx: RequestContext): Record<string, string> | undefined {
  return ctx.traceparent === undefined ? undefined : { traceparent: ctx.traceparent };
}

/** Call-scoped notifications go back on the request's stream; log lines only as verbose as the client asked. */
function relay(ctx: RequestContext, n: JsonRpcNotification): void {
  if (n.method === 'notifications/message' && !logAllowed(ctx, n.params?.level)) return;
  ctx.channel.notify(n);
}

async function broadcast(ctx: RequestContext, method: string, params: JsonObject): Promise<JsonObject> {
  if (method === 'logging/setLevel' && ctx.session) ctx.session.logLevel = typeof params.level === 'string' ? params.level : undefined;
  await Promise.allSettled(ctx.endpoint.members
    .filter((m) => isObject(m.capabilities.logging))
    .map(async (m) => {
      const conn = await acquire(ctx, m);
      if (conn.info?.era === 'legacy') await conn.request(method, params, { signal: ctx.signal });
    }));
  return {};
}

async function forward(ctx: RequestContext, deps: UpstreamStageDeps, up: Upstream, method: string, params: JsonObject): Promise<JsonObject> {
  const conn = up.connected(ctx.session?.id, ctx.clientCapabilities, ctx.principal?.key) ?? await acquire(ctx, up);
  const upstreamEra = conn.info?.era ?? 'legacy';
  const mrtr = MRTR_METHODS.has(method);
  const binding: StateBinding = { principal: ctx.principal?.key ?? 'local', method, params: ctx.request.params ?? {} };

  if (ctx.era === 'modern' && mrtr && 'inputResponses' in params && !isObject(params.inputResponses)) {
    throw new GatewayError('PC_INVALID_PARAMS', 'inputResponses must be an object keyed by input request');
  }
  if (ctx.era === 'modern' && mrtr && typeof params.requestState === 'string') {
    const state = deps.codec.open(params.requestState, binding);
    if (state.upstream !== up.name) throw new GatewayError('PC_REQUEST_STATE', 'requestState belongs to another server');
    if (state.kind === 'bridge' && state.bridgeId) {
      const held = await deps.held.resume(state.bridgeId, binding.principal);
      held.notify = (n) => relay(ctx, n);
      held.screen = (req, signal) => screenRequest(ctx, up.name, req.method, req.params, signal);
      held.answer(isObject(params.inputResponses) ? params.inputResponses : undefined);
      return heldStep(ctx, deps, held, up, binding);
    }
    params = { ...params };
    if (typeof state.upstreamState === 'string') params.requestState = state.upstreamState;
    else delete params.requestState;
  }

  if (ctx.era === 'modern' && upstreamEra === 'legacy' && mrtr) {
    const { inputResponses: _r, requestState: _s, ...clean } = params;
    const held = new HeldCall(up.name, binding.principal, (m) => clientSupports(ctx.clientCapabilities, m));
    held.notify = (n) => relay(ctx, n);
    held.screen = (req, signal) => screenRequest(ctx, up.name, req.method, req.params, signal);
    held.attach(conn.request(method, clean, {
      ...callOptions(ctx, held.onServerRequest),
      isParked: held.isParked,
      signal: held.abort.signal, // the held call outlives this HTTP request
      onNotification: (n) => held.notify(n),
    }));
    return heldStep(ctx, deps, held, up, binding);
  }

  if (ctx.listFilter && LIST_METHODS.has(method)) return listPages(ctx, up, conn, method as ListMethod, params);

  const ask = ctx.channel.request;
  const relayRequests = upstreamEra === 'legacy' && ask
    ? async (req: JsonRpcRequest, signal: CancelSignal) => ask(req.method, await screenRequest(ctx, up.name, req.method, req.params, signal), signal)
    : undefined;
  const options = { ...callOptions(ctx, relayRequests), headers: { ...traceHeaders(ctx), ...await mirroredHeaders(up, conn, method, params) } };
  let result = await conn.request(method, params, options);
  if (method === 'tools/list') result = admitTools(up, conn, result, typeof params.cursor === 'string' ? params.cursor : undefined);
  if (result.resultType !== 'input_required') return result;
  if (!mrtr) throw new GatewayError('PC_INTERNAL', `${up.name} answered ${method} with input_required`);

  result = await screenInputRequests(ctx, up.name, result);
  if (ctx.era === 'modern') {
    const sealed = deps.codec.seal({ kind: 'pass', upstream: up.name, ...(typeof result.requestState === 'string' ? { upstreamState: result.requestState } : {}) }, binding);
    return { ...result, requestState: sealed };
  }
  return fulfilForLegacyClient(ctx, deps, up, conn, method, params, result);
}

const LIST_METHODS = new Set(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list']);
/** Pages a list may skip because the principal sees nothing on them, before it answers with an empty page. */
const MAX_EMPTY_PAGES = 50;

/** Only what the principal may see (the policy stage's filter), in the upstream's own names. */
function filtered(ctx: RequestContext, server: string, method: ListMethod, page: JsonObject): JsonObject {
  const f = ctx.listFilter;
  if (!f) return page;
  const key = LIST_ITEMS[method];
  return { ...page, [key]: f(server, method, Array.isArray(page[key]) ? page[key] : []) };
}

/**
 * A single server's list, filtered. The upstream's cursors pass through unchanged (so they stay valid); a page the
 * principal sees nothing of is skipped rather than returned empty, so clients that stop at an empty page still
 * see everything they may.
 */
async function listPages(ctx: RequestContext, up: Upstream, conn: UpstreamConnection, method: ListMethod, params: JsonObject): Promise<JsonObject> {
  let cursor = typeof params.cursor === 'string' ? params.cursor : undefined;
  for (let pages = 0; ; pages++) {
    let page = await conn.request(method, cursor === undefined ? { ...params } : { ...params, cursor }, callOptions(ctx));
    if (method === 'tools/list') page = admitTools(up, conn, page, cursor);
    page = filtered(ctx, up.name, method, page);
    const items = page[LIST_ITEMS[method]] as unknown[];
    if (items.length > 0 || typeof page.nextCursor !== 'string' || pages >= MAX_EMPTY_PAGES) return page;
    cursor = page.nextCursor;
  }
}

/** Drops tool definitions with invalid x-mcp-header annotations and remembers the valid ones' mirrors. */
function admitTools(up: Upstream, conn: UpstreamConnection, page: JsonObject, cursor: string | undefined): JsonObject {
  const catalog = up.catalog(conn).tools;
  const tools = catalog.admit(Array.isArray(page.tools) ? page.tools : []);
  if (cursor === undefined && typeof page.nextCursor !== 'string') catalog.markComplete();
  return { ...page, tools };
}

/** Modern HTTP upstreams get the Mcp-Param-* headers their tool declares. */
async function mirroredHeaders(up: Upstream, conn: UpstreamConnection, method: string, params: JsonObject): Promise<Record<string, string> | undefined> {
  if (method !== 'tools/call' || conn.info?.era !== 'modern' || up.config.transport !== 'http' || typeof params.name !== 'string') return undefined;
  const cat = up.catalog(conn);
  const specs = await cat.tools.specsFor(params.name, () => cat.loadTools());
  return specs.length ? headersFor(specs, isObject(params.arguments) ? params.arguments : undefined) : undefined;
}

/** A modern upstream asked for input; a legacy client gets real server-to-client requests, then the call is retried. */
async function fulfilForLegacyClient(ctx: RequestContext, deps: UpstreamStageDeps, up: Upstream, conn: UpstreamConnection, method: string, params: JsonObject, first: JsonObject): Promise<JsonObject> {
  const ask = ctx.channel.request;
  if (!ask) throw new GatewayError('PC_INTERNAL', 'no way to ask the client for input');
  let result = first; // screened by the caller; every later round here, whole, before the client is asked anything
  for (let round = 0; round < (deps.maxInputRounds ?? 16); round++) {
    const inputResponses: JsonObject = {};
    const requests = isObject(result.inputRequests) ? result.inputRequests : {};
    for (const [key, r] of Object.entries(requests)) {
      if (!isObject(r) || typeof r.method !== 'string') continue;
      try {
        inputResponses[key] = await ask(r.method, isObject(r.params) ? r.params : undefined, ctx.signal);
      } catch (e) {
        if (e instanceof UpstreamRpcError) continue; // the client refused; MRTR says the server asks again or fails
        throw e;
      }
    }
    const retry: JsonObject = { ...params, inputResponses };
    if (typeof result.requestState === 'string') retry.requestState = result.requestState;
    result = await conn.request(method, retry, callOptions(ctx));
    if (result.resultType !== 'input_required') return result;
    result = await screenInputRequests(ctx, up.name, result);
  }
  throw new UpstreamRpcError({ code: ErrorCode.InternalError, message: 'upstream kept asking for input' });
}

/** Runs a held call until it completes or needs input; input becomes an input_required result. */
async function heldStep(ctx: RequestContext, deps: UpstreamStageDeps, held: HeldCall, up: Upstream, binding: StateBinding): Promise<JsonObject> {
  let step;
  try {
    step = await held.next(ctx.signal);
  } catch (e) {
    // Failed or the client went away mid-wait: nobody can resume it, so stop the upstream call too.
    await deps.held.drop(held.id, !held.finished);
    throw e;
  }
  if (step.kind === 'complete') {
    await deps.held.drop(held.id);
    return step.result;
  }
  await deps.held.hold(held);
  return {
    resultType: 'input_required',
    inputRequests: step.inputRequests,
    requestState: deps.codec.seal({ kind: 'bridge', upstream: up.name, bridgeId: step.bridgeId }, binding),
  };
}
