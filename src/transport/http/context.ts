/** Builds the pipeline context for one request from what the transport learned. */
import type { JsonObject, JsonRpcRequest } from '../../core/jsonrpc.js';
import type { Era } from '../../core/protocol.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import type { ClientChannel, Principal, RequestContext, SessionView } from '../../pipeline/context.js';
import type { Gateway } from '../../gateway.js';

export interface ContextInit {
  request: JsonRpcRequest;
  endpoint: Endpoint;
  era: Era;
  protocolVersion: string;
  clientCapabilities: JsonObject;
  clientInfo: JsonObject | undefined;
  logLevel: string | undefined;
  session: SessionView | undefined;
  transport: RequestContext['transport'];
  signal: AbortSignal;
  channel: ClientChannel;
  principal: Principal | undefined;
  httpHeaders?: import('node:http').IncomingHttpHeaders | undefined;
}

export function newContext(gw: Gateway, init: ContextInit): RequestContext {
  return { ...init, startedAt: performance.now(), log: gw.log, route: undefined };
}
