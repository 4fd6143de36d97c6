/**
 * CounterStore for the embedded driver. Window counters (quotas) are rows of the `counters` table, so they survive
 * a restart; one UPSERT statement is the atomic step. Token buckets and concurrency slots stay in process memory:
 * an embedded gateway is one process, and neither means anything after a restart (a bucket refills, a slot's
 * holder is gone).
 */
import type Database from 'better-sqlite3';
import { createMemoryCounters } from './memoryCounters.js';
import type { CounterStore } from './types.js';

export interface SqliteCounters {
  store: CounterStore;
  sweep(now: number): void;
}

export function createSqliteCounters(db: Database.Database): SqliteCounters {
  const volatile = createMemoryCounters();
  const q = {
    // A counter past its reset starts over from 0 with the new reset time; `ok` records whether this step counted.
    increment: db.prepare(`INSERT INTO counters (namespace, key, count, reset_at, ok)
        VALUES (@ns, @key, CASE WHEN @amount <= @limit THEN @amount ELSE 0 END, @resetAt, @amount <= @limit)
      ON CONFLICT (namespace, key) DO UPDATE SET
        ok = (CASE WHEN reset_at <= @now THEN 0 ELSE count END) + @amount <= @limit,
        count = CASE WHEN (CASE WHEN reset_at <= @now THEN 0 ELSE count END) + @amount <= @limit
                     THEN (CASE WHEN reset_at <= @now THEN 0 ELSE count END) + @amount
                     ELSE (CASE WHEN reset_at <= @now THEN 0 ELSE count END) END,
        reset_at = CASE WHEN reset_at <= @now THEN @resetAt ELSE reset_at END
      RETURNING count, ok`),
    count: db.prepare('SELECT count FROM counters WHERE namespace = ? AND key = ? AND reset_at > ?').pluck(),
    sweep: db.prepare('DELETE FROM counters WHERE reset_at <= ?'),
  };
  return {
    store: {
      take: volatile.take,
      acquire: volatile.acquire,
      release: volatile.release,
      async increment(ns, key, amount, limit, resetAt, now) {
        const row = q.increment.get({ ns, key, amount, limit, resetAt, now }) as { count: number; ok: number };
        return { ok: row.ok === 1, count: row.count };
      },
      async count(ns, key, now) {
        return (q.count.get(ns, key, now) as number | undefined) ?? 0;
      },
    },
    sweep(now) {
      q.sweep.run(now);
      volatile.sweep(now);
    },
  };
}
