/**
 * What a client is, whatever registered it (configuration, dynamic registration, a metadata document), and which
 * redirect URIs it may use.
 *
 * Redirect URIs match exactly, with one exception from RFC 8252 §7.3: for the loopback IP literals
 * http://127.0.0.1 and http://[::1] the port may differ from the registered one, because native apps listen on
 * a port the OS hands them. `localhost` matches exactly (RFC 8252 §8.3 advises against it: the name can resolve
 * elsewhere and firewalls treat it differently), so a client wanting any port must register the IP literal.
 */
import type { ClientMetadata } from 'oidc-provider';
import type { PreRegisteredClient } from '../../config/types.js';

/** Only these grants exist here: no implicit, no password, no client credentials. */
export const GRANT_TYPES = ['authorization_code', 'refresh_token'] as const;

const LOOPBACK_NAMES = new Set(['127.0.0.1', '[::1]', 'localhost']);

function parse(uri: string): URL | undefined {
  try { return new URL(uri); } catch { return undefined; }
}

/** Any redirect that lands on this machine (shown with a warning on the consent page). */
export function isLocalRedirect(uri: string): boolean {
  const u = parse(uri);
  return u !== undefined && ((u.protocol === 'http:' && LOOPBACK_NAMES.has(u.hostname)) || !['http:', 'https:'].includes(u.protocol));
}

/** Loopback IP literal redirect: scheme, host, optional port, then the rest compared verbatim. */
const LOOPBACK_IP_URI = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::\d{1,5})?(\/[^#]*)?$/;

/** The URI without its port, for loopback IP literals only; undefined for anything else. */
function withoutLoopbackPort(uri: string): string | undefined {
  const m = LOOPBACK_IP_URI.exec(uri);
  return m ? `http://${m[1]}${m[2] ?? ''}` : undefined;
}

export function redirectUriAllowed(requested: string, registered: readonly string[]): boolean {
  if (registered.includes(requested)) return true;
  const bare = withoutLoopbackPort(requested);
  return bare !== undefined && registered.some((r) => withoutLoopbackPort(r) === bare);
}

/**
 * "native" when a redirect lands on this machine or uses a private scheme (oidc-provider then accepts those URIs
 * and refuses https loopback ones); "web" otherwise.
 */
export function applicationTypeFor(redirectUris: readonly string[]): 'web' | 'native' {
  return redirectUris.some((u) => isLocalRedirect(u)) ? 'native' : 'web';
}

export function preRegisteredClient(c: PreRegisteredClient): ClientMetadata {
  return {
    client_id: c.clientId,
    ...(c.clientName ? { client_name: c.clientName } : {}),
    redirect_uris: [...c.redirectUris],
    application_type: applicationTypeFor(c.redirectUris),
    grant_types: [...GRANT_TYPES],
    response_types: ['code'],
    ...(c.clientSecret
      ? { client_secret: c.clientSecret, token_endpoint_auth_method: 'client_secret_basic' }
      : { token_endpoint_auth_method: 'none' }),
  };
}
