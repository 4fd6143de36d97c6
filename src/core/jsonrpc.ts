/**
 * JSON-RPC 2.0 message shapes as the gateway sees them on the wire.
 * The gateway forwards messages it does not understand field-by-field, so these types
 * describe the envelope only; params and results stay open records.
 */
export type JsonRpcId = string | number;
export type JsonObject = Record<string, unknown>;

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  id: JsonRpcId;
  method: string;
  params?: JsonObject;
}

export interface JsonRpcNotification {
  jsonrpc: '2.0';
  method: string;
  params?: JsonObject;
}

export interface JsonRpcSuccess {
  jsonrpc: '2.0';
  id: JsonRpcId;
  result: JsonObject;
}

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcFailure {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  error: JsonRpcErrorObject;
}

export type JsonRpcResponse = JsonRpcSuccess | JsonRpcFailure;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

export type MessageKind = 'request' | 'notification' | 'response' | 'invalid';

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isValidId(id: unknown): id is JsonRpcId {
  return (typeof id === 'string') || (typeof id === 'number' && Number.isFinite(id));
}

/** Classifies an already-parsed value; anything that is not a well-formed JSON-RPC 2.0 message is 'invalid'. */
export function classify(msg: unknown): MessageKind {
  if (!isObject(msg) || msg.jsonrpc !== '2.0') return 'invalid';
  if ('method' in msg) {
    if (typeof msg.method !== 'string' || msg.method.length === 0) return 'invalid';
    if (msg.params !== undefined && !isObject(msg.params)) return 'invalid';
    if (!('id' in msg)) return 'notification';
    return isValidId(msg.id) ? 'request' : 'invalid';
  }
  if ('result' in msg || 'error' in msg) {
    if ('result' in msg && 'error' in msg) return 'invalid';
    if (!(isValidId(msg.id) || (msg.id === null && 'error' in msg))) return 'invalid';
    if ('result' in msg && !isObject(msg.result)) return 'invalid';
    if ('error' in msg) {
      const e = msg.error;
      if (!isObject(e) || typeof e.code !== 'number' || typeof e.message !== 'string') return 'invalid';
    }
    return 'response';
  }
  return 'invalid';
}

export const isRequest = (m: JsonRpcMessage): m is JsonRpcRequest => 'method' in m && 'id' in m;
export const isNotification = (m: JsonRpcMessage): m is JsonRpcNotification => 'method' in m && !('id' in m);
export const isResponse = (m: JsonRpcMessage): m is JsonRpcResponse => !('method' in m);
export const isFailure = (m: JsonRpcResponse): m is JsonRpcFailure => 'error' in m;

export function success(id: JsonRpcId, result: JsonObject): JsonRpcSuccess {
  return { jsonrpc: '2.0', id, result };
}

export function failure(id: JsonRpcId | null, code: number, message: string, data?: unknown): JsonRpcFailure {
  const error: JsonRpcErrorObject = { code, message };
  if (data !== undefined) error.data = data;
  return { jsonrpc: '2.0', id, error };
}

export function notification(method: string, params?: JsonObject): JsonRpcNotification {
  return params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params };
}

export { isObject };
