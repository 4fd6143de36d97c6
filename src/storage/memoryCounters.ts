/**
 * CounterStore in process memory: the reference implementation, and what the SQLite driver uses for the counters
 * that mean nothing after a restart (token buckets, concurrency slots). Every operation is synchronous under the
 * async contract, so each is atomic within the process.
 */
import type { BucketSpec, CounterStore, CountResult, TakeResult } from './types.js';

interface Bucket { tokens: number; at: number }
interface StoredBucket extends Bucket { fullAt: number }
interface Counter { count: number; resetAt: number }

const key = (ns: string, k: string) => `${ns}\u0000${k}`;

/** The bucket arithmetic every driver applies (the SQL and Lua versions spell out the same steps). */
export function takeFrom(b: Bucket | undefined, spec: BucketSpec, cost: number, now: number): { next: Bucket; result: TakeResult } {
  const elapsed = b ? Math.max(0, now - b.at) : 0;
  const level = b ? Math.min(spec.capacity, b.tokens + (elapsed * spec.refillPerSecond) / 1000) : spec.capacity;
  if (level >= cost) return { next: { tokens: level - cost, at: now }, result: { ok: true, remaining: Math.floor(level - cost), retryAfterMs: 0 } };
  const retryAfterMs = cost > spec.capacity ? Infinity : Math.ceil(((cost - level) * 1000) / spec.refillPerSecond);
  return { next: { tokens: level, at: now }, result: { ok: false, remaining: Math.floor(level), retryAfterMs } };
}

/** Milliseconds until a bucket at `tokens` is full again: after that it is the same as no bucket at all. */
export function untilFull(tokens: number, spec: BucketSpec): number {
  return Math.ceil(((spec.capacity - tokens) * 1000) / spec.refillPerSecond);
}

export interface MemoryCounters extends CounterStore {
  /** Drops what has expired (buckets back to full, counters past their reset, leases past their expiry). */
  sweep(now: number): void;
}

export function createMemoryCounters(): MemoryCounters {
  const buckets = new Map<string, StoredBucket>();
  const counters = new Map<string, Counter>();
  const slots = new Map<string, Map<string, number>>();

  return {
    async take(ns, k, spec, cost, now) {
      const id = key(ns, k);
      const { next, result } = takeFrom(buckets.get(id), spec, cost, now);
      buckets.set(id, { ...next, fullAt: now + untilFull(next.tokens, spec) });
      return result;
    },
    async increment(ns, k, amount, limit, resetAt, now): Promise<CountResult> {
      const id = key(ns, k);
      let c = counters.get(id);
      if (!c || c.resetAt <= now) counters.set(id, (c = { count: 0, resetAt }));
      if (c.count + amount > limit) return { ok: false, count: c.count };
      c.count += amount;
      return { ok: true, count: c.count };
    },
    async count(ns, k, now) {
      const c = counters.get(key(ns, k));
      return c && c.resetAt > now ? c.count : 0;
    },
    async acquire(ns, k, limit, lease, expiresAt, now) {
      const id = key(ns, k);
      let held = slots.get(id);
      if (!held) slots.set(id, (held = new Map()));
      for (const [l, exp] of held) if (exp <= now) held.delete(l);
      if (held.size >= limit) return false;
      held.set(lease, expiresAt);
      return true;
    },
    async release(ns, k, lease) {
      const id = key(ns, k);
      const held = slots.get(id);
      if (!held) return;
      held.delete(lease);
      if (held.size === 0) slots.delete(id);
    },
    sweep(now) {
      for (const [id, c] of counters) if (c.resetAt <= now) counters.delete(id);
      for (const [id, held] of slots) {
        for (const [l, exp] of held) if (exp <= now) held.delete(l);
        if (held.size === 0) slots.delete(id);
      }
      // A bucket that has refilled completely is the same as no bucket: forgetting it changes nothing.
      for (const [id, b] of buckets) if (b.fullAt <= now) buckets.delete(id);
    },
  };
}
