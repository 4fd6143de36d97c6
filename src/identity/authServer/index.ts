/**
 * The built-in OAuth 2.1 authorization server: one machine works with no outside identity provider.
 *
 * oidc-provider (OpenID-certified) runs the protocol, configured in provider.ts; this module mounts it under the
 * issuer's path on the gateway's plain node:http server, serves its metadata at both well-known locations MCP
 * clients try, adds the pages people see (interactions.ts), keeps every piece of state in the RecordStore, and
 * rotates the signing keys. docs/authorization-server.md explains the choices.
 *
 * Request routing (handle):
 *   /.well-known/oauth-authorization-server{path}   RFC 8414 metadata
 *   /.well-known/openid-configuration{path}          OIDC discovery, path-inserted form
 *   {path}/.well-known/openid-configuration          OIDC discovery
 *   {path}/interaction/…, /federate/…, /setup/…      our pages
 *   {path}/…                                         oidc-provider (auth, token, jwks, reg, token/revocation)
 */
import { hkdfSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JWK } from 'jose';
import type Provider from 'oidc-provider';
import type { BuiltinAuthServerConfig } from '../../config/types.js';
import type { Logger } from '../../core/log.js';
import type { RecordStore } from '../../storage/types.js';
import { GRANTS_NS } from './adapter.js';
import { MetadataDocuments } from './cimd.js';
import { preRegisteredClient } from './clients.js';
import { ConsentStore } from './consent.js';
import { Federation } from './federation.js';
import { Csrf, setSecurityHeaders } from './http.js';
import { InteractionPages } from './interactions.js';
import { SigningKeys } from './keys.js';
import { safeFetchApi } from './outbound.js';
import { buildProvider, resourceLookup, type AccountView } from './provider.js';
import { LoginLimiter } from './rateLimit.js';
import { ScopePolicy, type ScopesFor } from './scopes.js';
import { SetupLinks } from './setupLinks.js';
import { createUserDirectory, type UserDirectory } from './users.js';

export type { UserDirectory, UserInfo } from './users.js';
export { UserError, createUserDirectory } from './users.js';

export interface AuthServerOptions {
  config: BuiltinAuthServerConfig;
  /** e.g. "http://127.0.0.1:8080/oauth" (publicUrl + "/oauth"). */
  issuer: string;
  /** The gateway's MCP endpoints: their canonical URIs are the only valid resource indicators. */
  resources: Array<{ uri: string; name: string }>;
  records: RecordStore;
  log: Logger;
  /** Secret for cookie signing etc. (32 random bytes the gateway keeps in its data dir). */
  secret: Buffer;
  scopesFor?: ScopesFor;
  /** Clock for key rotation decisions (tests); defaults to Date.now. */
  now?: () => number;
}

export interface AuthServer {
  readonly issuer: string;
  /** Serves the request when it belongs to the AS (paths under the issuer path, and its well-known documents); returns false otherwise. The caller has already checked Host/Origin. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** Public signing keys (current and overlap) for in-process token verification. */
  publicJwks(): Promise<{ keys: JWK[] }>;
  /** True when the grant behind a token was revoked (refresh replay, consent revocation, admin revocation). */
  isGrantRevoked(grantId: string): Promise<boolean>;
  readonly users: UserDirectory;
  ensureFirstAdmin(): Promise<{ username: string; setupUrl: string } | undefined>;
  revokeConsent(accountId: string, clientId: string): Promise<void>;
  close(): Promise<void>;
}

/** Extra controls for tests and operators, beyond the interface the gateway uses. */
export interface AuthServerAdmin extends AuthServer {
  /** Makes a new signing key at once (the previous one stays published for the overlap). */
  rotateSigningKey(): Promise<void>;
  /** A one-time "choose your password" link for an existing account. */
  setupLink(username: string): Promise<string>;
}

const CONSENT_TTL_MS = 180 * 24 * 60 * 60 * 1000;
/** How often the signing key set is re-read (rotation by this or another replica). */
const KEY_CHECK_MS = 60_000;
const CLOCK_SKEW_SECONDS = 60;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export async function createAuthServer(opts: AuthServerOptions): Promise<AuthServerAdmin> {
  const { config: cfg, records, log } = opts;
  const now = opts.now ?? Date.now;
  const issuerUrl = new URL(opts.issuer);
  const issuer = issuerUrl.href.replace(/\/$/, '');
  const base = issuerUrl.pathname.replace(/\/$/, '');
  // Fail fast on the settings the design depends on.
  if (!base) throw new Error('the authorization server issuer must have a path (e.g. https://host/oauth)');
  if (issuerUrl.search || issuerUrl.hash) throw new Error('the authorization server issuer must not have a query or fragment');
  if (issuerUrl.protocol !== 'https:' && !(issuerUrl.protocol === 'http:' && (LOOPBACK_HOSTS.has(issuerUrl.hostname) || issuerUrl.hostname.startsWith('127.')))) {
    throw new Error(`the authorization server issuer must be https unless it is on loopback (got ${issuer})`);
  }
  if (opts.secret.length < 32) throw new Error('the authorization server secret must be at least 32 bytes');
  if (opts.resources.length === 0) throw new Error('the authorization server needs at least one MCP endpoint (resource)');

  const scopes = new ScopePolicy(cfg.scopes, opts.scopesFor);
  const users = createUserDirectory(records);
  const federation = new Federation(cfg.federation, issuer, records, log);
  const consents = new ConsentStore(records, CONSENT_TTL_MS);
  const setupLinks = new SetupLinks(records);
  const preRegistered = cfg.clients.map(preRegisteredClient);
  const metadataDocuments = cfg.clientIdMetadataDocuments.enabled ? new MetadataDocuments(cfg.clientIdMetadataDocuments, log) : undefined;
  const keys = new SigningKeys({
    records,
    secret: opts.secret,
    rotationMs: cfg.keyRotationDays * 24 * 60 * 60 * 1000,
    overlapMs: (cfg.accessTokenTtlSeconds + CLOCK_SKEW_SECONDS) * 1000,
    now,
    log,
  });
  const cookieKey = Buffer.from(hkdfSync('sha256', opts.secret, Buffer.alloc(0), 'portcullis oauth cookies', 32)).toString('base64url');

  const resourceFor = resourceLookup(opts.resources);

  const accounts = async (id: string): Promise<AccountView | undefined> => {
    if (id.startsWith('fed:')) {
      const f = await federation.account(id);
      return f && { id: f.accountId, groups: f.groups, roles: f.roles, display: f.displayName ?? f.accountId };
    }
    const u = await users.get(id);
    return u && u.username === id ? { id: u.username, groups: u.groups, roles: u.roles, display: u.username } : undefined;
  };

  const build = (): Provider => buildProvider({
    issuer,
    config: cfg,
    resourceFor,
    records,
    keys,
    scopes,
    consents,
    accounts,
    metadataDocuments,
    preRegistered,
    cookieKeys: [cookieKey],
    fetch: safeFetchApi(false) as never,
    log,
  });

  await keys.refresh();
  let provider = build();
  let callback = provider.callback();
  // Checked on both clocks: real time for replicas' rotations, the (test) clock for rotation by age.
  let checkedAt = { real: Date.now(), clock: now() };
  let refreshing: Promise<void> | undefined;

  /** Re-reads the keys now and then; a changed set (rotation) means a provider with the new keystore. */
  const currentProvider = async (): Promise<Provider> => {
    if (Date.now() - checkedAt.real >= KEY_CHECK_MS || now() - checkedAt.clock >= KEY_CHECK_MS) {
      refreshing ??= (async () => {
        try {
          if (await keys.refresh()) {
            provider = build();
            callback = provider.callback();
          }
        } finally {
          checkedAt = { real: Date.now(), clock: now() };
          refreshing = undefined;
        }
      })();
      await refreshing;
    }
    return provider;
  };

  const pages = new InteractionPages({
    provider: () => provider,
    issuer,
    users,
    accounts,
    consents,
    scopes,
    resourceFor,
    limiter: new LoginLimiter(records, cfg.loginRateLimit.maxAttempts, cfg.loginRateLimit.windowSeconds * 1000),
    federation,
    setupLinks,
    preRegisteredIds: new Set(cfg.clients.map((c) => c.clientId)),
    records,
    csrf: new Csrf(opts.secret),
    log,
  });

  const wellKnown = new Map([
    [`/.well-known/oauth-authorization-server${base}`, '/.well-known/oauth-authorization-server'],
    [`/.well-known/openid-configuration${base}`, '/.well-known/openid-configuration'],
  ]);

  /** Hands the request to oidc-provider as if it were mounted at the issuer path. */
  const dispatch = async (req: IncomingMessage, res: ServerResponse, innerUrl: string): Promise<void> => {
    await currentProvider();
    const mounted = req as IncomingMessage & { originalUrl?: string };
    const { url } = req;
    // oidc-provider derives the mount path from originalUrl minus url (how Express mounts it).
    mounted.originalUrl = base + innerUrl;
    mounted.url = innerUrl;
    // Endpoint URLs are built from Host: make them the issuer's whatever name the client used.
    req.headers.host = issuerUrl.host;
    setSecurityHeaders(res);
    try {
      await callback(req, res);
    } finally {
      mounted.url = url;
      delete mounted.originalUrl;
    }
  };

  const setupUrl = (token: string) => `${issuer}/setup/${token}`;

  const server: AuthServerAdmin = {
    issuer,
    users,

    async handle(req, res) {
      const raw = req.url ?? '/';
      const q = raw.indexOf('?');
      const path = q < 0 ? raw : raw.slice(0, q);
      const search = q < 0 ? '' : raw.slice(q);
      const alias = wellKnown.get(path);
      if (alias) {
        await dispatch(req, res, alias + search);
        return true;
      }
      if (path !== base && !path.startsWith(`${base}/`)) return false;
      const sub = path.slice(base.length) || '/';
      if (await pages.handle(req, res, sub, new URLSearchParams(search))) return true;
      let inner = sub + search;
      // A request without a scope asks for the default scope (scopes.ts).
      if (sub === '/auth' && req.method === 'GET') {
        const params = new URLSearchParams(search);
        if (!params.get('scope')?.trim()) {
          // An unknown client is reported by oidc-provider itself, below.
          const clientId = params.get('client_id');
          const client = clientId ? await (await currentProvider()).Client.find(clientId).catch(() => undefined) : undefined;
          params.set('scope', scopes.defaultScope(client?.scope));
          inner = `${sub}?${params.toString()}`;
        }
      }
      await dispatch(req, res, inner);
      return true;
    },

    async publicJwks() {
      await currentProvider();
      return keys.publicJwks();
    },

    async isGrantRevoked(grantId) {
      return (await records.get(GRANTS_NS, grantId)) === undefined;
    },

    async ensureFirstAdmin() {
      const existing = await users.list();
      if (existing.length === 0) {
        await users.add('admin', { groups: ['admin'] });
      } else {
        // A restart before the admin chose a password: the old link's token is not stored, so issue a new one.
        const unfinished = existing.length === 1 && existing[0]!.username === 'admin' && !existing[0]!.hasPassword;
        if (!unfinished) return undefined;
      }
      const token = await setupLinks.create('admin');
      log.info('first start: the admin account needs a password; open the setup link printed by the gateway');
      return { username: 'admin', setupUrl: setupUrl(token) };
    },

    async revokeConsent(accountId, clientId) {
      const n = await consents.revoke(accountId, clientId);
      log.info({ account: accountId, client: clientId, grants: n }, 'consent revoked');
    },

    async rotateSigningKey() {
      await keys.rotateNow();
      provider = build();
      callback = provider.callback();
    },

    async setupLink(username) {
      const u = await users.get(username);
      if (!u) throw new Error(`no user "${username}"`);
      return setupUrl(await setupLinks.create(u.username));
    },

    async close() {
      await refreshing;
    },
  };
  return server;
}
