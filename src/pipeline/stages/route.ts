/**
 * Resolves which upstream serves a request and translates a virtual server's namespaced names back to the
 * upstream's own (see endpoint/namespace.ts). Single-server endpoints forward names unchanged.
 */
import type { JsonObject } from '../../core/jsonrpc.js';
import { isObject } from '../../core/jsonrpc.js';
import { GatewayError } from '../../core/errors.js';
import { memberByName, type Endpoint } from '../../endpoint/endpoint.js';
import { splitName, splitUri } from '../../endpoint/namespace.js';
import type { Upstream } from '../../upstream/upstream.js';
import type { NamedStage } from '../pipeline.js';
import type { ListMethod, Route } from '../context.js';

/** Methods the gateway answers itself, in any era. */
const LOCAL = new Set(['initialize', 'ping', 'server/discover', 'subscriptions/listen']);
const LISTS = new Set<string>(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list']);

export const route: NamedStage = {
  name: 'route',
  run: (ctx, next) => {
    ctx.route = resolve(ctx.endpoint, ctx.request.method, ctx.request.params ?? {});
    return next();
  },
};

export function resolve(ep: Endpoint, method: string, params: JsonObject): Route {
  if (LOCAL.has(method)) return { kind: 'local' };
  if (method === 'logging/setLevel') return { kind: 'broadcast', method, params };
  if (method === 'resources/subscribe' || method === 'resources/unsubscribe') {
    if (typeof params.uri !== 'string') throw new GatewayError('PC_INVALID_PARAMS', 'uri is required');
    if (ep.kind === 'virtual') locateUri(ep, params.uri); // unknown server → resource not found, before any state changes
    return { kind: 'subscription', action: method === 'resources/subscribe' ? 'subscribe' : 'unsubscribe', uri: params.uri };
  }
  if (LISTS.has(method) && ep.kind === 'virtual') {
    return { kind: 'list', method: method as ListMethod, cursor: typeof params.cursor === 'string' ? params.cursor : undefined };
  }

  if (ep.kind === 'server') {
    const only = ep.members[0];
    if (!only) throw new GatewayError('PC_UPSTREAM_UNAVAILABLE', `endpoint ${ep.name} has no upstream`);
    return { kind: 'forward', upstream: only, method, params };
  }

  switch (method) {
    case 'tools/call':
      return byName(ep, method, params, 'name', 'PC_UNKNOWN_TOOL');
    case 'prompts/get':
      return byName(ep, method, params, 'name', 'PC_UNKNOWN_PROMPT');
    case 'resources/read':
      return byUri(ep, method, params);
    case 'completion/complete':
      return completion(ep, params);
    default:
      throw new GatewayError('PC_METHOD_NOT_FOUND', `${method} is not available on a virtual server`);
  }
}

function byName(ep: Endpoint, method: string, params: JsonObject, field: 'name', code: 'PC_UNKNOWN_TOOL' | 'PC_UNKNOWN_PROMPT'): Route {
  const raw = params[field];
  const parts = typeof raw === 'string' ? splitName(raw) : undefined;
  const upstream = parts && memberByName(ep, parts.server);
  if (!parts || !upstream) throw new GatewayError(code, typeof raw === 'string' ? raw : 'missing name');
  return { kind: 'forward', upstream, method, params: { ...params, [field]: parts.name } };
}

function byUri(ep: Endpoint, method: string, params: JsonObject): Route {
  const { upstream, uri } = locateUri(ep, params.uri);
  return { kind: 'forward', upstream, method, params: { ...params, uri } };
}

function locateUri(ep: Endpoint, raw: unknown): { upstream: Upstream; uri: string } {
  const parts = typeof raw === 'string' ? splitUri(raw) : undefined;
  const upstream = parts && memberByName(ep, parts.server);
  if (!parts || !upstream) {
    throw new GatewayError('PC_UNKNOWN_RESOURCE', typeof raw === 'string' ? raw : 'missing uri', { data: typeof raw === 'string' ? { uri: raw } : undefined });
  }
  return { upstream, uri: parts.uri };
}

function completion(ep: Endpoint, params: JsonObject): Route {
  const ref = params.ref;
  if (!isObject(ref)) throw new GatewayError('PC_INVALID_PARAMS', 'completion/complete needs a ref');
  if (ref.type === 'ref/prompt') {
    const parts = typeof ref.name === 'string' ? splitName(ref.name) : undefined;
    const upstream = parts && memberByName(ep, parts.server);
    if (!parts || !upstream) throw new GatewayError('PC_UNKNOWN_PROMPT', String(ref.name));
    return { kind: 'forward', upstream, method: 'completion/complete', params: { ...params, ref: { ...ref, name: parts.name } } };
  }
  if (ref.type === 'ref/resource') {
    const { upstream, uri } = locateUri(ep, ref.uri);
    return { kind: 'forward', upstream, method: 'completion/complete', params: { ...params, ref: { ...ref, uri } } };
  }
  throw new GatewayError('PC_INVALID_PARAMS', 'unknown completion ref type');
}
