/**
 * Token signing keys (ES256), generated on first use and kept in the RecordStore sealed with the gateway's secret
 * (AES-256-GCM), so a copy of the database alone does not yield them.
 *
 * Rotation: once the newest key is `keyRotationDays` old a new one is made and signs from then on; the previous one
 * stays published (JWKS) for `overlapMs` — long enough for every token it signed to expire — and then its record
 * expires. Replicas sharing the store pick up each other's keys on `refresh`.
 */
import { createCipheriv, createDecipheriv, generateKeyPairSync, hkdfSync, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Logger } from '../../core/log.js';
import type { RecordStore } from '../../storage/types.js';

export const KEYS_NS = 'oauth:keys';

export interface SigningKeysOptions {
  records: RecordStore;
  secret: Buffer;
  rotationMs: number;
  /** How long a replaced key stays published: the longest lifetime of a token it may have signed, plus skew. */
  overlapMs: number;
  now: () => number;
  log: Logger;
}

interface KeyEntry {
  kid: string;
  createdAt: number;
  /** Set once replaced: published until then. */
  retireAt?: number;
  jwk: JWK;
}

interface StoredKey {
  kid: string;
  createdAt: number;
  retireAt?: number;
  sealed: string;
}

export class SigningKeys {
  private entries: KeyEntry[] = [];
  private readonly sealKey: Buffer;

  constructor(private readonly o: SigningKeysOptions) {
    this.sealKey = Buffer.from(hkdfSync('sha256', o.secret, Buffer.alloc(0), 'portcullis oauth signing keys', 32));
  }

  /** The kid that signs now. */
  get currentKid(): string {
    const k = this.entries[0];
    if (!k) throw new Error('signing keys not loaded');
    return k.kid;
  }

  /** Private JWKs for the provider's keystore, the signing key first. */
  privateJwks(): JWK[] {
    return this.entries.map((e) => ({ ...e.jwk }));
  }

  publicJwks(): { keys: JWK[] } {
    return { keys: this.entries.map(({ jwk }) => ({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, kid: jwk.kid, alg: jwk.alg, use: 'sig' })) };
  }

  /** A fingerprint of the published set: when it changes the provider must be rebuilt. */
  get version(): string {
    return this.entries.map((e) => `${e.kid}:${e.retireAt ?? ''}`).join(',');
  }

  /** Loads the stored keys and rotates when the signing key is due. Returns true when the set changed. */
  async refresh(): Promise<boolean> {
    const before = this.version;
    const now = this.o.now();
    let entries = await this.load(now);
    const current = entries[0];
    if (!current || now - current.createdAt >= this.o.rotationMs) {
      entries = await this.rotate(entries, now);
    }
    this.entries = entries;
    return this.version !== before;
  }

  /** Makes a new signing key now, whatever the age of the current one. */
  async rotateNow(): Promise<void> {
    const now = this.o.now();
    this.entries = await this.rotate(await this.load(now), now);
  }

  private async rotate(entries: KeyEntry[], now: number): Promise<KeyEntry[]> {
    const fresh = await this.generate(now);
    await this.store(fresh);
    for (const old of entries) {
      if (old.retireAt === undefined) {
        old.retireAt = now + this.o.overlapMs;
        await this.store(old);
      }
    }
    this.o.log.info({ kid: fresh.kid, previous: entries.map((e) => e.kid) }, 'token signing key rotated');
    return [fresh, ...entries];
  }

  private async load(now: number): Promise<KeyEntry[]> {
    const out: KeyEntry[] = [];
    for (const { value } of await this.o.records.list(KEYS_NS)) {
      const s = value as unknown as StoredKey;
      if (s.retireAt !== undefined && s.retireAt <= now) continue;
      const jwk = this.unseal(s.sealed);
      if (!jwk) {
        this.o.log.warn({ kid: s.kid }, 'a stored signing key cannot be read with this secret; ignoring it');
        continue;
      }
      out.push({ kid: s.kid, createdAt: s.createdAt, ...(s.retireAt !== undefined ? { retireAt: s.retireAt } : {}), jwk });
    }
    // Newest first: the signing key leads; among equals, the one still in service.
    return out.sort((a, b) => b.createdAt - a.createdAt || (a.retireAt ?? Infinity) - (b.retireAt ?? Infinity) || (a.kid < b.kid ? -1 : 1));
  }

  private async store(e: KeyEntry): Promise<void> {
    const value: StoredKey = { kid: e.kid, createdAt: e.createdAt, sealed: this.seal(e.jwk), ...(e.retireAt !== undefined ? { retireAt: e.retireAt } : {}) };
    const ttlMs = e.retireAt === undefined ? undefined : Math.max(1, e.retireAt - this.o.now());
    await this.o.records.put(KEYS_NS, e.kid, { ...value }, ttlMs === undefined ? {} : { ttlMs });
  }

  private async generate(now: number): Promise<KeyEntry> {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = privateKey.export({ format: 'jwk' }) as JWK;
    const kid = await calculateJwkThumbprint({ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y! });
    return { kid, createdAt: now, jwk: { ...jwk, kid, alg: 'ES256', use: 'sig' } };
  }

  private seal(jwk: JWK): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.sealKey, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(jwk), 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  private unseal(sealed: string): JWK | undefined {
    try {
      const raw = Buffer.from(sealed, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', this.sealKey, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as JWK;
    } catch {
      return undefined;
    }
  }
}
