/**
 * Signing in to the console: it is a first-party, confidential OAuth client of the built-in authorization server
 * (authorization code + PKCE S256, openid-client), asking for the console itself as the resource (RFC 8707), so the
 * access token's audience is the console and is useless at any MCP endpoint (and the reverse). The code is
 * exchanged server-side; the token is verified like any other (signature, audience, expiry, revoked grant), read
 * for its roles and groups, and dropped: the browser never sees it.
 */
import { createHmac } from 'node:crypto';
import * as oidc from 'openid-client';
import type { GatewayConfig, PreRegisteredClient } from '../config/types.js';
import type { Identity } from '../identity/identity.js';
import type { Principal } from '../pipeline/context.js';
import { CONSOLE_ROLES, type ConsoleConfig, type ConsoleRole } from './config.js';
import { ConsoleError } from './http.js';

export const CONSOLE_CLIENT_ID = 'portcullis-console';

/** The console's client secret: derived from the gateway's "auth" secret, so it needs no configuration and survives restarts. */
export function consoleClientSecret(authSecret: Buffer): string {
  return createHmac('sha256', authSecret).update('portcullis console client').digest('base64url');
}

/** The configuration the identity layer is built from, with the console registered as a pre-registered client. */
export function withConsoleClient(config: GatewayConfig, redirectUri: string, secret: string): GatewayConfig {
  const client: PreRegisteredClient = { clientId: CONSOLE_CLIENT_ID, clientName: 'Portcullis console', redirectUris: [redirectUri], clientSecret: secret };
  const clients = [...config.auth.builtin.clients.filter((c) => c.clientId !== CONSOLE_CLIENT_ID), client];
  return { ...config, auth: { ...config.auth, builtin: { ...config.auth.builtin, clients } } };
}

/** Console roles a principal holds: those whose configured token roles or groups it carries. */
export function consoleRolesOf(principal: Pick<Principal, 'roles' | 'groups'>, cfg: ConsoleConfig): ConsoleRole[] {
  const held = new Set([...principal.roles, ...principal.groups]);
  return CONSOLE_ROLES.filter((r) => cfg.roles[r].some((x) => held.has(x)));
}

export class ConsoleSignIn {
  private readonly client: oidc.Configuration;

  constructor(private readonly identity: Identity, private readonly issuer: string, readonly redirectUri: string, readonly resource: string, secret: string) {
    const server: oidc.ServerMetadata = {
      issuer,
      authorization_endpoint: `${issuer}/auth`,
      token_endpoint: `${issuer}/token`,
      // oidc-provider sends iss with every authorization response (RFC 9207): insist on it (mix-up defence).
      authorization_response_iss_parameter_supported: true,
      code_challenge_methods_supported: ['S256'],
    };
    this.client = new oidc.Configuration(server, CONSOLE_CLIENT_ID, { client_secret: secret }, oidc.ClientSecretBasic(secret));
    // The issuer is https, or http on loopback only (the authorization server refuses anything else).
    if (issuer.startsWith('http:')) oidc.allowInsecureRequests(this.client);
  }

  /** Where to send the browser; the verifier stays on the server with the pending sign-in. */
  async authorizationUrl(state: string, verifier: string): Promise<string> {
    return oidc.buildAuthorizationUrl(this.client, {
      redirect_uri: this.redirectUri,
      resource: this.resource,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    }).href;
  }

  /** Redeems the code from the callback URL and returns the verified principal. */
  async complete(callbackUrl: URL, state: string, verifier: string): Promise<Principal> {
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(this.client, callbackUrl, { pkceCodeVerifier: verifier, expectedState: state, idTokenExpected: false }, { resource: this.resource });
    } catch (e) {
      const err = e as { error?: string; error_description?: string; message: string };
      throw new ConsoleError(400, `sign-in failed: ${err.error_description ?? err.error ?? err.message}`);
    }
    const result = await this.identity.verifier!.verify(tokens.access_token, this.resource, undefined);
    if (!result.ok) throw new ConsoleError(401, `sign-in failed: the access token was refused (${result.reason})`);
    if (result.principal.issuer !== this.issuer) throw new ConsoleError(401, 'sign-in failed: the token comes from another issuer');
    return result.principal;
  }
}

export const newVerifier = (): string => oidc.randomPKCECodeVerifier();
