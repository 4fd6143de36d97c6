/**
 * Translates upstream results for the client: namespacing for virtual servers, and the era's result shape
 * (modern results carry resultType and caching hints; legacy results carry neither).
 */
import type { JsonObject } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';
import { CACHEABLE_METHODS, META, type Era } from '../core/protocol.js';
import { GATEWAY_INFO } from '../core/mcp.js';
import { qualifyName, qualifyUri } from './namespace.js';

const MODERN_ONLY_RESULT_FIELDS = ['resultType', 'ttlMs', 'cacheScope'] as const;

/** Gives a result the shape the client's era expects. */
export function shapeForEra(result: JsonObject, method: string, era: Era, endpointName: string): JsonObject {
  const out: JsonObject = { ...result };
  const meta: JsonObject = isObject(out._meta) ? { ...out._meta } : {};
  if (era === 'modern') {
    out.resultType ??= 'complete';
    if (out.resultType === 'complete' && CACHEABLE_METHODS.has(method)) {
      if (typeof out.ttlMs !== 'number' || out.ttlMs < 0) out.ttlMs = 0;
      // Results pass per-principal policy, so shared caches must never reuse them.
      out.cacheScope = 'private';
    }
    meta[META.serverInfo] = { name: `${GATEWAY_INFO.name}/${endpointName}`, version: GATEWAY_INFO.version };
  } else {
    for (const f of MODERN_ONLY_RESULT_FIELDS) delete out[f];
    delete meta[META.serverInfo];
  }
  if (Object.keys(meta).length) out._meta = meta; else delete out._meta;
  return out;
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
