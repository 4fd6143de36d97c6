/**
 * The one context every pipeline stage receives. Transports fill in the wire facts (era, version,
 * capabilities, the channel back to the client); stages add what they decide (principal, route).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { JsonObject, JsonRpcNotification, JsonRpcRequest } from '../core/jsonrpc.js';
import type { Era } from '../core/protocol.js';
import type { Logger } from '../core/log.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { Upstream } from '../upstream/upstream.js';
import type { Listener } from '../endpoint/notifications.js';
import type { CancelSignal } from '../core/cancel.js';

export interface Principal {
  /** Stable subject identifier; sessions and request states are bound to it. */
  subject: string;
  /** How it was established: "local" for the unauthenticated loopback principal. */
  method: 'local' | 'bearer' | 'mtls';
  clientId?: string | undefined;
  scopes: readonly string[];
  roles: readonly string[];
}

/** The way back to the client for one request. */
export interface ClientChannel {
  /** A notification tied to this request (progress, log message), on its response stream. */
  notify(n: JsonRpcNotification): void;
  /**
   * Legacy eras only: a server-to-client request (sampling, elicitation, roots) on this request's stream.
   * Undefined in the modern era, where such requests travel inside an input_required result.
   */
  request?: ((method: string, params: JsonObject | undefined, signal: CancelSignal) => Promise<JsonObject>) | undefined;
}

/** Per-session facts the pipeline needs (legacy era); the transport owns the live session. */
export interface SessionView {
  readonly id: string;
  readonly principal: string;
  logLevel?: string | undefined;
  /** The session's registration with the notification hub (its resource subscriptions live there). */
  readonly listener: Listener;
  /** Server-to-client request on the session's standalone stream (for requests not tied to a call, e.g. roots/list). */
  request(method: string, params: JsonObject | undefined, signal: CancelSignal): Promise<JsonObject>;
}

export type Route =
  /** Answered by the gateway itself. */
  | { kind: 'local' }
  /** Forwarded to one upstream with names translated back to the upstream's own. */
  | { kind: 'forward'; upstream: Upstream; method: string; params: JsonObject }
  /** A list merged over the endpoint's members (pagination over members via the gateway's own cursor). */
  | { kind: 'list'; method: ListMethod; cursor: string | undefined }
  /** Sent to every member (logging/setLevel). */
  | { kind: 'broadcast'; method: string; params: JsonObject }
  /** Legacy resources/subscribe and unsubscribe: reference-counted by the notification hub. */
  | { kind: 'subscription'; action: 'subscribe' | 'unsubscribe'; uri: string };

export type ListMethod = 'tools/list' | 'prompts/list' | 'resources/list' | 'resources/templates/list';

export interface RequestContext {
  readonly request: JsonRpcRequest;
  readonly endpoint: Endpoint;
  readonly era: Era;
  readonly protocolVersion: string;
  readonly clientCapabilities: JsonObject;
  readonly clientInfo: JsonObject | undefined;
  readonly logLevel: string | undefined;
  readonly session: SessionView | undefined;
  readonly transport: 'http' | 'stdio' | 'http+sse';
  readonly signal: CancelSignal;
  readonly channel: ClientChannel;
  readonly startedAt: number;
  /** Modern-era HTTP requests: the headers, for validating mirrored parameters (Mcp-Param-*). */
  readonly httpHeaders?: IncomingHttpHeaders | undefined;
  log: Logger;
  principal: Principal | undefined;
  route: Route | undefined;
}

/** A stage does its part and calls next() to continue; what it returns is the result sent to the client. */
export type Stage = (ctx: RequestContext, next: () => Promise<JsonObject>) => Promise<JsonObject>;
