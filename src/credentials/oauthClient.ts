/**
 * The gateway as an OAuth client of one upstream's authorization server (openid-client does the protocol):
 * discovery (the configured issuer, or the one the upstream's Protected Resource Metadata names), authorization
 * code + PKCE S256 with the RFC 8707 resource, refresh, RFC 7009 revocation. Every request goes through the
 * egress path (src/egress) like the federated sign-in's.
 */
import * as oidc from 'openid-client';
import type { UpstreamOAuthConfig } from '../config/types.js';
import { safeFetchJson } from '../egress/fetch.js';
import { safeFetchApi } from '../identity/authServer/outbound.js';

/** What a token response leaves for the store. */
export interface IssuedTokens {
  accessToken: string;
  refreshToken?: string | undefined;
  /** Epoch ms; undefined when the server did not say. */
  expiresAt?: number | undefined;
  scope?: string | undefined;
}

/** The authorization server refused (invalid_grant and friends), as opposed to being unreachable. */
export class OAuthRefusal extends Error {
  constructor(message: string, readonly error: string) {
    super(message);
    this.name = 'OAuthRefusal';
  }
}

export class UpstreamOAuthClient {
  private config: Promise<oidc.Configuration> | undefined;
  /** The RFC 8707 resource every token is requested for. */
  readonly resource: string;

  constructor(readonly upstream: string, private readonly cfg: UpstreamOAuthConfig, upstreamUrl: string, private readonly redirectUri: () => string) {
    this.resource = cfg.resource ?? upstreamUrl;
  }

  /** The authorization request URL (PKCE S256; the verifier stays with the gateway). */
  async authorizationUrl(state: string, verifier: string): Promise<string> {
    const config = await this.configuration();
    const params: Record<string, string> = {
      redirect_uri: this.redirectUri(),
      response_type: 'code',
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      resource: this.resource,
    };
    if (this.cfg.scopes.length) params.scope = this.cfg.scopes.join(' ');
    return oidc.buildAuthorizationUrl(config, params).href;
  }

  /** Exchanges the callback's code (state and, when the server sends it, `iss` are checked by openid-client). */
  async exchangeCode(callbackUrl: URL, state: string, verifier: string): Promise<IssuedTokens> {
    const config = await this.configuration();
    return this.grant(() => oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: verifier, expectedState: state }, { resource: this.resource, redirect_uri: this.redirectUri() }));
  }

  async refresh(refreshToken: string): Promise<IssuedTokens> {
    const config = await this.configuration();
    const issued = await this.grant(() => oidc.refreshTokenGrant(config, refreshToken, { resource: this.resource }));
    // A server that does not rotate refresh tokens leaves the old one valid.
    return { ...issued, refreshToken: issued.refreshToken ?? refreshToken };
  }

  /**
   * RFC 8693: exchanges a subject token (the gateway's identity assertion, a JWT) for an access token to the
   * upstream, bound to its resource.
   */
  async exchange(subjectToken: string): Promise<IssuedTokens> {
    const config = await this.configuration();
    const params: Record<string, string> = {
      subject_token: subjectToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      resource: this.resource,
    };
    if (this.cfg.scopes.length) params.scope = this.cfg.scopes.join(' ');
    return this.grant(() => oidc.genericGrantRequest(config, 'urn:ietf:params:oauth:grant-type:token-exchange', params));
  }

  /** The authorization server's issuer (the audience of identity assertions). */
  async issuer(): Promise<string> {
    return (await this.configuration()).serverMetadata().issuer;
  }

  get clientId(): string {
    return this.cfg.clientId;
  }

  /** RFC 7009 revocation; false when the server offers no revocation endpoint. */
  async revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<boolean> {
    const config = await this.configuration();
    if (!config.serverMetadata().revocation_endpoint) return false;
    try {
      await oidc.tokenRevocation(config, token, { token_type_hint: hint });
    } catch (e) {
      // RFC 7009 §2.2.1: a server may not revoke some token types (self-contained JWT access tokens); they expire.
      if (e instanceof oidc.ResponseBodyError && e.error === 'unsupported_token_type') return false;
      throw e;
    }
    return true;
  }

  private async grant(run: () => Promise<oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers>): Promise<IssuedTokens> {
    let r: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers;
    try {
      r = await run();
    } catch (e) {
      if (e instanceof oidc.ResponseBodyError) throw new OAuthRefusal(`${this.upstream}'s authorization server refused: ${e.error}`, e.error);
      if (e instanceof oidc.AuthorizationResponseError) throw new OAuthRefusal(`${this.upstream}'s authorization server refused: ${e.error}`, e.error);
      throw e;
    }
    if (r.token_type.toLowerCase() !== 'bearer') throw new OAuthRefusal(`${this.upstream}'s authorization server issued a ${r.token_type} token; only Bearer is supported`, 'unsupported_token_type');
    const expiresIn = r.expiresIn();
    return { accessToken: r.access_token, refreshToken: r.refresh_token, expiresAt: expiresIn === undefined ? undefined : Date.now() + expiresIn * 1000, scope: r.scope };
  }

  private configuration(): Promise<oidc.Configuration> {
    if (!this.config) {
      this.config = this.discover();
      // A failed discovery is retried by the next user rather than remembered.
      this.config.catch(() => { this.config = undefined; });
    }
    return this.config;
  }

  private async discover(): Promise<oidc.Configuration> {
    const allowPrivate = this.cfg.allowPrivateNetworks;
    const issuer = this.cfg.issuer ?? await this.issuerFromResourceMetadata();
    const fetchApi = safeFetchApi(allowPrivate) as oidc.CustomFetch;
    const insecure = allowPrivate && issuer.startsWith('http:');
    const secret = this.cfg.clientSecret;
    const found = await oidc.discovery(new URL(issuer), this.cfg.clientId, undefined, oidc.None(), {
      [oidc.customFetch]: fetchApi,
      ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}),
    });
    const server = found.serverMetadata();
    const methods = server.token_endpoint_auth_methods_supported;
    const auth = !secret ? oidc.None() : !methods || methods.includes('client_secret_basic') ? oidc.ClientSecretBasic(secret) : oidc.ClientSecretPost(secret);
    const config = new oidc.Configuration(server, this.cfg.clientId, secret ? { client_secret: secret } : undefined, auth);
    config[oidc.customFetch] = fetchApi;
    if (insecure) oidc.allowInsecureRequests(config);
    return config;
  }

  /** RFC 9728: the upstream's Protected Resource Metadata names its authorization server(s). */
  private async issuerFromResourceMetadata(): Promise<string> {
    const u = new URL(this.resource);
    const where = `${u.origin}/.well-known/oauth-protected-resource${u.pathname === '/' ? '' : u.pathname}`;
    const prm = await safeFetchJson(where, { allowPrivateNetworks: this.cfg.allowPrivateNetworks, purpose: 'oidc' });
    const servers = prm.authorization_servers;
    if (!Array.isArray(servers) || typeof servers[0] !== 'string') throw new Error(`${where} names no authorization server; set credentials.oauth.issuer`);
    return servers[0];
  }
}
