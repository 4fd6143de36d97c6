/**
 * PostgreSQL driver, for several gateway instances sharing state. Tables live in one schema and are created by
 * a migration that holds an advisory lock, so instances starting together do not race. KV expiry uses the
 * database clock, so instances with skewed clocks agree on what has expired.
 */
import { Pool, type PoolClient } from 'pg';
import type { JsonObject } from '../core/jsonrpc.js';
import { fromRow, positiveInt, toRow, ttl, type SessionRow } from './common.js';
import { createPostgresRecords } from './postgresRecords.js';
import { createPostgresCounters } from './postgresCounters.js';
import type { EventStore, KeyValueStore, SessionStore, Storage } from './types.js';

export interface PostgresStorageOptions {
  connectionString: string;
  replayEvents?: number;
  /** Schema holding the tables; created when absent. */
  schema?: string;
  sweepIntervalMs?: number;
  /** Errors from idle pooled connections and background sweeps (the pool replaces broken connections). */
  onError?: (err: Error) => void;
  /** Pool settings passed through, e.g. max, connectionTimeoutMillis. */
  pool?: { max?: number; connectionTimeoutMillis?: number; idleTimeoutMillis?: number };
}

/** Append-only; `$S` is the quoted schema name. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE $S.sessions (
     id TEXT PRIMARY KEY, endpoint TEXT NOT NULL, principal TEXT NOT NULL, protocol_version TEXT NOT NULL,
     client_info TEXT, client_capabilities TEXT NOT NULL, created_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL);
   CREATE INDEX ON $S.sessions (last_seen_at);
   CREATE TABLE $S.events (
     seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, session_id TEXT NOT NULL, stream_id TEXT NOT NULL,
     data TEXT NOT NULL);
   CREATE INDEX ON $S.events (session_id, seq);
   CREATE TABLE $S.kv (
     namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at TIMESTAMPTZ NOT NULL,
     PRIMARY KEY (namespace, key));
   CREATE INDEX ON $S.kv (expires_at);`,
  // RecordStore (postgresRecords.ts). COLLATE "C": keys sort by code point whatever the database's collation.
  `CREATE TABLE $S.records (
     namespace TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL, value TEXT NOT NULL, expires_at TIMESTAMPTZ,
     PRIMARY KEY (namespace, key));
   CREATE INDEX ON $S.records (expires_at) WHERE expires_at IS NOT NULL;
   CREATE TABLE $S.record_tags (
     namespace TEXT COLLATE "C" NOT NULL, key TEXT COLLATE "C" NOT NULL, tag TEXT NOT NULL, value TEXT NOT NULL,
     PRIMARY KEY (namespace, key, tag),
     FOREIGN KEY (namespace, key) REFERENCES $S.records (namespace, key) ON DELETE CASCADE);
   CREATE INDEX ON $S.record_tags (tag, value, namespace);`,
  // CounterStore (postgresCounters.ts): token buckets and window counters, concurrency slots. Times are epoch ms.
  `CREATE TABLE $S.counters (
     namespace TEXT NOT NULL, key TEXT NOT NULL, value DOUBLE PRECISION NOT NULL, updated_at BIGINT NOT NULL,
     expires_at BIGINT NOT NULL, ok BOOLEAN NOT NULL, PRIMARY KEY (namespace, key));
   CREATE INDEX ON $S.counters (expires_at);
   CREATE TABLE $S.counter_slots (
     namespace TEXT NOT NULL, key TEXT NOT NULL, lease TEXT NOT NULL, expires_at BIGINT NOT NULL,
     PRIMARY KEY (namespace, key, lease));
   CREATE INDEX ON $S.counter_slots (expires_at);`,
];

async function migrate(client: PoolClient, schema: string, S: string): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`portcullis.migrate:${schema}`]);
    // Checked first: CREATE SCHEMA IF NOT EXISTS still demands CREATE privilege on the database.
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${S}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${S}.schema_version (version INTEGER NOT NULL)`);
    const row = (await client.query<{ version: number }>(`SELECT version FROM ${S}.schema_version`)).rows[0];
    const current = row?.version ?? 0;
    if (current > MIGRATIONS.length) {
      throw new Error(`PostgreSQL schema version ${current} is newer than this Portcullis supports (${MIGRATIONS.length})`);
    }
    for (const sql of MIGRATIONS.slice(current)) await client.query(sql.replaceAll('$S', S));
    if (!row) await client.query(`INSERT INTO ${S}.schema_version (version) VALUES ($1)`, [MIGRATIONS.length]);
    else if (current < MIGRATIONS.length) await client.query(`UPDATE ${S}.schema_version SET version = $1`, [MIGRATIONS.length]);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

export async function createPostgresStorage(opts: PostgresStorageOptions): Promise<Storage> {
  const replayEvents = positiveInt(opts.replayEvents ?? 256, 'replayEvents');
  const schema = opts.schema ?? 'portcullis';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid PostgreSQL schema name: ${schema}`);
  const S = `"${schema}"`;
  const onError = opts.onError ?? (() => {});

  const pool = new Pool({ connectionString: opts.connectionString, ...opts.pool });
  // Without a listener, an idle connection dropped by the server would crash the process.
  pool.on('error', onError);
  try {
    const client = await pool.connect();
    try {
      await migrate(client, schema, S);
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }

  const sessions: SessionStore = {
    async create(record) {
      const r = toRow(record);
      await pool.query(
        `INSERT INTO ${S}.sessions (id, endpoint, principal, protocol_version, client_info, client_capabilities,
          created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [r.id, r.endpoint, r.principal, r.protocol_version, r.client_info, r.client_capabilities, r.created_at, r.last_seen_at],
      );
    },
    async get(id) {
      const { rows } = await pool.query<SessionRow>(`SELECT * FROM ${S}.sessions WHERE id = $1`, [id]);
      return rows[0] && fromRow(rows[0]);
    },
    async touch(id, now) {
      const res = await pool.query(`UPDATE ${S}.sessions SET last_seen_at = $2 WHERE id = $1`, [id, now]);
      return (res.rowCount ?? 0) > 0;
    },
    async delete(id) {
      const { rows } = await pool.query<{ n: number }>(
        `WITH d AS (DELETE FROM ${S}.sessions WHERE id = $1 RETURNING id),
              e AS (DELETE FROM ${S}.events WHERE session_id = $1)
         SELECT count(*)::int AS n FROM d`,
        [id],
      );
      return (rows[0]?.n ?? 0) > 0;
    },
    async count() {
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${S}.sessions`);
      return rows[0]?.n ?? 0;
    },
    async expire(cutoff) {
      const { rows } = await pool.query<{ id: string }>(
        `WITH d AS (DELETE FROM ${S}.sessions WHERE last_seen_at < $1 RETURNING id),
              e AS (DELETE FROM ${S}.events WHERE session_id IN (SELECT id FROM d))
         SELECT id FROM d`,
        [cutoff],
      );
      return rows.map((r) => r.id);
    },
  };

  const events: EventStore = {
    async append(sessionId, streamId, data) {
      // Both parts see the same snapshot, which excludes the new row: keep replayEvents-1 older ones.
      const { rows } = await pool.query<{ seq: string }>(
        `WITH ins AS (INSERT INTO ${S}.events (session_id, stream_id, data) VALUES ($1, $2, $3) RETURNING seq),
              trim AS (DELETE FROM ${S}.events WHERE session_id = $1 AND seq <= (
                SELECT seq FROM ${S}.events WHERE session_id = $1 ORDER BY seq DESC OFFSET $4 LIMIT 1))
         SELECT seq FROM ins`,
        [sessionId, streamId, data, replayEvents - 1],
      );
      return String(rows[0]!.seq);
    },
    async replayAfter(sessionId, eventId) {
      if (!/^[1-9][0-9]{0,17}$/.test(eventId)) return undefined;
      const { rows } = await pool.query<{ stream_id: string; seq: string | null; data: string | null }>(
        `WITH a AS (SELECT stream_id, seq FROM ${S}.events WHERE session_id = $1 AND seq = $2)
         SELECT a.stream_id, e.seq, e.data FROM a
           LEFT JOIN ${S}.events e ON e.session_id = $1 AND e.stream_id = a.stream_id AND e.seq > a.seq
         ORDER BY e.seq`,
        [sessionId, eventId],
      );
      if (rows.length === 0) return undefined;
      const streamId = rows[0]!.stream_id;
      const list = rows.filter((r) => r.seq !== null).map((r) => ({ eventId: String(r.seq), streamId, data: r.data! }));
      return { streamId, events: list };
    },
    async deleteSession(sessionId) {
      await pool.query(`DELETE FROM ${S}.events WHERE session_id = $1`, [sessionId]);
    },
  };

  const kv: KeyValueStore = {
    async put(namespace, key, value, ttlMs) {
      await pool.query(
        `INSERT INTO ${S}.kv (namespace, key, value, expires_at) VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
         ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
        [namespace, key, JSON.stringify(value), ttl(ttlMs)],
      );
    },
    async get(namespace, key) {
      const { rows } = await pool.query<{ value: string }>(
        `SELECT value FROM ${S}.kv WHERE namespace = $1 AND key = $2 AND expires_at > now()`,
        [namespace, key],
      );
      return rows[0] && (JSON.parse(rows[0].value) as JsonObject);
    },
    async take(namespace, key) {
      // Concurrent DELETEs of one row serialize on its lock: only the first returns it.
      const { rows } = await pool.query<{ value: string; live: boolean }>(
        `DELETE FROM ${S}.kv WHERE namespace = $1 AND key = $2 RETURNING value, expires_at > now() AS live`,
        [namespace, key],
      );
      return rows[0]?.live ? (JSON.parse(rows[0].value) as JsonObject) : undefined;
    },
    async delete(namespace, key) {
      await pool.query(`DELETE FROM ${S}.kv WHERE namespace = $1 AND key = $2`, [namespace, key]);
    },
  };

  const records = createPostgresRecords(pool, S);
  const counters = createPostgresCounters(pool, S);

  const sweep = setInterval(() => {
    pool.query(`DELETE FROM ${S}.kv WHERE expires_at <= now()`).catch(onError);
    records.sweep().catch(onError);
    counters.sweep().catch(onError);
  }, opts.sweepIntervalMs ?? 60_000);
  sweep.unref();

  let closing: Promise<void> | undefined;
  return {
    driver: 'postgres',
    sessions,
    events,
    kv,
    records: records.store,
    counters: counters.store,
    close() {
      clearInterval(sweep);
      return (closing ??= pool.end());
    },
  };
}
