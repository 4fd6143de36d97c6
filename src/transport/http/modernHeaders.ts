/**
 * Modern-era (2026-07-28) request metadata headers: MCP-Protocol-Version, Mcp-Method and Mcp-Name must be
 * present and match the body, so that an intermediary routing on headers and the gateway acting on the body
 * can never disagree. Values may use the `=?base64?…?=` sentinel encoding.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { JsonRpcNotification, JsonRpcRequest } from '../../core/jsonrpc.js';
import { GatewayError } from '../../core/errors.js';
import { HEADER, nameFieldOf } from '../../core/protocol.js';

const SENTINEL = /^=\?base64\?([A-Za-z0-9+/]*={0,2})\?=$/;
/** Visible ASCII, space and tab, per RFC 9110 field values. */
const SAFE = /^[\x20-\x7e\t]*$/;

export function decodeHeaderValue(raw: string): string {
  const m = SENTINEL.exec(raw);
  if (m) {
    const b64 = m[1]!;
    const bytes = Buffer.from(b64, 'base64');
    // Strict: padded to a multiple of 4 and canonical (Node's decoder would quietly accept sloppy input).
    if (b64.length % 4 !== 0 || bytes.toString('base64') !== b64) throw mismatch('a header holds invalid Base64');
    const text = bytes.toString('utf8');
    if (Buffer.from(text, 'utf8').compare(bytes) !== 0) throw mismatch('a header holds invalid UTF-8');
    return text;
  }
  if (!SAFE.test(raw)) throw mismatch('a header holds invalid characters');
  return raw;
}

export function encodeHeaderValue(value: string): string {
  const needs = !SAFE.test(value) || /[^\x20-\x7e]/.test(value) || value !== value.trim() || /^=\?base64\?.*\?=$/.test(value);
  return needs ? `=?base64?${Buffer.from(value, 'utf8').toString('base64')}?=` : value;
}

function single(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function mismatch(detail: string): GatewayError {
  return new GatewayError('PC_HEADER_MISMATCH', detail);
}

/** Validates the standard headers of a modern request against its body. */
export function checkStandardHeaders(headers: IncomingHttpHeaders, msg: JsonRpcRequest | JsonRpcNotification, bodyVersion: string): void {
  const version = single(headers, HEADER.protocolVersion);
  if (version === undefined) throw mismatch('MCP-Protocol-Version header is required');
  if (version !== bodyVersion) throw mismatch(`MCP-Protocol-Version header '${version}' does not match body '${bodyVersion}'`);
  if (!('id' in msg)) return; // header rules for notification POSTs are not defined by 2026-07-28
  const method = single(headers, HEADER.method);
  if (method === undefined) throw mismatch('Mcp-Method header is required');
  if (method !== msg.method) throw mismatch(`Mcp-Method header '${method}' does not match body '${msg.method}'`);
  const field = nameFieldOf(msg.method);
  if (!field) return;
  const bodyName = msg.params?.[field];
  const raw = single(headers, HEADER.name);
  if (raw === undefined) {
    if (typeof bodyName === 'string') throw mismatch('Mcp-Name header is required');
    return;
  }
  const name = decodeHeaderValue(raw);
  if (name !== bodyName) throw mismatch(`Mcp-Name header '${raw}' does not match body value`);
}
