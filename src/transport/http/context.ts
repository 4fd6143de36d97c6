/** Builds the pipeline context for one request from what the transport learned. */
import type { JsonObject, JsonRpcRequest } from '../../core/jsonrpc.js';
import type { Era } from '../../core/protocol.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import type { ClientChannel, Principal, RequestContext, SessionView } from '../../pipeline/context.js';
import type { Gateway } from '../../gateway.js';
import type { CancelSignal } from '../../core/cancel.js';
import { randomUUID } from 'node:crypto';

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
  signal: CancelSignal;
  channel: ClientChannel;
  principal: Principal | undefined;
  httpHeaders?: import('node:http').IncomingHttpHeaders | undefined;
  /** The HTTP edge's X-Request-Id (src/transport/http/requestId.ts); other transports get a new one. */
  requestId?: string | undefined;
}

/** Written out field by field: this runs once per request, and a literal is cheaper than spreading `init`. */
export function newContext(gw: Gateway, i: ContextInit): RequestContext {
  const requestId = i.requestId ?? randomUUID();
  return {
    request: i.request, endpoint: i.endpoint, era: i.era, protocolVersion: i.protocolVersion,
    clientCapabilities: i.clientCapabilities, clientInfo: i.clientInfo, logLevel: i.logLevel, session: i.session,
    transport: i.transport, signal: i.signal, channel: i.channel, principal: i.principal, httpHeaders: i.httpHeaders,
    // Every line of the request carries its id; a silent logger writes none, so it skips the child (~1 µs).
    startedAt: performance.now(), requestId, log: gw.log.isLevelEnabled('fatal') ? gw.log.child({ requestId }) : gw.log, route: undefined,
    rules: undefined, target: undefined, decision: undefined, listFilter: undefined, serverRequests: gw.serverRequests,
  };
}

const PRINCIPAL = Symbol('portcullis.principal');
type WithPrincipal = import('node:http').IncomingMessage & { [PRINCIPAL]?: Principal };

/** The HTTP edge authenticates once per request and leaves the principal on it for the transports. */
export function setRequestPrincipal(req: import('node:http').IncomingMessage, p: Principal): void {
  (req as WithPrincipal)[PRINCIPAL] = p;
}

/** The authenticated principal; a request the edge did not authenticate never reaches a transport. */
export function requestPrincipal(req: import('node:http').IncomingMessage): Principal {
  const p = (req as WithPrincipal)[PRINCIPAL];
  if (!p) throw new Error('request reached a transport without authentication');
  return p;
}
