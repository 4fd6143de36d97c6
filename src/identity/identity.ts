/**
 * Identity at the HTTP edge: who is calling, established once per request before the body is read.
 *
 *   - OAuth 2.1 resource server (MCP authorization spec): a Bearer access token issued for the endpoint being called
 *     (audience = its canonical URI), by the built-in authorization server or a configured external issuer.
 *   - Mutual TLS: a verified client certificate names the principal when no token is presented, and binds tokens
 *     that carry cnf["x5t#S256"] (RFC 8705).
 *   - auth.mode "none": the single local principal (loopback binds only).
 *
 * The inbound token never leaves this module: the pipeline sees a Principal, and nothing upstream-bound reads the
 * Authorization header.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayConfig } from '../config/types.js';
import type { Logger } from '../core/log.js';
import type { Principal } from '../pipeline/context.js';
import { LOCAL_PRINCIPAL } from '../pipeline/stages/authenticate.js';
import type { RecordStore } from '../storage/types.js';
import { invalidRequest, invalidToken, insufficientScope, missingToken } from './resourceServer/challenge.js';
import { BUILTIN_CLAIMS } from './resourceServer/claims.js';
import { CachedKeySet, remoteKeySet } from './resourceServer/keys.js';
import { PRM_PREFIX, ResourceIndex, type ProtectedResource } from './resourceServer/resources.js';
import { TokenVerifier, type TrustedIssuer } from './resourceServer/verifier.js';
import { certificateThumbprint, peerCertificate, principalFromCertificate } from './tls/mtls.js';
import type { AuthServer } from './authServer/index.js';

/** The path the built-in authorization server lives under; its issuer is publicUrl + this. */
export const AUTH_SERVER_PATH = '/oauth';

/** RFC 6750 b64token. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

export interface IdentityOptions {
  config: GatewayConfig;
  /** scheme://host[:port] clients use; auth.publicUrl when set. */
  base: string;
  /** Every MCP route ("/servers/fs/mcp", "/mcp") with its endpoint's name. */
  routes: ReadonlyArray<{ mcpPath: string; name: string }>;
  records: RecordStore;
  secret: Buffer;
  log: Logger;
  /**
   * Whether the policy lets this principal use anything behind the MCP route: the built-in authorization server
   * grants an endpoint's scopes only then, so a token never carries access the policy would refuse anyway.
   */
  mayUse?: (principal: Principal, mcpPath: string) => boolean;
}

export class Identity {
  private constructor(
    private readonly config: GatewayConfig,
    readonly resources: ResourceIndex,
    readonly verifier: TokenVerifier | undefined,
    readonly authServer: AuthServer | undefined,
    private readonly log: Logger,
  ) {}

  static async create(o: IdentityOptions): Promise<Identity> {
    const auth = o.config.auth;
    const resources = new ResourceIndex(o.base);
    for (const r of o.routes) resources.add(r.mcpPath, r.name);
    if (auth.mode === 'none') return new Identity(o.config, resources, undefined, undefined, o.log);

    const trusted: TrustedIssuer[] = [];
    let authServer: AuthServer | undefined;
    // With no endpoint there is nothing to issue tokens for; the authorization server starts with the first one.
    if (auth.builtin.enabled && o.routes.length > 0) {
      // Loaded only when used: the authorization server brings oidc-provider and its web stack.
      const { createAuthServer } = await import('./authServer/index.js');
      authServer = await createAuthServer({
        config: auth.builtin,
        issuer: o.base + AUTH_SERVER_PATH,
        resources: resources.all().map((r) => ({ uri: r.uri, name: r.name })),
        records: o.records,
        log: o.log.child({ component: 'oauth' }),
        secret: o.secret,
        ...(o.mayUse ? { scopesFor: scopesByPolicy(o.base + AUTH_SERVER_PATH, resources, o.mayUse) } : {}),
      });
      const as = authServer;
      const keys = new CachedKeySet(async () => (await as.publicJwks()) as never, { cooldownMs: 1000, maxAgeMs: 60_000 });
      trusted.push({
        issuer: as.issuer,
        keys,
        algorithms: ['ES256', 'EdDSA', 'RS256', 'PS256'],
        claims: BUILTIN_CLAIMS,
        typ: 'at+jwt',
        isRevoked: async (payload) => typeof payload.grant_id !== 'string' || (await as.isGrantRevoked(payload.grant_id)),
      });
    }
    for (const i of auth.issuers) {
      trusted.push({
        issuer: i.issuer,
        keys: remoteKeySet(i.issuer, i.jwksUri, i.allowPrivateNetworks, o.log),
        algorithms: i.algorithms,
        audience: i.audience,
        claims: i.claims,
      });
    }
    const verifier = new TokenVerifier(trusted, { clockSkewSeconds: auth.clockSkewSeconds, log: o.log });
    return new Identity(o.config, resources, verifier, authServer, o.log);
  }

  get enabled(): boolean {
    return this.verifier !== undefined;
  }

  /** The scopes a client is told to ask for (challenges, scopes_supported). */
  private get requiredScopes(): readonly string[] {
    return this.config.auth.requiredScopes;
  }

  /**
   * The principal behind a request to the MCP route `mcpPath`, or a GatewayError carrying the challenge
   * (401/403 with WWW-Authenticate, 400 for a malformed request).
   */
  async authenticate(req: IncomingMessage, mcpPath: string): Promise<Principal> {
    if (!this.verifier) return LOCAL_PRINCIPAL;
    const resource = this.resources.forMcpPath(mcpPath);
    if (!resource) throw new Error(`no protected resource for ${mcpPath}`);

    // MCP forbids tokens in the query string (they end up in logs and Referer headers).
    const q = (req.url ?? '').indexOf('?');
    if (q >= 0 && new URLSearchParams(req.url!.slice(q + 1)).has('access_token')) throw invalidRequest(resource, 'access tokens are accepted only in the Authorization header');

    const cert = this.config.server.tls?.clientCa ? peerCertificate(req) : undefined;
    const thumbprint = cert?.authorized ? certificateThumbprint(cert.cert) : undefined;
    const authorization = req.headers.authorization;

    if (authorization === undefined) {
      if (cert?.authorized) {
        const p = principalFromCertificate(cert.cert, this.config.auth.mtls);
        if (p) return p;
      }
      throw missingToken(resource, this.requiredScopes);
    }
    const m = BEARER.exec(authorization);
    if (!m) throw invalidRequest(resource, 'the Authorization header must be "Bearer <token>"');

    const result = await this.verifier.verify(m[1]!, resource.uri, thumbprint);
    if (!result.ok) {
      this.log.info({ reason: result.reason, detail: result.detail, resource: resource.uri }, 'access token refused');
      throw invalidToken(resource, this.requiredScopes);
    }
    const principal = result.principal;
    if (this.config.auth.mtls.requireBoundTokens && thumbprint === undefined) throw invalidToken(resource, this.requiredScopes);
    if (this.config.auth.mtls.requireBoundTokens && (principal.attributes.cnf as Record<string, unknown> | undefined)?.['x5t#S256'] === undefined) {
      this.log.info({ resource: resource.uri }, 'access token refused: not certificate-bound');
      throw invalidToken(resource, this.requiredScopes);
    }
    const missing = this.requiredScopes.filter((s) => !principal.scopes.includes(s));
    if (missing.length) throw insufficientScope(resource, [...new Set([...principal.scopes, ...this.requiredScopes])]);
    return principal;
  }

  /**
   * Serves Protected Resource Metadata (RFC 9728) and hands the authorization server its requests.
   * Returns false when the request is for neither.
   */
  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    if (path.startsWith(PRM_PREFIX)) {
      const resource = this.resources.forMetadataPath(path);
      if (!resource) return false;
      this.serveMetadata(req, res, resource);
      return true;
    }
    return this.authServer ? this.authServer.handle(req, res) : false;
  }

  private serveMetadata(req: IncomingMessage, res: ServerResponse, resource: ProtectedResource): void {
    // Public, read-only metadata: browser-based clients fetch it cross-origin.
    res.setHeader('access-control-allow-origin', '*');
    if (req.method === 'OPTIONS') { res.writeHead(204, { 'access-control-allow-methods': 'GET', 'access-control-allow-headers': 'mcp-protocol-version' }).end(); return; }
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { allow: 'GET, HEAD, OPTIONS' }).end(); return; }
    const doc = {
      resource: resource.uri,
      authorization_servers: this.verifier?.issuerIds ?? [],
      scopes_supported: [...new Set([...this.requiredScopes, ...(this.authServer ? this.config.auth.builtin.scopes : [])])],
      bearer_methods_supported: ['header'],
      resource_name: `Portcullis: ${resource.name}`,
      ...(this.config.auth.mtls.requireBoundTokens ? { tls_client_certificate_bound_access_tokens: true } : {}),
    };
    const body = JSON.stringify(doc);
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=300', 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  async close(): Promise<void> {
    await this.authServer?.close();
  }
}

/** The built-in server's scope decision: all requested scopes where the policy allows some use, none elsewhere. */
function scopesByPolicy(issuer: string, resources: ResourceIndex, mayUse: (p: Principal, mcpPath: string) => boolean) {
  return (account: { id: string; groups: readonly string[] }, resourceUri: string, requested: readonly string[]): readonly string[] => {
    const r = resources.forUri(resourceUri);
    if (!r) return [];
    // The principal its token will name (tokens of the built-in server carry the account's groups as roles too).
    const principal: Principal = {
      subject: account.id, issuer, method: 'bearer', scopes: requested, roles: account.groups, groups: account.groups,
      attributes: {}, key: `${issuer} ${account.id}`,
    };
    return mayUse(principal, r.mcpPath) ? requested : [];
  };
}
