/**
 * Translates upstream results for the client: namespacing for virtual servers, and the era's result shape
 * (modern results carry resultType and caching hints; legacy results carry neither).
 */
import type { JsonObject } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';
import { CACHEABLE_METHODS, META, type Era } from '../core/protocol.js';
import { GATEWAY_INFO } from '../core/mcp.js';
import { qualifyName, qualifyUri } from './namespace.js';

/**
 * Gives a result the shape the client's era expects. A legacy result that carries no modern-only field is returned
 * as it is (the common case, and on the hot path); everything else is copied, never mutated in place.
 */
export function shapeForEra(result: JsonObject, method: string, era: Era, endpointName: string): JsonObject {
  if (era === 'legacy') {
    const meta = isObject(result._meta) ? result._meta : undefined;
    const dirty = 'resultType' in result || 'ttlMs' in result || 'cacheScope' in result || (meta !== undefined && META.serverInfo in meta);
    if (!dirty) return result;
    const out: JsonObject = {};
    for (const k in result) if (!MODERN_ONLY.has(k) && k !== '_meta') out[k] = result[k];
    if (meta) {
      const rest: JsonObject = {};
      for (const k in meta) if (k !== META.serverInfo) rest[k] = meta[k];
      if (Object.keys(rest).length) out._meta = rest;
    }
    return out;
  }
  const out: JsonObject = { ...result };
  out.resultType ??= 'complete';
  if (out.resultType === 'complete' && CACHEABLE_METHODS.has(method)) {
    if (typeof out.ttlMs !== 'number' || out.ttlMs < 0) out.ttlMs = 0;
    // Results pass per-principal policy, so shared caches must never reuse them.
    out.cacheScope = 'private';
  }
  out._meta = { ...(isObject(out._meta) ? out._meta : {}), [META.serverInfo]: serverInfoFor(endpointName) };
  return out;
}

const MODERN_ONLY = new Set(['resultType', 'ttlMs', 'cacheScope']);
const serverInfos = new Map<string, JsonObject>();
function serverInfoFor(endpointName: string): JsonObject {
  let info = serverInfos.get(endpointName);
  if (!info) serverInfos.set(endpointName, (info = Object.freeze({ name: `${GATEWAY_INFO.name}/${endpointName}`, version: GATEWAY_INFO.version })));
  return info;
}

/** Namespaces one list item of a virtual server. */
export function qualifyItem(method: string, server: string, item: unknown): unknown {
  if (!isObject(item)) return item;
  switch (method) {
    case 'tools/list':
    case 'prompts/list':
      return typeof item.name === 'string' ? { ...item, name: qualifyName(server, item.name) } : item;
    case 'resources/list':
      return typeof item.uri === 'string' ? { ...item, uri: qualifyUri(server, item.uri) } : item;
    case 'resources/templates/list':
      return typeof item.uriTemplate === 'string' ? { ...item, uriTemplate: qualifyUri(server, item.uriTemplate) } : item;
    default:
      return item;
  }
}

/** Rewrites resource URIs inside call results, prompt messages and read results for a virtual server. */
export function qualifyResult(method: string, server: string, result: JsonObject): JsonObject {
  switch (method) {
    case 'tools/call':
      return Array.isArray(result.content) ? { ...result, content: result.content.map((c) => qualifyContent(server, c)) } : result;
    case 'prompts/get':
      return Array.isArray(result.messages)
        ? { ...result, messages: result.messages.map((m) => (isObject(m) ? { ...m, content: qualifyContent(server, m.content) } : m)) }
        : result;
    case 'resources/read':
      return Array.isArray(result.contents)
        ? { ...result, contents: result.contents.map((c) => (isObject(c) && typeof c.uri === 'string' ? { ...c, uri: qualifyUri(server, c.uri) } : c)) }
        : result;
    default:
      return result;
  }
}

function qualifyContent(server: string, c: unknown): unknown {
  if (!isObject(c)) return c;
  if (c.type === 'resource_link' && typeof c.uri === 'string') return { ...c, uri: qualifyUri(server, c.uri) };
  if (c.type === 'resource' && isObject(c.resource) && typeof c.resource.uri === 'string') {
    return { ...c, resource: { ...c.resource, uri: qualifyUri(server, c.resource.uri) } };
  }
  return c;
}
