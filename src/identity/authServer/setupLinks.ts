/**
 * One-time "choose your password" links: a random token in the URL, only its SHA-256 stored, valid for 24 hours,
 * usable once. The first administrator gets one on first start; nothing here ever stores or logs a password.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { RecordStore } from '../../storage/types.js';

export const SETUP_NS = 'oauth:setupLinks';
export const SETUP_TTL_MS = 24 * 60 * 60 * 1000;

export const tokenHash = (token: string) => createHash('sha256').update(token).digest('base64url');

export class SetupLinks {
  constructor(private readonly records: RecordStore) {}

  /** A new token for `username`; earlier unused links for the account stop working. */
  async create(username: string): Promise<string> {
    for (const old of await this.records.findByTag(SETUP_NS, 'accountId', username)) await this.records.delete(SETUP_NS, old.key);
    const token = randomBytes(32).toString('base64url');
    await this.records.put(SETUP_NS, tokenHash(token), { username, createdAt: Date.now() }, { ttlMs: SETUP_TTL_MS, tags: { accountId: username } });
    return token;
  }

  /** The account a live, unused token is for. */
  async peek(token: string): Promise<string | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const v = await this.records.get(SETUP_NS, tokenHash(token));
    return v && v.usedAt === undefined && typeof v.username === 'string' ? v.username : undefined;
  }

  /** Marks the token used; exactly one caller gets the account name. */
  async consume(token: string): Promise<string | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const before = await this.records.consume(SETUP_NS, tokenHash(token), 'usedAt', Date.now());
    if (!before || before.usedAt !== undefined || typeof before.username !== 'string') return undefined;
    await this.records.delete(SETUP_NS, tokenHash(token));
    return before.username;
  }
}
