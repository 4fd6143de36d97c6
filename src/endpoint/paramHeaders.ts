/**
 * `x-mcp-header` (2026-07-28): a tool may mirror primitive arguments into `Mcp-Param-{Name}` headers. The gateway
 * validates the client's mirrored headers against the body (it processes the body, so it must), generates them for
 * modern HTTP upstreams, and drops tool definitions whose annotations break the rules, as the spec asks of clients.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { JsonObject } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';
import { GatewayError } from '../core/errors.js';
import { decodeHeaderValue, encodeHeaderValue } from '../transport/http/modernHeaders.js';

export interface ParamHeader {
  /** The x-mcp-header value; the header is `Mcp-Param-{name}`. */
  name: string;
  /** The chain of `properties` keys from the schema root. */
  path: string[];
  type: 'string' | 'integer' | 'boolean';
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const COMPOSITION = ['items', 'prefixItems', 'additionalProperties', 'oneOf', 'anyOf', 'allOf', 'not', 'if', 'then', 'else', '$ref', '$defs', 'definitions', 'patternProperties', 'dependentSchemas', 'contains'];

/** The headers a tool declares, or an error string when its annotations are invalid. */
export function paramHeadersOf(inputSchema: unknown): ParamHeader[] | string {
  const out: ParamHeader[] = [];
  const seen = new Set<string>();
  const walk = (schema: unknown, path: string[], reachable: boolean): string | undefined => {
    if (!isObject(schema)) return undefined;
    const mark = schema['x-mcp-header'];
    if (mark !== undefined) {
      if (!reachable || path.length === 0) return `x-mcp-header at ${path.join('.') || 'the root'} is not statically reachable`;
      if (typeof mark !== 'string' || !TOKEN.test(mark)) return `x-mcp-header ${JSON.stringify(mark)} is not a valid header name`;
      const lower = mark.toLowerCase();
      if (seen.has(lower)) return `x-mcp-header ${mark} is not unique`;
      seen.add(lower);
      const t = schema.type;
      if (t !== 'string' && t !== 'integer' && t !== 'boolean') return `x-mcp-header ${mark} is on a ${JSON.stringify(t)} property (only string, integer, boolean)`;
      out.push({ name: mark, path, type: t });
    }
    for (const [k, v] of Object.entries(schema)) {
      if (k === 'properties' && isObject(v)) {
        for (const [prop, sub] of Object.entries(v)) {
          const err = walk(sub, [...path, prop], reachable);
          if (err) return err;
        }
      } else if (COMPOSITION.includes(k)) {
        const subs = Array.isArray(v) ? v : isObject(v) ? (k === '$defs' || k === 'definitions' || k === 'patternProperties' || k === 'dependentSchemas' ? Object.values(v) : [v]) : [];
        for (const sub of subs) {
          const err = walk(sub, path, false);
          if (err) return err;
        }
      }
    }
    return undefined;
  };
  const err = walk(inputSchema, [], true);
  return err ?? out;
}

function valueAt(args: JsonObject | undefined, path: string[]): unknown {
  let v: unknown = args;
  for (const k of path) {
    if (!isObject(v)) return undefined;
    v = v[k];
  }
  return v;
}

function render(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  return undefined;
}

/** Headers to send upstream for a call. */
export function headersFor(specs: readonly ParamHeader[], args: JsonObject | undefined): Record<string, string> {
  const h: Record<string, string> = {};
  for (const s of specs) {
    const v = render(valueAt(args, s.path));
    if (v !== undefined) h[`mcp-param-${s.name.toLowerCase()}`] = encodeHeaderValue(v);
  }
  return h;
}

/** Checks a client's mirrored headers against the call's arguments (HeaderMismatch on any disagreement). */
export function checkParamHeaders(specs: readonly ParamHeader[], args: JsonObject | undefined, headers: IncomingHttpHeaders): void {
  for (const s of specs) {
    const key = `mcp-param-${s.name.toLowerCase()}`;
    const raw = headers[key];
    const headerValue = Array.isArray(raw) ? raw.join(', ') : raw;
    const bodyValue = valueAt(args, s.path);
    if (bodyValue === undefined || bodyValue === null) {
      continue; // the client must omit it; a stray header is tolerated like any unrecognised header
    }
    if (headerValue === undefined) throw new GatewayError('PC_HEADER_MISMATCH', `Mcp-Param-${s.name} header is required`);
    const decoded = decodeHeaderValue(headerValue);
    const same = s.type === 'integer'
      ? decoded.trim() !== '' && Number(decoded) === bodyValue
      : decoded === render(bodyValue);
    if (!same) throw new GatewayError('PC_HEADER_MISMATCH', `Mcp-Param-${s.name} header does not match the body value`);
  }
}
