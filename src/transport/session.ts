/**
 * Legacy-era (2025-11-25 and earlier) sessions: the record lives in the SessionStore (so it survives and can be
 * shared); the live parts (open streams, server-to-client requests awaiting answers, in-flight calls) live here.
 * Sessions expire after an idle timeout, are capped in number, and are bound to the principal that made them.
 */
import { randomBytes } from 'node:crypto';
import type { JsonObject, JsonRpcId, JsonRpcNotification, JsonRpcResponse } from '../core/jsonrpc.js';
import { isFailure } from '../core/jsonrpc.js';
import { GatewayError, UpstreamRpcError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { SessionsConfig } from '../config/types.js';
import type { Storage } from '../storage/types.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { Listener, NotificationHub } from '../endpoint/notifications.js';
import type { SessionView } from '../pipeline/context.js';
import type { Cancellation, CancelSignal } from '../core/cancel.js';
import { isRevoked, readRevocations } from './sessionRevocation.js';

/** How often revocations made elsewhere (CLI, other replicas) are picked up. */
const REVOCATION_POLL_MS = 2000;

export interface OutboundSink {
  /** Delivers a message to the client, returning false if there is nowhere to put it right now. */
  (message: JsonRpcNotification | { jsonrpc: '2.0'; id: JsonRpcId; method: string; params?: JsonObject }): boolean;
}

/** How long a server-to-client request not tied to a call waits for the session's GET stream. */
const STANDALONE_WAIT_MS = 5000;

interface Outstanding {
  resolve: (r: JsonObject) => void;
  reject: (e: Error) => void;
}

export class LegacySession implements SessionView {
  logLevel: string | undefined;
  readonly listener: Listener;
  /** The standalone GET stream's sink, when one is open. */
  standalone: OutboundSink | undefined;
  /** Messages for the standalone stream while none is open (bounded). */
  private readonly backlog: JsonRpcNotification[] = [];
  /** Server-to-client requests waiting for the standalone stream to open (bounded by STANDALONE_WAIT_MS each). */
  private readonly pendingRequests: Array<{ message: { jsonrpc: '2.0'; id: JsonRpcId; method: string; params?: JsonObject }; timer: NodeJS.Timeout }> = [];
  private readonly outstanding = new Map<string, Outstanding>();
  /** Client request id → abort, so notifications/cancelled reaches the call. */
  readonly inflight = new Map<string, Cancellation>();
  private seq = 0;
  readonly createdAt = Date.now();
  lastSeen = Date.now();
  /** The last-seen time storage holds for this session (written by the sweep, not on every request). */
  storedSeen = this.createdAt;
  initialized = false;
  private removeListener: () => void;

  constructor(
    readonly id: string,
    readonly endpoint: Endpoint,
    readonly principal: string,
    readonly protocolVersion: string,
    readonly clientCapabilities: JsonObject,
    readonly clientInfo: JsonObject | undefined,
    hub: NotificationHub,
  ) {
    this.listener = {
      endpoint,
      sessionKey: id,
      toolsListChanged: true,
      promptsListChanged: true,
      resourcesListChanged: true,
      resources: new Set(),
      legacy: true,
      deliver: (n) => this.push(n),
    };
    this.removeListener = hub.add(this.listener);
  }

  /** Unsolicited notifications go to the standalone stream, or wait (bounded) until one opens. */
  push(n: JsonRpcNotification): void {
    if (this.standalone?.(n)) return;
    if (this.backlog.length >= 100) this.backlog.shift();
    this.backlog.push(n);
  }

  flushBacklog(): void {
    while (this.backlog.length && this.standalone) {
      if (!this.standalone(this.backlog[0]!)) return;
      this.backlog.shift();
    }
    while (this.pendingRequests.length && this.standalone) {
      const p = this.pendingRequests[0]!;
      // Cancelled or timed out meanwhile: nobody waits for its answer any more.
      if (this.outstanding.has(String(p.message.id)) && !this.standalone(p.message)) return;
      clearTimeout(p.timer);
      this.pendingRequests.shift();
    }
  }

  /**
   * A server-to-client request. `via` is the stream of the call that caused it; without one it goes on the
   * standalone stream. The answer arrives later as a POSTed JSON-RPC response (see resolveResponse).
   */
  request(method: string, params: JsonObject | undefined, signal: CancelSignal, via?: OutboundSink): Promise<JsonObject> {
    const id = `pc-${++this.seq}`;
    return new Promise<JsonObject>((resolve, reject) => {
      const onAbort = () => {
        this.outstanding.delete(id);
        (via ?? this.standalone)?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'cancelled upstream' } });
        reject(new GatewayError('PC_CANCELLED'));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.outstanding.set(id, {
        resolve: (r) => { signal.removeEventListener('abort', onAbort); resolve(r); },
        reject: (e) => { signal.removeEventListener('abort', onAbort); reject(e); },
      });
      const message = { jsonrpc: '2.0' as const, id, method, ...(params ? { params } : {}) };
      const sink = via ?? this.standalone;
      if (sink && sink(message)) return;
      if (via) {
        this.outstanding.delete(id);
        signal.removeEventListener('abort', onAbort);
        reject(new UpstreamRpcError({ code: -32603, message: `the stream to send ${method} on is gone` }));
        return;
      }
      // Not tied to a call and no GET stream yet (clients open it just after initialize): wait for it, briefly.
      const timer = setTimeout(() => {
        const i = this.pendingRequests.findIndex((p) => p.message.id === id);
        if (i >= 0) this.pendingRequests.splice(i, 1);
        const o = this.outstanding.get(id);
        if (!o) return;
        this.outstanding.delete(id);
        o.reject(new UpstreamRpcError({ code: -32603, message: `no open stream to send ${method} to the client` }));
      }, STANDALONE_WAIT_MS);
      timer.unref();
      this.pendingRequests.push({ message, timer });
    });
  }

  /** A JSON-RPC response POSTed by the client; false if it answers nothing we asked. */
  resolveResponse(r: JsonRpcResponse): boolean {
    const key = String(r.id);
    const o = this.outstanding.get(key);
    if (!o) return false;
    this.outstanding.delete(key);
    if (isFailure(r)) o.reject(new UpstreamRpcError(r.error));
    else o.resolve(r.result);
    return true;
  }

  close(): void {
    this.removeListener();
    for (const p of this.pendingRequests) clearTimeout(p.timer);
    this.pendingRequests.length = 0;
    for (const o of this.outstanding.values()) o.reject(new GatewayError('PC_CANCELLED', 'session closed'));
    this.outstanding.clear();
    for (const a of this.inflight.values()) a.abort();
    this.inflight.clear();
    this.standalone = undefined;
  }
}

export class SessionManager {
  private readonly live = new Map<string, LegacySession>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly revocationPoll: NodeJS.Timeout;
  private reserved = 0;

  constructor(
    private readonly config: SessionsConfig,
    private readonly storage: Storage,
    private readonly hub: NotificationHub,
    private readonly log: Logger,
    private readonly onEnd: (s: LegacySession) => Promise<void>,
  ) {
    this.sweeper = setInterval(() => void this.sweep(), Math.min(60_000, Math.max(1000, (config.idleTimeoutSeconds * 1000) / 4)));
    this.sweeper.unref();
    this.revocationPoll = setInterval(() => void this.applyRevocations(), REVOCATION_POLL_MS);
    this.revocationPoll.unref();
  }

  /** Ends live sessions revoked since the last poll; a storage hiccup only delays this to the next poll. */
  async applyRevocations(): Promise<void> {
    if (this.live.size === 0) return;
    let r;
    try { r = await readRevocations(this.storage.records); } catch (e) { this.log.warn({ err: (e as Error).message }, 'cannot read session revocations'); return; }
    if (r.sessions.size === 0 && r.principals.size === 0) return;
    for (const s of [...this.live.values()]) {
      if (isRevoked(r, s.id, s.principal, s.createdAt)) {
        this.log.info({ session: s.id }, 'session revoked');
        await this.end(s.id);
      }
    }
  }

  get size(): number { return this.live.size; }

  /** The live sessions of this process (the console lists them). */
  list(): LegacySession[] { return [...this.live.values()]; }

  async create(endpoint: Endpoint, principal: string, protocolVersion: string, capabilities: JsonObject, clientInfo: JsonObject | undefined): Promise<LegacySession> {
    // Slots are reserved synchronously: concurrent initializes must not all pass the check before any is stored.
    if (this.live.size + this.reserved >= this.config.max) {
      await this.sweep();
      if (this.live.size + this.reserved >= this.config.max) throw new GatewayError('PC_SESSION_CAP', `at most ${this.config.max} sessions`);
    }
    this.reserved++;
    try {
      const id = randomBytes(24).toString('base64url');
      const now = Date.now();
      await this.storage.sessions.create({ id, endpoint: endpoint.key, principal, protocolVersion, clientInfo, clientCapabilities: capabilities, createdAt: now, lastSeenAt: now });
      const s = new LegacySession(id, endpoint, principal, protocolVersion, capabilities, clientInfo, this.hub);
      this.live.set(id, s);
      return s;
    } finally {
      this.reserved--;
    }
  }

  /**
   * The session for a request: it must exist, belong to this endpoint and to this principal. A session of
   * another principal answers exactly like an unknown one (404), so ids cannot be probed.
   */
  get(id: string, endpoint: Endpoint, principal: string): LegacySession {
    const s = this.live.get(id);
    if (!s || s.endpoint !== endpoint || s.principal !== principal) throw new GatewayError('PC_SESSION_UNKNOWN');
    s.lastSeen = Date.now();
    return s;
  }

  async end(id: string): Promise<void> {
    const s = this.live.get(id);
    if (!s) return;
    this.live.delete(id);
    s.close();
    await Promise.allSettled([this.storage.sessions.delete(id), this.storage.events.deleteSession(id), this.onEnd(s)]);
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    const cutoff = now - this.config.idleTimeoutSeconds * 1000;
    for (const [id, s] of this.live) {
      const busy = s.inflight.size > 0 || s.standalone !== undefined;
      if (s.lastSeen < cutoff && !busy) {
        this.log.debug({ session: id }, 'session expired');
        await this.end(id);
        continue;
      }
      // Alive here: storage must say so before any replica's sweep expires by it, or the session's record and its
      // event log (what a lost stream resumes from) would go while a call is still running on it.
      const seen = busy ? now : s.lastSeen;
      if (seen > s.storedSeen) {
        s.storedSeen = seen;
        await this.storage.sessions.touch(id, seen).catch(() => false);
      }
    }
    await this.storage.sessions.expire(cutoff).catch(() => []);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    clearInterval(this.revocationPoll);
    for (const id of [...this.live.keys()]) await this.end(id);
  }
}
