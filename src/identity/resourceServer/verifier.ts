/**
 * Access-token verification for every request: a JWT signed by a trusted issuer's key with an allowed asymmetric
 * algorithm, issued by that issuer, for this endpoint (RFC 8707 audience), within its validity (small skew),
 * not revoked, and — when it is certificate-bound (RFC 8705) — arriving with that certificate.
 *
 * A verified token is cached until it expires, keyed by token and audience, so the hot path costs a map lookup;
 * revocation is re-checked at most every `revalidateMs`.
 */
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import type { ClaimMapping } from '../../config/types.js';
import type { Logger } from '../../core/log.js';
import type { Principal } from '../../pipeline/context.js';
import { principalFromClaims } from './claims.js';
import type { KeySource } from './keys.js';

export interface TrustedIssuer {
  issuer: string;
  keys: KeySource;
  algorithms: readonly string[];
  /** A fixed audience accepted instead of the endpoint's URI (providers that cannot bind tokens to a resource). */
  audience?: string | undefined;
  claims: ClaimMapping;
  /** Required JOSE "typ" (RFC 9068 "at+jwt"): keeps ID tokens and other JWTs of the issuer out. */
  typ?: string | undefined;
  /** Whether the grant behind a verified token has been revoked. */
  isRevoked?: ((payload: JWTPayload) => Promise<boolean>) | undefined;
}

export type VerifyFailure = 'malformed' | 'untrusted-issuer' | 'invalid' | 'expired' | 'revoked' | 'unbound' | 'no-subject' | 'keys-unavailable';

export type VerifyResult = { ok: true; principal: Principal } | { ok: false; reason: VerifyFailure; detail?: string };

interface CacheEntry {
  principal: Principal;
  payload: JWTPayload;
  issuer: TrustedIssuer;
  expiresAt: number;
  checkedAt: number;
  /** cnf["x5t#S256"], when the token is certificate-bound. */
  boundTo: string | undefined;
}

export interface VerifierOptions {
  clockSkewSeconds: number;
  cacheSize?: number;
  revalidateMs?: number;
  log: Logger;
}

export class TokenVerifier {
  private readonly issuers = new Map<string, TrustedIssuer>();
  private readonly cache = new Map<string, CacheEntry>();
  private readonly cacheSize: number;
  private readonly revalidateMs: number;

  constructor(issuers: readonly TrustedIssuer[], private readonly opts: VerifierOptions) {
    for (const i of issuers) this.issuers.set(i.issuer, i);
    this.cacheSize = opts.cacheSize ?? 10_000;
    this.revalidateMs = opts.revalidateMs ?? 1000;
  }

  get issuerIds(): string[] {
    return [...this.issuers.keys()];
  }

  /** Forgets every cached verification (after a revocation in this process). */
  flush(): void {
    this.cache.clear();
  }

  async verify(token: string, audience: string, certThumbprint: string | undefined): Promise<VerifyResult> {
    const cacheKey = `${audience}\n${token}`;
    const now = Date.now();
    const hit = this.cache.get(cacheKey);
    if (hit) {
      if (now >= hit.expiresAt + this.opts.clockSkewSeconds * 1000) {
        this.cache.delete(cacheKey);
        return { ok: false, reason: 'expired' };
      }
      if (hit.boundTo !== undefined && hit.boundTo !== certThumbprint) return { ok: false, reason: 'unbound' };
      if (hit.issuer.isRevoked && now - hit.checkedAt > this.revalidateMs) {
        if (await hit.issuer.isRevoked(hit.payload)) {
          this.cache.delete(cacheKey);
          return { ok: false, reason: 'revoked' };
        }
        hit.checkedAt = now;
      }
      return { ok: true, principal: certThumbprint === hit.principal.certThumbprint ? hit.principal : { ...hit.principal, certThumbprint } };
    }
    return this.verifyFresh(token, audience, certThumbprint, cacheKey);
  }

  private async verifyFresh(token: string, audience: string, certThumbprint: string | undefined, cacheKey: string): Promise<VerifyResult> {
    let iss: unknown;
    try {
      decodeProtectedHeader(token);
      iss = decodeJwt(token).iss;
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    const trusted = typeof iss === 'string' ? this.issuers.get(iss) : undefined;
    if (!trusted) return { ok: false, reason: 'untrusted-issuer', detail: typeof iss === 'string' ? iss : undefined };

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, trusted.keys.getKey, {
        issuer: trusted.issuer,
        audience: trusted.audience ?? audience,
        algorithms: [...trusted.algorithms],
        clockTolerance: this.opts.clockSkewSeconds,
        requiredClaims: ['exp'],
        ...(trusted.typ ? { typ: trusted.typ } : {}),
      }));
    } catch (e) {
      if (e instanceof joseErrors.JWTExpired) return { ok: false, reason: 'expired' };
      if (e instanceof joseErrors.JWKSNoMatchingKey || e instanceof joseErrors.JOSEError) return { ok: false, reason: 'invalid', detail: (e as Error).message };
      this.opts.log.warn({ issuer: trusted.issuer, err: (e as Error).message }, 'cannot load the signing keys of a trusted issuer');
      return { ok: false, reason: 'keys-unavailable' };
    }

    const boundTo = boundThumbprint(payload);
    if (boundTo !== undefined && boundTo !== certThumbprint) return { ok: false, reason: 'unbound' };
    if (trusted.isRevoked && (await trusted.isRevoked(payload))) return { ok: false, reason: 'revoked' };
    const principal = principalFromClaims(payload, trusted.claims, certThumbprint);
    if (!principal) return { ok: false, reason: 'no-subject' };

    if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
    const now = Date.now();
    this.cache.set(cacheKey, { principal, payload, issuer: trusted, expiresAt: (payload.exp as number) * 1000, checkedAt: now, boundTo });
    return { ok: true, principal };
  }
}

function boundThumbprint(payload: JWTPayload): string | undefined {
  const cnf = payload.cnf as Record<string, unknown> | undefined;
  const t = cnf?.['x5t#S256'];
  return typeof t === 'string' ? t : undefined;
}
