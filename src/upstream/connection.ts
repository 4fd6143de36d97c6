/**
 * One logical connection to one upstream server: id allocation and correlation, the era handshake
 * (server/discover for modern servers, initialize for legacy ones), progress-token remapping so many
 * clients can share the connection, timeouts, cancellation, and attribution of server-to-client requests
 * to the call that caused them.
 */
import { EventEmitter } from 'node:events';
import type { JsonObject, JsonRpcMessage, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../core/jsonrpc.js';
import { classify, failure, isFailure, success } from '../core/jsonrpc.js';
import { ErrorCode, META } from '../core/protocol.js';
import { GatewayError, isGatewayError, UpstreamRpcError } from '../core/errors.js';
import { metaOf } from '../core/mcp.js';
import type { Logger } from '../core/log.js';
import type { UpstreamWire, WireContext, TransportFailureData } from './wire.js';
import { handshake, modernMeta, type UpstreamInfo } from './handshake.js';
import { Cancellation, type CancelSignal } from '../core/cancel.js';

/** What the gateway declares upstream on a legacy connection: everything it can relay or bridge. */
export const GATEWAY_CLIENT_CAPABILITIES: JsonObject = {
  roots: { listChanged: true },
  sampling: {},
  elicitation: { form: {}, url: {} },
};

export interface ServerToClientHandler {
  (request: JsonRpcRequest, signal: CancelSignal): Promise<JsonObject>;
}

export interface CallOptions {
  signal?: CancelSignal | undefined;
  timeoutMs?: number | undefined;
  /** Notifications tied to this call (progress with the caller's token restored, log messages). */
  onNotification?: ((n: JsonRpcNotification) => void) | undefined;
  /** Server-to-client requests tied to this call (legacy upstreams: sampling, elicitation, roots). */
  onServerRequest?: ServerToClientHandler | undefined;
  /**
   * True while the call's open server-to-client requests are with the client and the upstream is blocked on them
   * (an era bridge has answered its client with input_required). A parked call cannot be asking anything new.
   */
  isParked?: (() => boolean) | undefined;
  /** Modern upstream: the downstream client's capabilities, sent in _meta. */
  clientCapabilities?: JsonObject | undefined;
  /** Modern upstream: forward the caller's requested log level. */
  logLevel?: string | undefined;
  /** Extra HTTP headers for this request (modern HTTP upstreams: Mcp-Param-* mirrors). */
  headers?: Record<string, string> | undefined;
}

interface Pending {
  id: number;
  method: string;
  resolve: (r: JsonObject) => void;
  reject: (e: Error) => void;
  opts: CallOptions;
  progressToken?: string | number | undefined;
  timer?: NodeJS.Timeout | undefined;
  timeoutMs: number;
  /** Server-to-client requests of this call still waiting on the client: the call's timeout is paused meanwhile. */
  waitingOnClient: number;
  waitingSince: number;
  /** HTTP wires only: closes the call's stream on cancel or timeout (stdio has nothing to close). */
  abort: Cancellation | undefined;
}

export type { UpstreamInfo };

/** How long after a call starts waiting on the client further server requests are still taken as its own. */
const ATTRIBUTION_WINDOW_MS = 100;

export type ConnectionState = 'idle' | 'connecting' | 'ready' | 'down' | 'closed';

export interface ConnectionOptions {
  name: string;
  protocol: 'auto' | 'modern' | 'legacy';
  timeoutMs: number;
  logger: Logger;
  /** Legacy upstreams: the client capabilities declared at initialize (default: everything the gateway can relay). */
  clientCapabilities?: JsonObject | undefined;
  /** Handles server-to-client requests that no in-flight call can claim (per-session connections). */
  fallbackServerRequest?: ServerToClientHandler | undefined;
}

export interface ConnectionEvents {
  /** Unsolicited notifications: list_changed, resources/updated, log messages not tied to a call. */
  notification: [JsonRpcNotification];
  state: [ConnectionState, Error | undefined];
}

export class UpstreamConnection extends EventEmitter<ConnectionEvents> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly byProgressToken = new Map<string, Pending>();
  /** Upstream server-to-client requests in progress, by upstream id, so upstream cancellation reaches them. */
  private readonly inbound = new Map<string, Cancellation>();
  private _state: ConnectionState = 'idle';
  private _info: UpstreamInfo | undefined;
  private connecting: Promise<UpstreamInfo> | undefined;

  constructor(private readonly wire: UpstreamWire, readonly opts: ConnectionOptions) {
    super();
    wire.onmessage = (m, ctx) => this.onMessage(m, ctx);
    wire.onerror = (e) => opts.logger.warn({ upstream: opts.name, err: e.message }, 'upstream transport error');
    wire.onclose = (reason) => this.onWireClosed(reason);
  }

  get state(): ConnectionState { return this._state; }
  get info(): UpstreamInfo | undefined { return this._info; }
  get inFlight(): number { return this.pending.size; }

  /** Starts the wire and performs the era handshake; concurrent callers share one attempt. */
  connect(): Promise<UpstreamInfo> {
    if (this._info && this._state === 'ready') return Promise.resolve(this._info);
    this.connecting ??= this.doConnect().finally(() => { this.connecting = undefined; });
    return this.connecting;
  }

  private async doConnect(): Promise<UpstreamInfo> {
    this.setState('connecting');
    try {
      await this.wire.start();
      const info = await handshake(this.wire, {
        name: this.opts.name,
        protocol: this.opts.protocol,
        clientCapabilities: this.opts.clientCapabilities ?? GATEWAY_CLIENT_CAPABILITIES,
        request: (method, params) => this.rawRequest(method, params, this.opts.timeoutMs),
      });
      this._info = info;
      this.setState('ready');
      if (info.era === 'legacy') this.wire.openListenStream?.().catch((e: Error) => this.opts.logger.debug({ upstream: this.opts.name, err: e.message }, 'no listen stream'));
      return info;
    } catch (e) {
      this.setState('down', e as Error);
      await this.wire.close().catch(() => {});
      throw e;
    }
  }

  /** Sends a request and resolves with its result; JSON-RPC errors reject with UpstreamRpcError. */
  async request(method: string, params: JsonObject | undefined, opts: CallOptions = {}): Promise<JsonObject> {
    const info = await this.connect();
    let p: JsonObject = params ?? {};
    if (info.era === 'modern') {
      p = modernMeta(p, info.protocolVersion, opts.clientCapabilities ?? {}, opts.logLevel);
    } else {
      p = stripModernMeta(p);
    }
    try {
      return await this.send(method, p, opts, opts.timeoutMs ?? this.opts.timeoutMs);
    } catch (e) {
      // An expired legacy HTTP session: start a new one and retry once.
      if (e instanceof UpstreamRpcError && (e.error.data as TransportFailureData | undefined)?.sessionExpired) {
        this.opts.logger.info({ upstream: this.opts.name }, 'upstream session expired; reconnecting');
        this._info = undefined;
        this.setState('connecting'); // not 'down': the connection is being renewed, not lost
        this.wire.resetSession?.();
        await this.connect();
        return this.send(method, p, opts, opts.timeoutMs ?? this.opts.timeoutMs);
      }
      throw e;
    }
  }

  private rawRequest(method: string, params: JsonObject, timeoutMs: number): Promise<JsonObject> {
    return this.send(method, params, {}, timeoutMs);
  }

  private send(method: string, params: JsonObject, opts: CallOptions, timeoutMs: number): Promise<JsonObject> {
    if (opts.signal?.aborted) return Promise.reject(new GatewayError('PC_CANCELLED'));
    const id = this.nextId++;
    return new Promise<JsonObject>((resolve, reject) => {
      const entry: Pending = { id, method, resolve, reject, opts, timeoutMs, waitingOnClient: 0, waitingSince: 0, abort: this.wire.kind === 'stdio' ? undefined : new Cancellation() };
      // Remap the caller's progress token: tokens are chosen by clients and would collide on a shared connection.
      const meta = metaOf(params);
      let out = params;
      if (meta && (typeof meta.progressToken === 'string' || typeof meta.progressToken === 'number')) {
        entry.progressToken = meta.progressToken;
        const token = `pc-${id}`;
        this.byProgressToken.set(token, entry);
        out = { ...params, _meta: { ...meta, progressToken: token } };
      }
      this.pending.set(id, entry);
      const onAbort = () => this.cancel(entry, 'PC_CANCELLED', 'cancelled by client');
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.arm(entry);
      const cleanup = () => {
        clearTimeout(entry.timer);
        opts.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
        if (entry.progressToken !== undefined) this.byProgressToken.delete(`pc-${id}`);
      };
      entry.resolve = (r) => { cleanup(); resolve(r); };
      entry.reject = (e) => { cleanup(); reject(e); };
      const msg: JsonRpcRequest = { jsonrpc: '2.0', id, method, params: out };
      this.wire.send(msg, { ...(entry.abort ? { signal: entry.abort.signal } : {}), ...(opts.headers ? { headers: opts.headers } : {}) }).catch((e: Error) => {
        entry.reject(new GatewayError('PC_UPSTREAM_UNAVAILABLE', `${this.opts.name}: ${e.message}`, { cause: e }));
      });
    });
  }

  /** Gives up on a call: tells the upstream (legacy: notifications/cancelled; HTTP: closes the stream). */
  private cancel(entry: Pending, code: 'PC_CANCELLED' | 'PC_UPSTREAM_TIMEOUT', reason: string): void {
    if (!this.pending.has(entry.id)) return;
    if (this._info?.era === 'legacy' || this.wire.kind !== 'http') {
      this.wire.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: entry.id, reason } }).catch(() => {});
    }
    entry.abort?.abort();
    entry.reject(new GatewayError(code, code === 'PC_UPSTREAM_TIMEOUT' ? reason : undefined));
  }

  /**
   * (Re)starts a call's timeout. The timeout measures upstream silence: progress restarts it, and it is paused
   * while the upstream waits on the client (sampling, elicitation), whose own deadline applies instead.
   */
  private arm(entry: Pending): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    if (entry.waitingOnClient > 0 || entry.timeoutMs <= 0 || !this.pending.has(entry.id)) return;
    entry.timer = setTimeout(() => {
      this.cancel(entry, 'PC_UPSTREAM_TIMEOUT', `${this.opts.name} did not answer ${entry.method} within ${entry.timeoutMs} ms`);
    }, entry.timeoutMs);
    entry.timer.unref?.();
  }

  notify(method: string, params?: JsonObject): Promise<void> {
    const n: JsonRpcNotification = params ? { jsonrpc: '2.0', method, params } : { jsonrpc: '2.0', method };
    return this.wire.send(n);
  }

  private onMessage(m: JsonRpcMessage, ctx: WireContext): void {
    const kind = classify(m);
    if (kind === 'response') return this.onResponse(m as JsonRpcResponse);
    if (kind === 'notification') return this.onNotification(m as JsonRpcNotification, ctx);
    if (kind === 'request') return void this.onServerRequest(m as JsonRpcRequest, ctx);
    this.opts.logger.warn({ upstream: this.opts.name }, 'upstream sent an invalid JSON-RPC message');
  }

  private onResponse(r: JsonRpcResponse): void {
    const entry = typeof r.id === 'number' ? this.pending.get(r.id) : undefined;
    if (!entry) return; // late answer to a cancelled or timed-out call
    if (isFailure(r)) entry.reject(new UpstreamRpcError(r.error));
    else entry.resolve(r.result);
  }

  private onNotification(n: JsonRpcNotification, ctx: WireContext): void {
    const params = n.params ?? {};
    if (n.method === 'notifications/progress') {
      const entry = this.byProgressToken.get(String(params.progressToken));
      if (entry) this.arm(entry);
      if (entry?.opts.onNotification && entry.progressToken !== undefined) {
        entry.opts.onNotification({ ...n, params: { ...params, progressToken: entry.progressToken } });
      }
      return;
    }
    if (n.method === 'notifications/cancelled') {
      this.inbound.get(String(params.requestId))?.abort();
      return;
    }
    const related = ctx.relatedRequestId !== undefined ? this.pending.get(Number(ctx.relatedRequestId)) : undefined;
    if (related?.opts.onNotification) return related.opts.onNotification(n);
    if (n.method === 'notifications/message' && this.pending.size === 1) {
      // stdio carries no stream association; a log line during the only call in flight belongs to it.
      const only = this.pending.values().next().value as Pending;
      if (only.opts.onNotification) return only.opts.onNotification(n);
    }
    this.emit('notification', n);
  }

  private async onServerRequest(req: JsonRpcRequest, ctx: WireContext): Promise<void> {
    const owner = this.attribute(ctx);
    const handler = owner ? owner.opts.onServerRequest : this.opts.fallbackServerRequest;
    const abort = new Cancellation();
    const key = String(req.id);
    this.inbound.set(key, abort);
    if (owner) {
      if (owner.waitingOnClient++ === 0) owner.waitingSince = performance.now();
      this.arm(owner);
    }
    let response: JsonRpcResponse;
    try {
      if (req.method === 'ping') response = success(req.id, {});
      else if (!handler) response = failure(req.id, ErrorCode.InternalError, `Portcullis cannot attribute ${req.method} to a client request`);
      else response = success(req.id, await handler(req, abort.signal));
    } catch (e) {
      // A gateway refusal (a guardrail, a cancelled relay) reaches the upstream with its own code, as a client would get it.
      response = e instanceof UpstreamRpcError
        ? failure(req.id, e.error.code, e.error.message, e.error.data)
        : isGatewayError(e) ? failure(req.id, e.rpc, e.publicMessage, e.data)
          : failure(req.id, ErrorCode.InternalError, (e as Error).message);
    } finally {
      this.inbound.delete(key);
      if (owner) { owner.waitingOnClient--; this.arm(owner); }
    }
    if (abort.signal.aborted) return; // the upstream cancelled it: it expects no answer
    await this.wire.send(response).catch(() => {});
  }

  /** Which call owns a server-to-client request: the one whose stream carried it, else the only candidate in flight. */
  private attribute(ctx: WireContext): Pending | undefined {
    if (ctx.relatedRequestId !== undefined) {
      const e = this.pending.get(Number(ctx.relatedRequestId));
      if (e?.opts.onServerRequest) return e;
    }
    const candidates = [...this.pending.values()].filter((p) => p.opts.onServerRequest);
    if (candidates.length <= 1) return candidates[0];
    // stdio has no stream association. A call blocked on the client (parked by an era bridge, or relaying for longer
    // than a moment) is not asking anything new; requests of one parallel round arrive within the same moment.
    const now = performance.now();
    const active = candidates.filter((p) => p.waitingOnClient === 0 || (p.opts.isParked ? !p.opts.isParked() : now - p.waitingSince < ATTRIBUTION_WINDOW_MS));
    if (active.length === 0) {
      // A straggler of a round that was just handed to the client: it joins that call's next round.
      const recent = candidates.filter((p) => p.waitingOnClient > 0 && now - p.waitingSince < ATTRIBUTION_WINDOW_MS);
      if (recent.length === 1) return recent[0];
    }
    if (active.length !== 1) this.opts.logger.warn({ upstream: this.opts.name, method: 'server-to-client', candidates: active.length }, 'cannot attribute a server-to-client request');
    return active.length === 1 ? active[0] : undefined;
  }

  private onWireClosed(reason?: Error): void {
    if (this._state === 'closed') return;
    this._info = undefined;
    const err = new GatewayError('PC_UPSTREAM_UNAVAILABLE', `${this.opts.name} disconnected${reason ? `: ${reason.message}` : ''}`);
    for (const p of [...this.pending.values()]) p.reject(err);
    for (const a of this.inbound.values()) a.abort();
    this.setState('down', reason);
  }

  private setState(s: ConnectionState, err?: Error): void {
    if (this._state === s) return;
    this._state = s;
    this.emit('state', s, err);
  }

  async close(): Promise<void> {
    if (this._state === 'closed') return;
    this.setState('closed');
    const err = new GatewayError('PC_UPSTREAM_UNAVAILABLE', `${this.opts.name} closed`);
    for (const p of [...this.pending.values()]) p.reject(err);
    await this.wire.close();
    this.removeAllListeners();
  }
}


/** Legacy upstreams get no modern per-request fields. */
export function stripModernMeta(params: JsonObject): JsonObject {
  const meta = metaOf(params);
  if (!meta) return params;
  const rest: JsonObject = {};
  let changed = false;
  for (const [k, v] of Object.entries(meta)) {
    if (k === META.protocolVersion || k === META.clientCapabilities || k === META.clientInfo || k === META.logLevel) { changed = true; continue; }
    rest[k] = v;
  }
  if (!changed) return params;
  const out = { ...params };
  if (Object.keys(rest).length) out._meta = rest; else delete out._meta;
  return out;
}
