/**
 * Where the keys that sign access tokens come from. The built-in authorization server hands its public keys over
 * in-process; an external issuer's JWKS is fetched SSRF-safely, cached, and refetched when a token names a key id
 * we have not seen (key rotation), at most once per cooldown so a stream of bogus kids cannot make us hammer it.
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { safeFetchJson } from '../../egress/fetch.js';
import type { Logger } from '../../core/log.js';

export interface KeySource {
  /** A key resolver for jose's jwtVerify; throws when no key matches. */
  getKey: JWTVerifyGetKey;
}

type Loader = () => Promise<JSONWebKeySet>;

/**
 * Caches a JWKS and reloads it when a token's kid is unknown (no sooner than `cooldownMs` after the last load)
 * or when `maxAgeMs` has passed.
 */
export class CachedKeySet implements KeySource {
  private local: JWTVerifyGetKey | undefined;
  private kids = new Set<string>();
  private loadedAt = 0;
  private loading: Promise<void> | undefined;

  constructor(private readonly load: Loader, private readonly opts: { cooldownMs: number; maxAgeMs: number }) {}

  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const now = Date.now();
    const stale = now - this.loadedAt > this.opts.maxAgeMs;
    const unknownKid = header.kid !== undefined && !this.kids.has(header.kid) && now - this.loadedAt > this.opts.cooldownMs;
    if (!this.local || stale || unknownKid) await this.reload();
    return this.local!(header, token);
  };

  /** Drops the cache (the built-in server calls this after rotating its keys). */
  invalidate(): void {
    this.loadedAt = 0;
  }

  private reload(): Promise<void> {
    this.loading ??= (async () => {
      try {
        const jwks = await this.load();
        this.local = createLocalJWKSet(jwks);
        this.kids = new Set(jwks.keys.map((k) => k.kid).filter((k): k is string => typeof k === 'string'));
        this.loadedAt = Date.now();
      } finally {
        this.loading = undefined;
      }
    })();
    return this.loading;
  }
}

/** The jwks_uri of an issuer: configured, or from its discovery document (OIDC first, then RFC 8414). */
export async function discoverJwksUri(issuer: string, allowPrivateNetworks: boolean): Promise<string> {
  const u = new URL(issuer);
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
  const candidates = [
    `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`,
    `${u.origin}/.well-known/oauth-authorization-server${path}`,
  ];
  let lastError: unknown;
  for (const c of candidates) {
    try {
      const doc = await safeFetchJson(c, { allowPrivateNetworks, purpose: 'oidc', maxRedirects: 3 });
      // RFC 8414 §3.3: the document must name the issuer we asked about, or it may be an impostor's.
      if (doc.issuer !== issuer) throw new Error(`discovery document at ${c} names issuer ${String(doc.issuer)}`);
      if (typeof doc.jwks_uri !== 'string') throw new Error(`discovery document at ${c} has no jwks_uri`);
      return doc.jwks_uri;
    } catch (e) {
      lastError = e;
    }
  }
  throw new Error(`cannot discover the JWKS of ${issuer}: ${(lastError as Error).message}`);
}

export function remoteKeySet(issuer: string, jwksUri: string | undefined, allowPrivateNetworks: boolean, log: Logger): CachedKeySet {
  let uri = jwksUri;
  return new CachedKeySet(async () => {
    uri ??= await discoverJwksUri(issuer, allowPrivateNetworks);
    const doc = await safeFetchJson(uri, { allowPrivateNetworks, maxBytes: 512 * 1024, purpose: 'jwks', maxRedirects: 3 });
    if (!Array.isArray(doc.keys)) throw new Error(`JWKS at ${uri} has no keys array`);
    log.debug({ issuer, keys: doc.keys.length }, 'loaded issuer JWKS');
    return doc as unknown as JSONWebKeySet;
  }, { cooldownMs: 5_000, maxAgeMs: 10 * 60_000 });
}
