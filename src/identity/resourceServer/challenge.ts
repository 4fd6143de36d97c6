/**
 * The rejections of the resource server, as RFC 6750 / RFC 9728 challenges. Bodies never say which check a token
 * failed (that goes to the log): a probing client learns only that it must authorize.
 */
import { GatewayError } from '../../core/errors.js';
import type { ProtectedResource } from './resources.js';

const quote = (s: string): string => `"${s.replace(/["\\]/g, '\\$&')}"`;

function header(resource: ProtectedResource, params: Record<string, string | undefined>): string {
  const parts = [`resource_metadata=${quote(resource.metadataUrl)}`];
  for (const [k, v] of Object.entries(params)) if (v !== undefined) parts.push(`${k}=${quote(v)}`);
  return `Bearer ${parts.join(', ')}`;
}

/** 401 without an error code: the client presented nothing and should start the authorization flow. */
export function missingToken(resource: ProtectedResource, scopes: readonly string[]): GatewayError {
  return new GatewayError('PC_UNAUTHENTICATED', undefined, {
    headers: { 'www-authenticate': header(resource, { scope: scopes.length ? scopes.join(' ') : undefined }) },
  });
}

/** 401 invalid_token: bad signature, wrong issuer or audience, expired, revoked, unbound. */
export function invalidToken(resource: ProtectedResource, scopes: readonly string[]): GatewayError {
  return new GatewayError('PC_UNAUTHENTICATED', undefined, {
    headers: {
      'www-authenticate': header(resource, {
        error: 'invalid_token', error_description: 'The access token is invalid', scope: scopes.length ? scopes.join(' ') : undefined,
      }),
    },
  });
}

/** 400 invalid_request: a malformed Authorization header, or a token in the query string. */
export function invalidRequest(resource: ProtectedResource, description: string): GatewayError {
  return new GatewayError('PC_INVALID_REQUEST', description, {
    headers: { 'www-authenticate': header(resource, { error: 'invalid_request', error_description: description }) },
  });
}

/** 403 insufficient_scope with the scopes to ask for, so a client can step up. */
export function insufficientScope(resource: ProtectedResource, needed: readonly string[]): GatewayError {
  return new GatewayError('PC_INSUFFICIENT_SCOPE', undefined, {
    headers: { 'www-authenticate': header(resource, { error: 'insufficient_scope', scope: needed.join(' '), error_description: 'The access token lacks a required scope' }) },
  });
}
