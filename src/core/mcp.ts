/** Small helpers for reading MCP shapes out of open JSON records. */
import type { JsonObject } from './jsonrpc.js';
import { isObject } from './jsonrpc.js';

export function metaOf(params: JsonObject | undefined): JsonObject | undefined {
  const m = params?._meta;
  return isObject(m) ? m : undefined;
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function obj(v: unknown): JsonObject | undefined {
  return isObject(v) ? v : undefined;
}

/** Returns a shallow copy of params with _meta replaced (or removed when empty). */
export function withMeta(params: JsonObject | undefined, meta: JsonObject | undefined): JsonObject {
  const out: JsonObject = { ...(params ?? {}) };
  if (meta && Object.keys(meta).length > 0) out._meta = meta;
  else delete out._meta;
  return out;
}

export const GATEWAY_INFO = { name: 'portcullis', version: '0.1.0' } as const;
