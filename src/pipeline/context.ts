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
import type { Action, Decision, PolicyResource } from '../policy/index.js';
import type { ToolInfo } from '../upstream/toolCatalog.js';
import type { RuleSet } from './ruleSet.js';
import type { Direction, ReportedFinding } from '../guardrails/guardrail.js';
import type { ServerRequestGuard } from '../guardrails/serverRequests.js';
import type { TaintMark } from '../guardrails/taint.js';

export interface Principal {
  /** Subject identifier, unique within its issuer. */
  subject: string;
  /** Who vouched for it: the token issuer, "mtls" for a certificate alone, "local" without authentication. */
  issuer: string;
  /** How it was established. */
  method: 'local' | 'bearer' | 'mtls';
  clientId?: string | undefined;
  scopes: readonly string[];
  roles: readonly string[];
  groups: readonly string[];
  tenant?: string | undefined;
  /** Further claims, for policy conditions (e.g. a customer_id claim). */
  attributes: Readonly<Record<string, unknown>>;
  /** Sessions, request states and held calls are bound to this: issuer and subject together. */
  key: string;
  /** RFC 8705 thumbprint (x5t#S256) of the client certificate the request came with, if any. */
  certThumbprint?: string | undefined;
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

/** What a request uses, as the policy stage resolved it (the upstream's own names). */
export interface Target {
  readonly action: Exclude<Action, 'list'>;
  readonly upstream: Upstream;
  readonly item: PolicyResource;
  /** tools/call: the tool's definition as the upstream declared it. */
  readonly tool?: ToolInfo | undefined;
  /** prompts/get: the prompt's definition. */
  readonly prompt?: JsonObject | undefined;
}

/** Keeps the items of one upstream's list page that the principal may see (in the upstream's own names). */
export type ListFilter = (upstream: string, method: ListMethod, items: readonly unknown[]) => unknown[];

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
  /** Names the request in logs, traces and the X-Request-Id response header. */
  readonly requestId?: string | undefined;
  /** Modern-era HTTP requests: the headers, for validating mirrored parameters (Mcp-Param-*). */
  readonly httpHeaders?: IncomingHttpHeaders | undefined;
  log: Logger;
  principal: Principal | undefined;
  route: Route | undefined;
  /** The rule set in force when the request reached the policy stage; the request finishes under it. */
  rules: RuleSet | undefined;
  target: Target | undefined;
  decision: Decision | undefined;
  /** Set by the policy stage for list methods; the upstream stage applies it to every page. */
  listFilter: ListFilter | undefined;
  /** The human approval this call was released by (for the audit log). */
  approval?: { id: string; approvers: string[] } | undefined;
  /** W3C traceparent of the upstream call's span when the request is traced (src/monitoring/tracing.ts); sent upstream. */
  traceparent?: string | undefined;
  /** The session's taint marks, read at most once per request (src/pipeline/taint.ts). */
  taintMarks?: Promise<readonly TaintMark[]> | undefined;
  /** What the guardrails found in this request's arguments, result and the upstream's requests (for the audit log). */
  findings?: (ReportedFinding & { direction: Direction })[] | undefined;
  /**
   * The gateway's guard for upstreams' sampling and elicitation requests (src/pipeline/serverRequests.ts). On the
   * context, not a stage's deps: a connection opened by any stage relays what its upstream asks outside a call.
   */
  readonly serverRequests?: ServerRequestGuard | undefined;
}

/** A stage does its part and calls next() to continue; what it returns is the result sent to the client. */
export type Stage = (ctx: RequestContext, next: () => Promise<JsonObject>) => Promise<JsonObject>;
