/**
 * Failed sign-ins counted per account name and per client address in fixed windows (`loginRateLimit`). When either
 * count reaches `maxAttempts` further attempts are refused without checking the password until the window ends.
 * Counters live in the RecordStore so replicas share them. An unknown account name is counted like a known one,
 * so the limiter does not reveal which names exist.
 */
import type { RecordStore } from '../../storage/types.js';

export const LOGIN_FAILURES_NS = 'oauth:loginFailures';

interface Window {
  count: number;
  /** Epoch ms when the window ends. */
  resetAt: number;
}

export class LoginLimiter {
  constructor(private readonly records: RecordStore, private readonly maxAttempts: number, private readonly windowMs: number) {}

  /** Seconds until sign-in is possible again for these keys, or 0 when allowed now. */
  async blockedFor(keys: readonly string[]): Promise<number> {
    const now = Date.now();
    let wait = 0;
    for (const key of keys) {
      const w = (await this.records.get(LOGIN_FAILURES_NS, key)) as Window | undefined;
      if (w && w.count >= this.maxAttempts && w.resetAt > now) wait = Math.max(wait, Math.ceil((w.resetAt - now) / 1000));
    }
    return wait;
  }

  async fail(keys: readonly string[]): Promise<void> {
    const now = Date.now();
    for (const key of keys) {
      const prior = (await this.records.get(LOGIN_FAILURES_NS, key)) as Window | undefined;
      const w: Window = prior && prior.resetAt > now ? { count: prior.count + 1, resetAt: prior.resetAt } : { count: 1, resetAt: now + this.windowMs };
      await this.records.put(LOGIN_FAILURES_NS, key, { ...w }, { ttlMs: Math.max(1, w.resetAt - now) });
    }
  }

  async reset(key: string): Promise<void> {
    await this.records.delete(LOGIN_FAILURES_NS, key);
  }
}

export const accountKey = (username: string) => `account:${username.trim().toLowerCase()}`;
export const addressKey = (address: string | undefined) => `address:${address ?? 'unknown'}`;
