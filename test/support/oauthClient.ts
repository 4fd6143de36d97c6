/** An in-memory OAuthClientProvider for the SDK client, as an MCP host would implement one. */
import type { OAuthClientMetadata, OAuthClientProvider, OAuthDiscoveryState, StoredOAuthClientInformation, StoredOAuthTokens } from '@modelcontextprotocol/client';

export class TestOAuthProvider implements OAuthClientProvider {
  info: StoredOAuthClientInformation | undefined;
  saved: StoredOAuthTokens | undefined;
  verifier = '';
  /** The last authorization URL the SDK asked to open. */
  authorizationUrl: URL | undefined;
  /** How many times the SDK asked for the user to authorize. */
  redirects = 0;

  constructor(private readonly redirectUri: string, readonly clientMetadataUrl?: string, private readonly name = 'Portcullis e2e client') {}

  get redirectUrl(): string { return this.redirectUri; }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.name,
      redirect_uris: [this.redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  clientInformation() { return this.info; }
  saveClientInformation(i: StoredOAuthClientInformation) { this.info = i; }
  tokens() { return this.saved; }
  saveTokens(t: StoredOAuthTokens) { this.saved = t; }
  /** Drop `prompt` from the authorization URL (the SDK asks for prompt=consent whenever it wants offline_access). */
  stripPrompt = false;
  redirectToAuthorization(url: URL) {
    if (this.stripPrompt) url.searchParams.delete('prompt');
    this.authorizationUrl = url;
    this.redirects++;
  }
  /** Kept with the code verifier so the callback leg is checked against the authorization server it started with. */
  discovery: OAuthDiscoveryState | undefined;
  saveDiscoveryState(d: OAuthDiscoveryState) { this.discovery = d; }
  discoveryState() { return this.discovery; }
  /** After invalid_grant (e.g. a revoked refresh token) the SDK drops the tokens and starts a fresh authorization. */
  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery') {
    if (scope === 'all' || scope === 'tokens') this.saved = undefined;
    if (scope === 'all' || scope === 'client') this.info = undefined;
    if (scope === 'all' || scope === 'verifier') this.verifier = '';
    if (scope === 'all' || scope === 'discovery') this.discovery = undefined;
  }
  saveCodeVerifier(v: string) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
}
