/**
 * An Upstream owns the connections to one configured server: a shared, multiplexed connection, or one per
 * client session. It restarts dead connections with exponential backoff and reports its health, so that one
 * failing server degrades only itself. An upstream with per-user credentials has no shared connection at all: each
 * principal gets its own, whose wire carries only that principal's token (src/credentials), so one user's
 * connection never carries another's calls.
 */
import { EventEmitter } from 'node:events';
import type { JsonObject, JsonRpcNotification } from '../core/jsonrpc.js';
import type { Logger } from '../core/log.js';
import type { UpstreamConfig } from '../config/types.js';
import { GatewayError } from '../core/errors.js';
import { UpstreamConnection, type ServerToClientHandler, type UpstreamInfo } from './connection.js';
import type { UpstreamWire } from './wire.js';
import { Catalog } from './catalog.js';
import { capabilityProfile, FULL_PROFILE, type CapabilityProfile } from './capabilityProfile.js';

export type Health = 'starting' | 'ready' | 'degraded' | 'down' | 'closed';

export interface UpstreamEvents {
  /** An unsolicited notification; `sessionKey` is set for per-session connections. */
  notification: [JsonRpcNotification, string | undefined];
  health: [Health];
}

/** Per-user credentials, as the upstream layer needs them (src/credentials implements it). */
export interface UserCredentialSource {
  /** Throws PC_CREDENTIALS_REQUIRED (with the connect URL) when the principal has no usable account at the upstream. */
  ensure(upstream: string, principal: string): Promise<void>;
  /** The principal's access token, refreshed when expired or when `rejected` (the token the upstream refused) is current. */
  token(upstream: string, principal: string, rejected?: string): Promise<string>;
}

/** Gives a wire its Authorization value per request (per-user credentials); see HttpWireOptions.authorization. */
export type WireAuthorization = (rejected?: string) => Promise<string>;

export interface UpstreamDeps {
  logger: Logger;
  createWire: (name: string, config: UpstreamConfig, authorization?: WireAuthorization) => UpstreamWire;
  credentials?: UserCredentialSource | undefined;
}

const DEFAULT_RESTART = { maxRetries: 5, initialDelayMs: 500, maxDelayMs: 30_000 };

export class Upstream extends EventEmitter<UpstreamEvents> {
  private shared: UpstreamConnection | undefined;
  private readonly perSession = new Map<string, UpstreamConnection>();
  /** Per-user credentials: one connection per principal (and session, and capability profile); see scopeKey. */
  private readonly perPrincipal = new Map<string, UpstreamConnection>();
  private readonly all = new Set<UpstreamConnection>();
  /** Legacy HTTP/SSE upstreams: connections for clients that declare less than everything (capabilityProfile.ts). */
  private readonly byProfile = new Map<string, UpstreamConnection>();
  private retryTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private _health: Health = 'starting';
  private lastInfo: UpstreamInfo | undefined;
  private lastError: string | undefined;
  private closed = false;
  /** What each connection offers (tools, prompts, resources, templates), loaded when a request needs it. */
  private readonly catalogs = new WeakMap<UpstreamConnection, Catalog>();

  constructor(readonly name: string, readonly config: UpstreamConfig, private readonly deps: UpstreamDeps) {
    super();
  }

  /** The catalogue of a connection of this upstream (its tools, prompts, resources and templates). */
  catalog(conn: UpstreamConnection): Catalog {
    let c = this.catalogs.get(conn);
    if (!c) {
      c = new Catalog(this.name, this.deps.logger, (method, params) => conn.request(method, params), () => conn.info?.capabilities);
      this.catalogs.set(conn, c);
    }
    return c;
  }

  /** A list_changed the gateway's listen stream received from a modern upstream: every connection's catalogue forgets. */
  listChanged(method: string): void {
    for (const c of this.all) this.catalogs.get(c)?.listChanged(method);
  }

  get health(): Health { return this._health; }
  get error(): string | undefined { return this.lastError; }
  /** The most recent handshake result (capabilities, serverInfo), kept while the server is down. */
  get info(): UpstreamInfo | undefined { return this.lastInfo; }

  /** Whether every call is made with its user's own token (credentials.mode per-user or token-exchange). */
  get perUser(): boolean {
    return this.config.transport !== 'stdio' && this.config.credentials !== undefined && this.config.credentials.mode !== 'service';
  }

  /** Connects the shared connection (or probes once for per-session upstreams) without failing the gateway. */
  async start(): Promise<void> {
    // Nothing to probe with: a per-user upstream is reached only with some user's token, on that user's behalf.
    if (this.perUser) return;
    try {
      if (this.config.connection === 'shared') await this.sharedConnection();
      else {
        const probe = this.newConnection(undefined);
        try { this.lastInfo = await probe.connect(); this.setHealth('ready'); } finally { await probe.close(); }
      }
    } catch (e) {
      this.lastError = (e as Error).message;
      this.deps.logger.warn({ upstream: this.name, err: this.lastError }, 'upstream not available at start');
    }
  }

  /**
   * The connection to use for a call. `sessionKey` identifies the client session for per-session upstreams;
   * `onUnclaimed` answers server-to-client requests not tied to a call (e.g. roots/list) on that connection.
   */
  async acquire(sessionKey?: string, onUnclaimed?: ServerToClientHandler, clientCapabilities?: JsonObject, principal?: string): Promise<UpstreamConnection> {
    if (this.closed) throw new GatewayError('PC_UPSTREAM_UNAVAILABLE', `${this.name} is shut down`);
    const profile = clientCapabilities === undefined ? FULL_PROFILE : capabilityProfile(clientCapabilities);
    if (this.perUser) return this.principalConnection(principal, sessionKey, onUnclaimed, profile);
    if (this.config.connection === 'per-session' && sessionKey !== undefined) {
      let c = this.perSession.get(sessionKey);
      if (!c || c.state === 'down' || c.state === 'closed') {
        c = this.newConnection(onUnclaimed, sessionKey, profile);
        this.perSession.set(sessionKey, c);
      }
      await c.connect();
      return c;
    }
    const primary = await this.sharedConnection();
    // Modern upstreams get the client's capabilities with every request; over stdio another connection would be
    // another process with other state. Either way the primary connection serves every profile.
    if (primary.info?.era !== 'legacy' || this.config.transport === 'stdio' || profile.key === FULL_PROFILE.key) return primary;
    let c = this.byProfile.get(profile.key);
    if (!c || c.state === 'down' || c.state === 'closed') {
      c = this.newConnection(undefined, undefined, profile, false);
      this.byProfile.set(profile.key, c);
    }
    try {
      await c.connect();
    } catch (e) {
      this.byProfile.delete(profile.key);
      throw new GatewayError('PC_UPSTREAM_UNAVAILABLE', `${this.name}: ${(e as Error).message}`, { cause: e });
    }
    return c;
  }

  /**
   * The connection acquire() would give for these arguments when it is connected already, without waiting (the hot
   * path: no promise, no await); undefined when acquire() has work to do.
   */
  connected(sessionKey?: string, clientCapabilities?: JsonObject, principal?: string): UpstreamConnection | undefined {
    if (this.closed) return undefined;
    if (this.perUser) {
      if (principal === undefined) return undefined;
      const profile = clientCapabilities === undefined ? FULL_PROFILE : capabilityProfile(clientCapabilities);
      const c = this.perPrincipal.get(this.scopeKey(principal, sessionKey, profile));
      return c?.state === 'ready' ? c : undefined;
    }
    if (this.config.connection === 'per-session' && sessionKey !== undefined) {
      const c = this.perSession.get(sessionKey);
      return c?.state === 'ready' ? c : undefined;
    }
    const primary = this.shared;
    if (primary?.state !== 'ready') return undefined;
    if (primary.info?.era !== 'legacy' || this.config.transport === 'stdio' || clientCapabilities === undefined) return primary;
    const profile = capabilityProfile(clientCapabilities);
    if (profile.key === FULL_PROFILE.key) return primary;
    const c = this.byProfile.get(profile.key);
    return c?.state === 'ready' ? c : undefined;
  }

  /** Ends a client session's dedicated connection. */
  async release(sessionKey: string): Promise<void> {
    const own = [...this.perPrincipal].filter(([k]) => k.split('\n')[1] === sessionKey);
    for (const [k] of own) this.perPrincipal.delete(k);
    await Promise.allSettled(own.map(([, c]) => c.close()));
    const c = this.perSession.get(sessionKey);
    if (!c) return;
    this.perSession.delete(sessionKey);
    await c.close();
  }

  /** Ends every connection of a principal (their credentials were revoked: nothing may use the old token). */
  async releasePrincipal(principal: string): Promise<void> {
    const own = [...this.perPrincipal].filter(([k]) => k.split('\n')[0] === principal);
    for (const [k] of own) this.perPrincipal.delete(k);
    await Promise.allSettled(own.map(([, c]) => c.close()));
  }

  /**
   * Per-user credentials: the principal's own connection. Every wire of it asks the credential source for that
   * principal's token per request, so refreshes apply at once; a principal without an account gets the connect error
   * before anything is sent.
   */
  private async principalConnection(principal: string | undefined, sessionKey: string | undefined, onUnclaimed: ServerToClientHandler | undefined, profile: CapabilityProfile): Promise<UpstreamConnection> {
    const creds = this.deps.credentials;
    if (principal === undefined || !creds) {
      throw new GatewayError('PC_CREDENTIALS_REQUIRED', `${this.name} is reached with each user's own account, and this request has no user`);
    }
    await creds.ensure(this.name, principal);
    const key = this.scopeKey(principal, sessionKey, profile);
    let c = this.perPrincipal.get(key);
    if (!c || c.state === 'down' || c.state === 'closed') {
      // Unsolicited notifications reach the client only through its own session: a principal's connection without
      // one keeps them to itself (its catalogue still hears list changes), so nothing of one user's reaches another.
      const session = this.config.connection === 'per-session' ? sessionKey : undefined;
      c = this.newConnection(onUnclaimed, session, profile, session !== undefined, principal);
      this.perPrincipal.set(key, c);
    }
    try {
      await c.connect();
      this.lastInfo = c.info;
      this.setHealth('ready');
    } catch (e) {
      if (this.perPrincipal.get(key) === c) this.perPrincipal.delete(key);
      throw new GatewayError('PC_UPSTREAM_UNAVAILABLE', `${this.name}: ${(e as Error).message}`, { cause: e });
    }
    return c;
  }

  /** Principal, then the session (per-session upstreams only), then the capability profile: never shared across principals. */
  private scopeKey(principal: string, sessionKey: string | undefined, profile: CapabilityProfile): string {
    const session = this.config.connection === 'per-session' ? sessionKey ?? '' : '';
    return `${principal}\n${session}\n${profile.key}`;
  }

  private async sharedConnection(): Promise<UpstreamConnection> {
    if (!this.shared || this.shared.state === 'down' || this.shared.state === 'closed') {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.shared = this.newConnection(undefined);
    }
    const c = this.shared;
    try {
      await c.connect();
      return c;
    } catch (e) {
      this.lastError = (e as Error).message;
      throw new GatewayError('PC_UPSTREAM_UNAVAILABLE', `${this.name}: ${this.lastError}`, { cause: e });
    }
  }

  private newConnection(onUnclaimed: ServerToClientHandler | undefined, sessionKey?: string, profile: CapabilityProfile = FULL_PROFILE, notifies = true, principal?: string): UpstreamConnection {
    if (this.closed) throw new GatewayError('PC_UPSTREAM_UNAVAILABLE', `${this.name} is shut down`);
    const creds = this.deps.credentials;
    const authorization: WireAuthorization | undefined = principal !== undefined && creds ? (rejected) => creds.token(this.name, principal, rejected) : undefined;
    const wire = this.deps.createWire(this.name, this.config, authorization);
    const c = new UpstreamConnection(wire, {
      name: this.name,
      protocol: this.config.protocol,
      timeoutMs: this.config.timeoutMs,
      logger: this.deps.logger,
      clientCapabilities: profile.declared,
      fallbackServerRequest: onUnclaimed,
    });
    // Every connection is closed with the upstream, whichever map it was (or no longer is) in.
    this.all.add(c);
    c.on('state', (s) => { if (s === 'closed') this.all.delete(c); });
    c.on('notification', (n) => this.catalogs.get(c)?.listChanged(n.method));
    if (!notifies) {
      // Profile connections are more sessions of the same server; the primary one reports its changes.
      c.on('state', (s) => { if (s === 'down') for (const [k, v] of this.byProfile) if (v === c) this.byProfile.delete(k); });
      return c;
    }
    c.on('notification', (n) => {
      this.emit('notification', n, sessionKey);
    });
    c.on('state', (s, err) => {
      if (s === 'ready') {
        this.lastInfo = c.info;
        this.attempts = 0;
        this.lastError = undefined;
        if (sessionKey === undefined || this.config.connection !== 'shared') this.setHealth('ready');
      } else if (s === 'down' && c === this.shared && !this.closed) {
        this.lastError = err?.message ?? this.lastError;
        this.setHealth(this.lastInfo ? 'degraded' : 'down');
        this.scheduleRestart();
      } else if (s === 'down' && sessionKey !== undefined) {
        this.perSession.delete(sessionKey);
      }
    });
    return c;
  }

  /** Restart a dead shared connection with exponential backoff; after maxRetries, wait for the next call. */
  private scheduleRestart(): void {
    const r = this.config.transport === 'stdio' ? this.config.restart : DEFAULT_RESTART;
    if (this.retryTimer || this.attempts >= r.maxRetries) {
      if (this.attempts >= r.maxRetries) this.setHealth('down');
      return;
    }
    const delay = Math.min(r.initialDelayMs * 2 ** this.attempts, r.maxDelayMs);
    this.attempts++;
    this.deps.logger.info({ upstream: this.name, attempt: this.attempts, delayMs: delay }, 'restarting upstream');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.sharedConnection().catch(() => { /* state handler schedules the next attempt */ });
    }, delay);
    this.retryTimer.unref();
  }

  private setHealth(h: Health): void {
    if (this._health === h || this._health === 'closed') return;
    this._health = h;
    this.emit('health', h);
  }

  /** Capabilities as last seen, or an empty set when the server was never reached. */
  get capabilities(): JsonObject { return this.lastInfo?.capabilities ?? {}; }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    const all = [...this.all];
    this.all.clear();
    this.perSession.clear();
    this.perPrincipal.clear();
    this.byProfile.clear();
    this.shared = undefined;
    await Promise.allSettled(all.map((c) => c.close()));
    this.setHealth('closed');
    this._health = 'closed';
    this.removeAllListeners();
  }
}
