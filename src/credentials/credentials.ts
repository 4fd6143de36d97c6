/**
 * Per-user upstream credentials (docs/credentials.md). For an upstream with `credentials.mode: per-user` the gateway
 * is an OAuth client of the upstream's authorization server; each user connects their own account once in the
 * browser, and the gateway keeps their tokens in the vault and uses them only for that user's calls:
 *
 *   - a call's token comes from its principal's record, never from the inbound request;
 *   - an expired token (or one the upstream refused with 401) is refreshed once, with refresh-token rotation;
 *     concurrent calls of one principal share one refresh;
 *   - a principal without an account, or whose refresh the server refused, gets PC_CREDENTIALS_REQUIRED with a
 *     connect URL; revoking deletes the record, tells the authorization server (RFC 7009) and ends their connections.
 *
 * With `credentials.mode: token-exchange` there is no browser step: the gateway signs an identity assertion for the
 * principal (assertion.ts) and exchanges it (RFC 8693) for an upstream token, kept in memory until it expires.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { UpstreamConfig, UpstreamOAuthConfig } from '../config/types.js';
import type { RecordStore } from '../storage/types.js';
import type { UserCredentialSource } from '../upstream/upstream.js';
import { OAuthRefusal, UpstreamOAuthClient } from './oauthClient.js';
import { ConnectFlow, CREDENTIALS_PATH } from './connect.js';
import { UserTokenStore, type StoredTokens } from './tokenStore.js';
import { IdentityAssertions } from './assertion.js';
import type { IssuedTokens } from './oauthClient.js';
import type { Vault } from '../vault/vault.js';

/** A token this close to its expiry is refreshed before use (time in flight); a 401 from the upstream covers skew. */
const EXPIRY_MARGIN_MS = 1_000;
/** Token exchange: at most this many exchanged tokens are kept in memory. */
const MAX_EXCHANGED = 10_000;

export interface CredentialsDeps {
  records: RecordStore;
  /** The vault (tokens, the assertion key); a function so that a gateway without per-user upstreams never needs its key. */
  vault: () => Vault;
  /** An upstream's configuration with its ${secret:…} references filled in (the OAuth client secret). */
  upstreamConfig: (name: string) => UpstreamConfig | undefined;
  log: Logger;
  /** Called after a principal's tokens at an upstream were removed, to end the connections that used them. */
  onRevoked?: (upstream: string, principal: string) => Promise<void>;
}

export class Credentials implements UserCredentialSource {
  private base = '';
  private readonly clients = new Map<string, UpstreamOAuthClient>();
  /** One refresh at a time per upstream and principal: a rotated refresh token must not be presented twice. */
  private readonly refreshing = new Map<string, Promise<StoredTokens | undefined>>();
  readonly connect: ConnectFlow;
  private tokenStore: UserTokenStore | undefined;
  private readonly assertions: IdentityAssertions;
  /** Token exchange: the exchanged tokens by upstream and principal (short-lived, derivable again: memory only). */
  private readonly exchanged = new Map<string, IssuedTokens>();
  private readonly exchanging = new Map<string, Promise<IssuedTokens>>();

  constructor(private readonly deps: CredentialsDeps) {
    this.assertions = new IdentityAssertions(deps.vault, () => `${this.base}${CREDENTIALS_PATH}`);
    this.connect = new ConnectFlow({
      records: deps.records,
      client: (name) => this.client(name),
      base: () => this.base,
      log: deps.log,
      stored: async (upstream, principal, subject, tokens) => {
        await this.store().put(upstream, { ...tokens, principal, subject, connectedAt: Date.now() });
        // Connections made with an older account of this principal must not outlive it.
        await this.deps.onRevoked?.(upstream, principal);
      },
    });
  }

  /** The gateway's public base URL (scheme://host[:port]), known once it listens; connect URLs start with it. */
  setBase(base: string): void {
    this.base = base;
  }

  /** Upstreams whose calls carry each user's own token (per-user or token-exchange). */
  isPerUser(upstream: string): boolean {
    return this.modeOf(upstream) !== undefined;
  }

  /** How an upstream's calls get each user's token: connected in the browser (per-user), exchanged, or neither. */
  modeOf(upstream: string): 'per-user' | 'token-exchange' | undefined {
    const c = this.deps.upstreamConfig(upstream);
    const mode = c && c.transport !== 'stdio' ? c.credentials?.mode : undefined;
    return mode === 'service' ? undefined : mode;
  }

  /** The token store in the vault (tokens users connected, `portcullis credentials`). */
  store(): UserTokenStore {
    return (this.tokenStore ??= new UserTokenStore(this.deps.vault()));
  }

  owns(path: string): boolean {
    return this.connect.owns(path);
  }

  /** The connect pages and callback, and the JWKS that token-exchange authorization servers verify assertions with. */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path !== `${CREDENTIALS_PATH}/jwks`) return this.connect.handle(req, res, path);
    const body = JSON.stringify(await this.assertions.jwks());
    res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'max-age=300', 'content-length': Buffer.byteLength(body) }).end(body);
  }

  async ensure(upstream: string, principal: string): Promise<void> {
    await this.token(upstream, principal);
  }

  async token(upstream: string, principal: string, rejected?: string): Promise<string> {
    if (this.modeOf(upstream) === 'token-exchange') return this.exchange(upstream, principal, rejected);
    let t = await this.store().get(upstream, principal);
    if (t && (t.accessToken === rejected || expired(t))) t = await this.refresh(upstream, principal, t);
    if (!t) throw await this.required(upstream, principal);
    return t.accessToken;
  }

  /** PC_CREDENTIALS_REQUIRED with a fresh connect URL for this principal (data: one URL-mode elicitation). */
  async required(upstream: string, principal: string): Promise<GatewayError> {
    const url = await this.connect.ticket(upstream, principal);
    // The URL is a capability (whoever completes it links an account to this principal), so it stays out of the
    // message, which the log and the audit record keep; clients show it from the data (URL elicitation).
    const message = `${upstream} is used with your own account, which is not connected: open the connect URL (error.data.connectUrl) to connect it, then retry`;
    return new GatewayError('PC_CREDENTIALS_REQUIRED', message, {
      data: { upstream, connectUrl: url, elicitations: [{ mode: 'url', elicitationId: `connect-${upstream}`, url, message: `Connect your ${upstream} account` }] },
    });
  }

  /**
   * Forgets a principal's tokens at an upstream (and revokes them at its authorization server when it offers
   * revocation); returns whether there were any. Their open connections are ended.
   */
  async revoke(upstream: string, principal: string): Promise<boolean> {
    if (this.modeOf(upstream) === 'token-exchange') {
      const had = this.exchanged.delete(`${upstream}\n${principal}`);
      await this.deps.onRevoked?.(upstream, principal);
      return had;
    }
    const store = this.store();
    const t = await store.get(upstream, principal);
    const removed = await store.remove(upstream, principal);
    await this.deps.onRevoked?.(upstream, principal);
    if (t) await this.revokeAtServer(upstream, t);
    return removed;
  }

  private async revokeAtServer(upstream: string, t: StoredTokens): Promise<void> {
    try {
      const client = this.client(upstream);
      // The refresh token first: revoking it ends the grant, and with it (at most servers) the access token.
      if (t.refreshToken) await client.revoke(t.refreshToken, 'refresh_token');
      await client.revoke(t.accessToken, 'access_token');
    } catch (e) {
      // The local record is gone either way; the server's tokens then end with their own lifetimes.
      this.deps.log.warn({ upstream, err: reason(e) }, 'revoking upstream tokens at the authorization server failed');
    }
  }

  private refresh(upstream: string, principal: string, current: StoredTokens): Promise<StoredTokens | undefined> {
    const key = `${upstream}\n${principal}`;
    let p = this.refreshing.get(key);
    if (!p) {
      p = this.doRefresh(upstream, principal, current).finally(() => this.refreshing.delete(key));
      this.refreshing.set(key, p);
    }
    return p;
  }

  private async exchange(upstream: string, principal: string, rejected?: string): Promise<string> {
    const key = `${upstream}\n${principal}`;
    const cached = this.exchanged.get(key);
    if (cached && cached.accessToken !== rejected && !expired(cached)) return cached.accessToken;
    let p = this.exchanging.get(key);
    if (!p) {
      p = this.doExchange(upstream, principal).finally(() => this.exchanging.delete(key));
      this.exchanging.set(key, p);
    }
    return (await p).accessToken;
  }

  private async doExchange(upstream: string, principal: string): Promise<IssuedTokens> {
    const client = this.client(upstream);
    let issued: IssuedTokens;
    try {
      const assertion = await this.assertions.mint(principal, await client.issuer(), client.clientId);
      issued = await client.exchange(assertion);
    } catch (e) {
      if (e instanceof OAuthRefusal) throw new GatewayError('PC_UPSTREAM_UNAVAILABLE', `${upstream}'s authorization server refused the token exchange for this user (${e.error})`);
      throw new GatewayError('PC_UPSTREAM_UNAVAILABLE', `${upstream}: token exchange failed: ${reason(e)}`, { cause: e });
    }
    // Bounded: expired entries go first, then the oldest.
    if (this.exchanged.size >= MAX_EXCHANGED) {
      for (const [k, v] of this.exchanged) if (expired(v)) this.exchanged.delete(k);
      for (const k of this.exchanged.keys()) { if (this.exchanged.size < MAX_EXCHANGED) break; this.exchanged.delete(k); }
    }
    this.exchanged.set(`${upstream}\n${principal}`, issued);
    this.deps.log.info({ upstream, principal }, 'upstream token obtained by token exchange');
    return issued;
  }

  private async doRefresh(upstream: string, principal: string, current: StoredTokens): Promise<StoredTokens | undefined> {
    const store = this.store();
    // Another call may have refreshed while this one waited for the store.
    const latest = await store.get(upstream, principal);
    if (!latest) return undefined;
    if (latest.accessToken !== current.accessToken && !expired(latest)) return latest;
    if (!latest.refreshToken) {
      await store.remove(upstream, principal);
      return undefined;
    }
    try {
      const issued = await this.client(upstream).refresh(latest.refreshToken);
      const next: StoredTokens = { ...latest, ...issued, principal, subject: latest.subject };
      await store.put(upstream, next);
      this.deps.log.info({ upstream, principal }, 'upstream token refreshed');
      return next;
    } catch (e) {
      if (!(e instanceof OAuthRefusal)) throw new GatewayError('PC_UPSTREAM_UNAVAILABLE', `${upstream}: refreshing the user's token failed: ${(e as Error).message}`, { cause: e });
      // Refused (revoked at the server, expired, replayed): the account must be connected again.
      this.deps.log.info({ upstream, principal, error: e.error }, 'upstream refused to refresh a user token; the user must connect again');
      await store.remove(upstream, principal);
      await this.deps.onRevoked?.(upstream, principal);
      return undefined;
    }
  }

  private client(upstream: string): UpstreamOAuthClient {
    let c = this.clients.get(upstream);
    if (!c) {
      const cfg = this.deps.upstreamConfig(upstream);
      const oauth: UpstreamOAuthConfig | undefined = cfg && cfg.transport !== 'stdio' ? cfg.credentials?.oauth : undefined;
      if (!cfg || cfg.transport === 'stdio' || !oauth) throw new GatewayError('PC_NOT_FOUND', `upstream ${upstream} has no per-user credentials`);
      c = new UpstreamOAuthClient(upstream, oauth, cfg.url, () => `${this.base}${CREDENTIALS_PATH}/callback`);
      this.clients.set(upstream, c);
    }
    return c;
  }
}

/** openid-client wraps transport failures ("something went wrong"); the cause says what happened. */
function reason(e: unknown): string {
  const err = e as Error;
  return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
}

function expired(t: IssuedTokens): boolean {
  return t.expiresAt !== undefined && t.expiresAt - EXPIRY_MARGIN_MS <= Date.now();
}
