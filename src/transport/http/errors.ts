/** Maps a failure to the JSON-RPC error and HTTP status a client gets. Internal detail never leaves. */
import type { JsonRpcFailure, JsonRpcId } from '../../core/jsonrpc.js';
import { failure } from '../../core/jsonrpc.js';
import { isGatewayError, UpstreamRpcError } from '../../core/errors.js';
import { ErrorCode, type Era } from '../../core/protocol.js';

/** Modern-era errors the transport spec answers with 400 Bad Request, whoever raised them. */
const MODERN_400 = new Set<number>([ErrorCode.HeaderMismatch, ErrorCode.MissingRequiredClientCapability, ErrorCode.UnsupportedProtocolVersion]);

export function toFailure(e: unknown, id: JsonRpcId | null, era: Era): { status: number; body: JsonRpcFailure; headers?: Readonly<Record<string, string>> | undefined } {
  if (isGatewayError(e)) {
    let status = e.http;
    if (era === 'modern' && e.rpc === ErrorCode.MethodNotFound) status = 404;
    // Extra headers (Retry-After of a 429 or 503) go with the status they explain.
    return { status, body: failure(id, e.rpc, e.publicMessage, e.data), headers: e.headers };
  }
  if (e instanceof UpstreamRpcError) {
    const status = era !== 'modern' ? 200 : e.error.code === ErrorCode.MethodNotFound ? 404 : MODERN_400.has(e.error.code) ? 400 : 200;
    return { status, body: failure(id, e.error.code, e.error.message, e.error.data) };
  }
  return { status: 500, body: failure(id, ErrorCode.InternalError, 'Internal error') };
}
