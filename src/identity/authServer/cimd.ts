/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, the MCP default way to register):
 * the client_id is an https URL; the document at that URL is the client's registration.
 *
 * The document is fetched with safeFetch (no private addresses unless allowed, no redirects, bounded size and
 * time), checked (its client_id must equal the URL, redirect URIs present, a public client: token endpoint auth
 * "none", no secret), restricted to the trusted hosts when a list is configured, and cached for `cacheSeconds`.
 * Only the fields this server uses are kept; logo_uri and the like are dropped (pages load no outside assets).
 */
import type { AdapterPayload } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { BuiltinAuthServerConfig } from '../../config/types.js';
import type { Logger } from '../../core/log.js';
import { safeFetchJson, SafeFetchError } from '../../egress/fetch.js';
import { applicationTypeFor, GRANT_TYPES } from './clients.js';

type CimdConfig = BuiltinAuthServerConfig['clientIdMetadataDocuments'];

const MAX_DOCUMENT_BYTES = 16 * 1024;
const MAX_CACHE_ENTRIES = 500;

/** Whether this client_id is meant as a metadata document URL (then it is fetched, or refused, never looked up). */
export function looksLikeMetadataUrl(id: string): boolean {
  return /^https?:\/\//i.test(id);
}

/** Checks the client_id URL itself; returns the reason it cannot be one, or undefined. */
export function clientIdUrlProblem(id: string, cfg: CimdConfig): string | undefined {
  let url: URL;
  try { url = new URL(id); } catch { return 'client_id is not a URL'; }
  if (url.protocol !== 'https:' && !(cfg.allowPrivateNetworks && url.protocol === 'http:')) return 'client_id URL must use https';
  if (url.username || url.password) return 'client_id URL must not contain credentials';
  if (id.includes('#')) return 'client_id URL must not contain a fragment';
  if (url.pathname === '/' || url.pathname === '') return 'client_id URL must have a path';
  if (/(^|\/)(\.|%2e){1,2}(\/|$)/i.test(id.slice(id.indexOf('//') + 2))) return 'client_id URL must not contain dot segments';
  if (!hostAllowed(url, cfg.allowedHosts)) return `client_id host ${url.host} is not trusted by this server`;
  return undefined;
}

/** Exact host (with port when the entry has one) or "*.example.com" for any subdomain. */
export function hostAllowed(url: URL, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const host = url.hostname.toLowerCase();
  return allowed.some((raw) => {
    const entry = raw.toLowerCase();
    if (entry.startsWith('*.')) return host.endsWith(entry.slice(1)) && host.length > entry.length - 1;
    return entry.includes(':') ? url.host.toLowerCase() === entry : host === entry;
  });
}

/** Validates a fetched document and returns the client metadata kept from it. */
export function metadataFromDocument(id: string, doc: Record<string, unknown>): AdapterPayload {
  const fail = (why: string): never => { throw new errors.InvalidClientMetadata(`client metadata document: ${why}`); };
  if (doc.client_id !== id) fail('its client_id does not equal the URL it was fetched from');
  const redirects = doc.redirect_uris;
  if (!Array.isArray(redirects) || redirects.length === 0 || !redirects.every((u) => typeof u === 'string' && u.length > 0 && u.length <= 2000)) {
    fail('redirect_uris must be a non-empty array of URIs');
  }
  const method = doc.token_endpoint_auth_method ?? 'none';
  if (method !== 'none') fail(`token_endpoint_auth_method "${String(method)}" is not supported (only "none")`);
  if ('client_secret' in doc || 'client_secret_expires_at' in doc) fail('it must not contain a client secret');
  const name = typeof doc.client_name === 'string' && doc.client_name.trim() !== '' ? doc.client_name.trim().slice(0, 200) : undefined;
  const grants = Array.isArray(doc.grant_types) ? doc.grant_types.filter((g): g is string => (GRANT_TYPES as readonly unknown[]).includes(g)) : ['authorization_code'];
  if (!grants.includes('authorization_code')) fail('grant_types must include authorization_code');
  if (Array.isArray(doc.response_types) && !doc.response_types.includes('code')) fail('response_types must include code');
  const clientUri = typeof doc.client_uri === 'string' && /^https:\/\//i.test(doc.client_uri) ? doc.client_uri : undefined;
  const uris = redirects as string[];
  return {
    client_id: id,
    ...(name ? { client_name: name } : {}),
    ...(clientUri ? { client_uri: clientUri } : {}),
    redirect_uris: uris,
    application_type: applicationTypeFor(uris),
    grant_types: grants,
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
}

export class MetadataDocuments {
  private readonly cache = new Map<string, { payload: AdapterPayload; expiresAt: number }>();

  constructor(private readonly cfg: CimdConfig, private readonly log: Logger) {}

  /** The client described by the document at `id`; throws invalid_client / invalid_client_metadata when refused. */
  async resolve(id: string): Promise<AdapterPayload> {
    const problem = clientIdUrlProblem(id, this.cfg);
    if (problem) throw new errors.InvalidClient(problem);
    const hit = this.cache.get(id);
    if (hit && hit.expiresAt > Date.now()) return hit.payload;
    let doc: Record<string, unknown>;
    try {
      doc = await safeFetchJson(id, { allowPrivateNetworks: this.cfg.allowPrivateNetworks, maxBytes: MAX_DOCUMENT_BYTES, timeoutMs: 5000, purpose: 'client-metadata' });
    } catch (e) {
      const why = e instanceof SafeFetchError ? e.message : 'fetch failed';
      this.log.info({ clientId: id, reason: why }, 'client metadata document refused');
      throw new errors.InvalidClient(`client metadata document could not be fetched: ${why}`);
    }
    const payload = metadataFromDocument(id, doc);
    if (this.cfg.cacheSeconds > 0) {
      if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(id, { payload, expiresAt: Date.now() + this.cfg.cacheSeconds * 1000 });
    }
    return payload;
  }
}
