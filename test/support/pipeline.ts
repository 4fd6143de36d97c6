/**
 * Drives a gateway's whole pipeline without a socket, as any principal: what the transports do for one request,
 * minus the wire. For tests that need many principals and many requests (property tests, matrices).
 */
import type { JsonObject } from '../../src/core/jsonrpc.js';
import type { Era } from '../../src/core/protocol.js';
import { NEVER } from '../../src/core/cancel.js';
import { isGatewayError, UpstreamRpcError } from '../../src/core/errors.js';
import type { Gateway } from '../../src/gateway.js';
import type { Principal } from '../../src/pipeline/context.js';
import { newContext } from '../../src/transport/http/context.js';

let ids = 0;

export function principal(p: Partial<Principal> & { subject: string }): Principal {
  return { issuer: 'https://issuer.test', method: 'bearer', scopes: [], roles: [], groups: [], attributes: {}, key: `https://issuer.test ${p.subject}`, ...p };
}

export interface Outcome {
  result?: JsonObject;
  error?: { code: string; rpc: number; message: string; data: unknown };
}

/** One request through the pipeline on endpoint `key` ("server:fs", "virtual:default"). */
export async function runAs(gw: Gateway, key: string, who: Principal, method: string, params: JsonObject = {}, era: Era = 'modern'): Promise<Outcome> {
  const endpoint = gw.endpoints.find((e) => e.key === key);
  if (!endpoint) throw new Error(`no endpoint ${key}`);
  const ctx = newContext(gw, {
    request: { jsonrpc: '2.0', id: ++ids, method, params }, endpoint, era, protocolVersion: era === 'modern' ? '2026-07-28' : '2025-11-25',
    clientCapabilities: {}, clientInfo: { name: 'pipeline-test', version: '1' }, logLevel: undefined, session: undefined, transport: 'http',
    signal: NEVER, principal: who, channel: { notify: () => {} },
  });
  try {
    return { result: await gw.run(ctx) };
  } catch (e) {
    if (isGatewayError(e)) return { error: { code: e.code, rpc: e.rpc, message: e.publicMessage, data: e.data } };
    if (e instanceof UpstreamRpcError) return { error: { code: 'UPSTREAM', rpc: e.error.code, message: e.error.message, data: e.error.data } };
    throw e;
  }
}

/** Every item of a list method, following cursors. */
export async function listAll(gw: Gateway, key: string, who: Principal, method: string, era: Era = 'modern'): Promise<JsonObject[]> {
  const field = { 'tools/list': 'tools', 'prompts/list': 'prompts', 'resources/list': 'resources', 'resources/templates/list': 'resourceTemplates' }[method]!;
  const out: JsonObject[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 200; pages++) {
    const r = await runAs(gw, key, who, method, cursor === undefined ? {} : { cursor }, era);
    if (!r.result) throw new Error(`${method} failed: ${JSON.stringify(r.error)}`);
    out.push(...(r.result[field] as JsonObject[]));
    cursor = typeof r.result.nextCursor === 'string' ? r.result.nextCursor : undefined;
    if (cursor === undefined) return out;
  }
  throw new Error('too many pages');
}
