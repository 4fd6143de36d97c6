/**
 * oidc-provider configured as an OAuth 2.1 authorization server for MCP. Every option here is a decision:
 *
 *   - response_type "code" only, PKCE S256 required for every client; grants authorization_code and refresh_token
 *     only (no implicit, no password, no client credentials, no device flow).
 *   - Resource indicators (RFC 8707) required: the resource must be one of the gateway's MCP endpoints; the access
 *     token is a JWT (RFC 9068, typ at+jwt, ES256) whose aud is that one endpoint, with grant_id, roles, groups.
 *   - Refresh tokens for every client allowed the refresh_token grant (offline_access not needed: MCP clients do not
 *     ask for it), rotated on every use; reusing a rotated one revokes the whole grant. Their lifetime is absolute:
 *     a chain ends refreshTokenTtlSeconds after the user's approval, rotation does not extend it.
 *   - Consent remembered per account and client (see consent.ts); the login session lasts 12 hours.
 *   - Cookies: the login session cookie is __Host- (Secure, Path=/); the two per-authorization cookies are
 *     __Secure- because oidc-provider scopes them to the interaction's path, which __Host- forbids.
 *   - No userinfo, introspection, logout, PAR, request objects, DPoP: nothing MCP needs, less to defend.
 */
import Provider, { errors, interactionPolicy, type Account, type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { BuiltinAuthServerConfig } from '../../config/types.js';
import type { Logger } from '../../core/log.js';
import type { RecordStore } from '../../storage/types.js';
import { createAdapterFactory } from './adapter.js';
import { looksLikeMetadataUrl, type MetadataDocuments } from './cimd.js';
import { redirectUriAllowed } from './clients.js';
import type { ConsentStore } from './consent.js';
import type { SigningKeys } from './keys.js';
import { messagePage } from './pages.js';
import { PROTOCOL_SCOPES, type ScopePolicy } from './scopes.js';

export const COOKIE_NAMES = {
  session: '__Host-portcullis.session',
  interaction: '__Secure-portcullis.interaction',
  resume: '__Secure-portcullis.resume',
} as const;

export const SESSION_TTL_SECONDS = 12 * 60 * 60;
export const INTERACTION_TTL_SECONDS = 30 * 60;

export interface AccountView {
  id: string;
  groups: readonly string[];
  roles: readonly string[];
  /** Shown on pages. */
  display: string;
}

export interface ProviderDeps {
  issuer: string;
  config: BuiltinAuthServerConfig;
  /** The MCP endpoint a resource indicator names (resourceLookup). */
  resourceFor: ResourceLookup;
  records: RecordStore;
  keys: SigningKeys;
  scopes: ScopePolicy;
  consents: ConsentStore;
  accounts: (id: string) => Promise<AccountView | undefined>;
  metadataDocuments: MetadataDocuments | undefined;
  preRegistered: ClientMetadata[];
  cookieKeys: string[];
  /** Used for every fetch oidc-provider makes (sector identifier URIs of registered clients). */
  fetch: NonNullable<Configuration['fetch']>;
  log: Logger;
}

/** RFC 8707 canonical form for comparison: lower-case scheme and host (URL does), no default port, no lone "/". */
export function canonicalUri(uri: string): string | undefined {
  let u: URL;
  try { u = new URL(uri); } catch { return undefined; }
  if (u.hash || uri.includes('#')) return undefined;
  const href = u.href;
  return u.pathname === '/' && !u.search ? href.slice(0, -1) : href;
}

export type ResourceLookup = (indicator: string) => { uri: string; name: string } | undefined;

/** Finds the configured MCP endpoint a resource indicator names, comparing canonical forms. */
export function resourceLookup(resources: ReadonlyArray<{ uri: string; name: string }>): ResourceLookup {
  const byCanonical = new Map(resources.map((r) => [canonicalUri(r.uri), r]));
  return (indicator) => {
    const c = canonicalUri(indicator);
    return c === undefined ? undefined : byCanonical.get(c);
  };
}

type GrantLike = InstanceType<Provider['Grant']>;

/**
 * Writes what the account gets into a grant: per resource the granted scopes, the refused ones marked rejected (so
 * they do not bring the consent page back). Resource scopes are also oidc-provider "static" scopes (so that
 * registered clients may list them in their `scope` metadata), hence the same decision at the grant's OIDC level.
 */
export function applyDecisions(grant: GrantLike, decisions: ReadonlyArray<{ indicator: string; granted: readonly string[]; refused: readonly string[] }>, protocol: readonly string[]): void {
  const granted = new Set<string>();
  const refused = new Set<string>();
  for (const d of decisions) {
    if (d.granted.length) grant.addResourceScope(d.indicator, [...d.granted]);
    if (d.refused.length) grant.rejectResourceScope(d.indicator, [...d.refused]);
    d.granted.forEach((x) => granted.add(x));
    d.refused.forEach((x) => refused.add(x));
  }
  const oidc = [...protocol, ...granted];
  if (oidc.length) grant.addOIDCScope(oidc);
  const rejected = [...refused].filter((x) => !granted.has(x));
  if (rejected.length) grant.rejectOIDCScope(rejected);
}

/** Grants built from remembered consent: they satisfy the consent prompt without asking again. */
const rememberedGrants = new WeakSet<object>();

const requestedScopes = (ctx: KoaContextWithOIDC): string[] => [...ctx.oidc.requestParamScopes];

export function buildProvider(d: ProviderDeps): Provider {
  const { config: cfg, resourceFor } = d;
  const issuerUrl = new URL(d.issuer);
  // Fixed per provider: a provider built before a rotation keeps signing with the key in its own keystore.
  const signingKid = d.keys.currentKid;

  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  // An account removed while signed in: ask to sign in again instead of failing.
  login.checks.add(new interactionPolicy.Check('account_gone', 'the signed-in account no longer exists', 'login_required',
    (ctx) => !!ctx.oidc.session?.accountId && !ctx.oidc.account));
  const consent = policy.get('consent')!;
  // Replaced by remembered consent: oidc-provider would ask native clients every time.
  consent.checks.remove('native_client_prompt');
  // Without this, a request whose scopes are all granted or unknown would get a token silently for a new client.
  consent.checks.add(new interactionPolicy.Check('client_not_approved', 'the user has not approved this client', 'consent_required',
    (ctx) => !ctx.oidc.result?.consent && !(ctx.oidc.grant && rememberedGrants.has(ctx.oidc.grant))), 0);

  const configuration: Configuration = {
    adapter: createAdapterFactory(d.records, {
      ...(d.metadataDocuments ? { resolveClient: async (id: string) => (looksLikeMetadataUrl(id) ? d.metadataDocuments!.resolve(id) : undefined) } : {}),
      onReplay: (model, grantId) => d.log.warn({ model, grantId }, 'concurrent reuse of a one-time credential: grant revoked'),
    }),
    clients: d.preRegistered,
    jwks: { keys: d.keys.privateJwks() as never },
    findAccount: async (_ctx, sub): Promise<Account | undefined> => {
      const a = await d.accounts(sub);
      return a && { accountId: a.id, claims: () => ({ sub: a.id }) };
    },
    responseTypes: ['code'],
    pkce: { required: () => true },
    scopes: [...new Set([...PROTOCOL_SCOPES, ...d.scopes.resourceScopes])],
    claims: { openid: ['sub'] },
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post'],
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: 'ES256',
    },
    enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
    allowOmittingSingleRegisteredRedirectUri: false,
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: false },
      introspection: { enabled: false },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      requestObjects: { enabled: false },
      claimsParameter: { enabled: false },
      clientCredentials: { enabled: false },
      deviceFlow: { enabled: false },
      // The resource server checks bearer tokens; a DPoP-bound token it cannot verify must not be issued.
      dPoP: { enabled: false },
      registration: { enabled: cfg.dynamicRegistration, initialAccessToken: false, issueRegistrationAccessToken: false },
      registrationManagement: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => {
          if (oneOf) return oneOf;
          throw new errors.InvalidTarget('the resource parameter is required: the canonical URI of the MCP endpoint (RFC 8707)');
        },
        getResourceServerInfo: (_ctx, indicator) => {
          const r = resourceFor(indicator);
          if (!r) throw new errors.InvalidTarget('resource is not an MCP endpoint of this gateway');
          return {
            scope: d.scopes.resourceScopes.join(' '),
            audience: r.uri,
            accessTokenTTL: cfg.accessTokenTtlSeconds,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256', kid: signingKid } },
          };
        },
        useGrantedResource: () => true,
      },
    },
    ttl: {
      AccessToken: cfg.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      IdToken: cfg.accessTokenTtlSeconds,
      Interaction: INTERACTION_TTL_SECONDS,
      Session: SESSION_TTL_SECONDS,
      Grant: cfg.refreshTokenTtlSeconds + cfg.accessTokenTtlSeconds,
      RefreshToken: (ctx) => {
        const rotated = ctx?.oidc?.entities.RotatedRefreshToken;
        return rotated ? Math.max(1, rotated.remainingTTL) : cfg.refreshTokenTtlSeconds;
      },
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    expiresWithSession: async () => false,
    extraTokenClaims: async (_ctx, token) => {
      if (token.kind !== 'AccessToken') return undefined;
      const a = token.accountId ? await d.accounts(token.accountId) : undefined;
      return { grant_id: token.grantId, roles: [...(a?.roles ?? [])], groups: [...(a?.groups ?? [])] };
    },
    loadExistingGrant: async (ctx) => {
      const { Grant } = ctx.oidc.provider;
      const decided = ctx.oidc.result?.consent?.grantId;
      if (decided) return Grant.find(decided);
      const accountId = ctx.oidc.session?.accountId;
      const clientId = ctx.oidc.client?.clientId;
      if (!accountId || !clientId) return undefined;
      const [account, remembered] = await Promise.all([d.accounts(accountId), d.consents.get(accountId, clientId)]);
      if (!account || !remembered) return undefined;
      const requested = requestedScopes(ctx);
      const decisions = [];
      for (const indicator of Object.keys(ctx.oidc.resourceServers ?? {})) {
        const r = resourceFor(indicator);
        const approved = r && remembered.resources[r.uri];
        if (!r || !approved) return undefined;
        const decision = d.scopes.decide({ id: account.id, groups: account.groups }, r.uri, requested);
        // Anything allowed but never approved needs the consent page.
        if (decision.granted.some((s) => !approved.includes(s))) return undefined;
        decisions.push({ indicator, ...decision });
      }
      const protocol = requested.filter((s) => (PROTOCOL_SCOPES as readonly string[]).includes(s));
      if (protocol.some((s) => !remembered.protocolScopes.includes(s))) return undefined;
      const grant = new Grant({ accountId, clientId });
      applyDecisions(grant, decisions, protocol);
      await grant.save();
      rememberedGrants.add(grant);
      return grant;
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `${issuerUrl.pathname}/interaction/${interaction.uid}`,
    },
    cookies: {
      names: { ...COOKIE_NAMES },
      long: { httpOnly: true, sameSite: 'lax', secure: true, path: '/' },
      short: { httpOnly: true, sameSite: 'lax', secure: true },
      keys: d.cookieKeys,
    },
    discovery: d.metadataDocuments ? { client_id_metadata_document_supported: true } : {},
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = messagePage('Authorization failed', `${out.error}: ${out.error_description ?? 'the request cannot be completed'}`);
    },
    fetch: d.fetch,
  };

  const provider = new Provider(d.issuer, configuration);
  provider.proxy = false;

  // Endpoint URLs derive from the request: make them the issuer's whatever Host the client used, and treat the
  // connection as secure. The gateway refuses a plain-http issuer that is not loopback (see index.ts), and browsers
  // accept Secure cookies from http://127.0.0.1 and http://localhost (potentially trustworthy origins).
  const scheme = issuerUrl.protocol.slice(0, -1);
  Object.defineProperty(provider.request, 'protocol', { get: () => scheme });
  Object.defineProperty(provider.request, 'secure', { get: () => true });

  // RFC 8252 loopback redirects: any port for 127.0.0.1 and [::1], exact otherwise (clients.ts).
  provider.Client.prototype.redirectUriAllowed = function redirectAllowed(this: { redirectUris: string[] }, value: string): boolean {
    return redirectUriAllowed(value, this.redirectUris);
  };

  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route === 'discovery' && ctx.body && typeof ctx.body === 'object') {
      (ctx.body as Record<string, unknown>).scopes_supported = d.scopes.supported;
    }
  });

  provider.on('server_error', (_ctx: unknown, err: Error) => d.log.error({ err: err.stack }, 'authorization server error'));
  // Errors that escape oidc-provider's own handling reach Koa, which would print them to the console.
  // (Provider is a Koa application; its typings list only the oidc-provider events.)
  (provider as unknown as NodeJS.EventEmitter).on('error', (err: Error) => d.log.error({ err: err.stack }, 'authorization server request failed'));
  provider.on('grant.revoked', (_ctx: unknown, grantId: string) => d.log.info({ grantId }, 'grant revoked'));
  const refused = (event: string) => (_ctx: unknown, err: { error?: string; error_description?: string }) =>
    d.log.debug({ event, error: err.error, description: err.error_description }, 'authorization server refused a request');
  provider.on('authorization.error', refused('authorization.error'));
  provider.on('grant.error', refused('grant.error'));
  provider.on('registration_create.error', refused('registration_create.error'));
  provider.on('revocation.error', refused('revocation.error'));
  return provider;
}
