/**
 * CounterStore on PostgreSQL, shared by every replica. Buckets and window counters are rows of `counters`; each
 * operation is one INSERT … ON CONFLICT DO UPDATE, atomic under the row lock, and records in `ok` whether it
 * counted. Concurrency slots are rows of `counter_slots`, granted under a transaction-scoped advisory lock on the
 * key. Times are the caller's (epoch ms in BIGINT columns), as the contract says.
 */
import type { Pool } from 'pg';
import type { CounterStore } from './types.js';

export interface PostgresCounters {
  store: CounterStore;
  sweep(): Promise<void>;
}

export function createPostgresCounters(pool: Pool, S: string): PostgresCounters {
  // $3 capacity, $4 refill per ms, $5 cost, $6 now, $7 expires_at of the new state (when it is full again).
  const level = 'LEAST($3::float8, c.value + GREATEST(0, $6::bigint - c.updated_at) * $4::float8)';
  const sql = {
    take: `INSERT INTO ${S}.counters AS c (namespace, key, value, updated_at, expires_at, ok)
        VALUES ($1, $2, CASE WHEN $5::float8 <= $3::float8 THEN $3::float8 - $5::float8 ELSE $3::float8 END, $6, $7, $5::float8 <= $3::float8)
      ON CONFLICT (namespace, key) DO UPDATE SET
        ok = ${level} >= $5::float8,
        value = CASE WHEN ${level} >= $5::float8 THEN ${level} - $5::float8 ELSE ${level} END,
        updated_at = $6,
        expires_at = $7
      RETURNING value, ok`,
    // $3 amount, $4 limit, $5 reset_at, $6 now.
    increment: `INSERT INTO ${S}.counters AS c (namespace, key, value, updated_at, expires_at, ok)
        VALUES ($1, $2, CASE WHEN $3::float8 <= $4::float8 THEN $3::float8 ELSE 0 END, $6, $5, $3::float8 <= $4::float8)
      ON CONFLICT (namespace, key) DO UPDATE SET
        ok = (CASE WHEN c.expires_at <= $6 THEN 0 ELSE c.value END) + $3::float8 <= $4::float8,
        value = CASE WHEN (CASE WHEN c.expires_at <= $6 THEN 0 ELSE c.value END) + $3::float8 <= $4::float8
                     THEN (CASE WHEN c.expires_at <= $6 THEN 0 ELSE c.value END) + $3::float8
                     ELSE (CASE WHEN c.expires_at <= $6 THEN 0 ELSE c.value END) END,
        updated_at = $6,
        expires_at = CASE WHEN c.expires_at <= $6 THEN $5 ELSE c.expires_at END
      RETURNING value, ok`,
    count: `SELECT value FROM ${S}.counters WHERE namespace = $1 AND key = $2 AND expires_at > $3`,
    lock: 'SELECT pg_advisory_xact_lock(hashtext($1))',
    prune: `DELETE FROM ${S}.counter_slots WHERE namespace = $1 AND key = $2 AND expires_at <= $3`,
    grant: `INSERT INTO ${S}.counter_slots (namespace, key, lease, expires_at)
      SELECT $1, $2, $3, $4 WHERE (SELECT count(*) FROM ${S}.counter_slots WHERE namespace = $1 AND key = $2) < $5
      ON CONFLICT (namespace, key, lease) DO UPDATE SET expires_at = excluded.expires_at
      RETURNING 1`,
    release: `DELETE FROM ${S}.counter_slots WHERE namespace = $1 AND key = $2 AND lease = $3`,
  };
  // PostgreSQL's UPDATE SET sees the old row in every expression, so `ok` and `value` read the same level.
  const store: CounterStore = {
    async take(ns, key, spec, cost, now) {
      const perMs = spec.refillPerSecond / 1000;
      // Stored expiry: when the bucket will be full again (an expired row is the same as a full bucket).
      const { rows } = await pool.query<{ value: number; ok: boolean }>(sql.take, [ns, key, spec.capacity, perMs, cost, now, now + Math.ceil(spec.capacity / perMs)]);
      const row = rows[0]!;
      const value = Number(row.value);
      if (row.ok) return { ok: true, remaining: Math.floor(value), retryAfterMs: 0 };
      return { ok: false, remaining: Math.floor(value), retryAfterMs: cost > spec.capacity ? Infinity : Math.ceil((cost - value) / perMs) };
    },
    async increment(ns, key, amount, limit, resetAt, now) {
      const { rows } = await pool.query<{ value: number; ok: boolean }>(sql.increment, [ns, key, amount, limit, resetAt, now]);
      return { ok: rows[0]!.ok, count: Number(rows[0]!.value) };
    },
    async count(ns, key, now) {
      const { rows } = await pool.query<{ value: number }>(sql.count, [ns, key, now]);
      return rows[0] ? Number(rows[0].value) : 0;
    },
    async acquire(ns, key, limit, lease, expiresAt, now) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        await client.query(sql.lock, [`portcullis.slots:${ns}/${key}`]);
        await client.query(sql.prune, [ns, key, now]);
        const { rowCount } = await client.query(sql.grant, [ns, key, lease, expiresAt, limit]);
        await client.query('COMMIT');
        return (rowCount ?? 0) > 0;
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async release(ns, key, lease) {
      await pool.query(sql.release, [ns, key, lease]);
    },
  };
  return {
    store,
    async sweep() {
      const now = Date.now();
      await pool.query(`DELETE FROM ${S}.counters WHERE expires_at <= $1`, [now]);
      await pool.query(`DELETE FROM ${S}.counter_slots WHERE expires_at <= $1`, [now]);
    },
  };
}
