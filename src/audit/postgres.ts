/**
 * The audit log in PostgreSQL, for several replicas writing one log. One chain, not one per replica: a batch
 * locks the head row (SELECT … FOR UPDATE) in its transaction, so batches from every replica are serialised into
 * a single total order that `audit verify` checks like any other, and a checkpoint covers everything before it.
 * The lock is held for one multi-row insert per batch, so group commit keeps its cost per record small.
 */
import { Pool, type PoolClient } from 'pg';
import { chainRow, GENESIS, type EncodedEvent } from './chain.js';
import type { Checkpoint } from './checkpoint.js';
import type { AuditFilter, AuditRow, ChainHead } from './record.js';
import { typePattern, type AuditStore, type CheckpointRule } from './store.js';

export interface PostgresAuditOptions {
  connectionString: string;
  schema?: string;
  /**
   * "process-crash": batches commit with synchronous_commit off (the server acknowledges before its WAL flush), so a
   * crash of the gateway loses nothing and a crash of the database server can lose the last batches, whole.
   */
  durability?: 'power-loss' | 'process-crash';
  onError?: (err: Error) => void;
}

/** Append-only; `$S` is the quoted schema name. Versioned apart from the storage driver's tables. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE $S.audit_records (
     seq BIGINT PRIMARY KEY, time BIGINT NOT NULL, type TEXT COLLATE "C" NOT NULL, principal TEXT, upstream TEXT,
     outcome TEXT, body TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
   CREATE INDEX ON $S.audit_records (time);
   CREATE TABLE $S.audit_checkpoints (
     seq BIGINT PRIMARY KEY, hash TEXT NOT NULL, time BIGINT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL);
   CREATE TABLE $S.audit_anchor (
     id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL, time BIGINT NOT NULL,
     key_id TEXT NOT NULL, signature TEXT NOT NULL);
   -- The chain's head, and the lock every batch takes.
   CREATE TABLE $S.audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL, time BIGINT NOT NULL);
   INSERT INTO $S.audit_head (id, seq, hash, time) VALUES (1, 0, '', 0);`,
];

interface CheckpointRow { seq: string; hash: string; time: string; key_id: string; signature: string }
interface RawRow { seq: string; time: string; type: string; principal: string | null; upstream: string | null; outcome: string | null; body: string; prev: string; hash: string }

const toCheckpoint = (r: CheckpointRow): Checkpoint => ({ seq: Number(r.seq), hash: r.hash, time: Number(r.time), keyId: r.key_id, signature: r.signature });

export async function createPostgresAuditStore(opts: PostgresAuditOptions): Promise<AuditStore> {
  const schema = opts.schema ?? 'portcullis';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid PostgreSQL schema name: ${schema}`);
  const S = `"${schema}"`;
  const pool = new Pool({ connectionString: opts.connectionString });
  pool.on('error', opts.onError ?? (() => {}));
  // Queued on each new connection ahead of anything the store sends on it.
  if (opts.durability === 'process-crash') pool.on('connect', (c) => { c.query('SET synchronous_commit = off').catch(() => {}); });
  try {
    await inTransaction(pool, (c) => migrate(c, schema, S));
  } catch (e) {
    await pool.end().catch(() => {});
    throw e;
  }

  const lockedHead = async (c: PoolClient): Promise<ChainHead> => {
    const r = (await c.query<{ seq: string; hash: string; time: string }>(`SELECT seq, hash, time FROM ${S}.audit_head WHERE id = 1 FOR UPDATE`)).rows[0]!;
    return { seq: Number(r.seq), hash: r.hash, time: Number(r.time) };
  };
  const lastCheckpoint = async (c: PoolClient): Promise<Checkpoint | undefined> => {
    const r = (await c.query<CheckpointRow>(`SELECT * FROM ${S}.audit_checkpoints ORDER BY seq DESC LIMIT 1`)).rows[0];
    return r && toCheckpoint(r);
  };
  const store = async (c: PoolClient, cp: Checkpoint | undefined): Promise<Checkpoint | undefined> => {
    if (cp) await c.query(`INSERT INTO ${S}.audit_checkpoints (seq, hash, time, key_id, signature) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING`, [cp.seq, cp.hash, cp.time, cp.keyId, cp.signature]);
    return cp;
  };
  const anchor = async (): Promise<Checkpoint | undefined> => {
    const r = (await pool.query<CheckpointRow>(`SELECT * FROM ${S}.audit_anchor WHERE id = 1`)).rows[0];
    return r && toCheckpoint(r);
  };

  return {
    kind: 'postgres',
    async append(events: readonly EncodedEvent[], rule: CheckpointRule) {
      if (!events.length) return;
      await inTransaction(pool, async (c) => {
        const h = await lockedHead(c);
        let prev = h.seq === 0 ? GENESIS : h.hash;
        const cols: unknown[][] = [[], [], [], [], [], [], [], [], []];
        let seq = h.seq;
        let time = h.time;
        for (const e of events) {
          const row = chainRow(e, ++seq, prev);
          [row.seq, row.time, row.type, row.principal, row.upstream, row.outcome, row.body, row.prev, row.hash].forEach((v, i) => cols[i]!.push(v));
          prev = row.hash;
          time = row.time;
        }
        await c.query(
          `INSERT INTO ${S}.audit_records (seq, time, type, principal, upstream, outcome, body, prev, hash)
           SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])`,
          cols,
        );
        await c.query(`UPDATE ${S}.audit_head SET seq = $1, hash = $2, time = $3 WHERE id = 1`, [seq, prev, time]);
        await store(c, rule({ seq, hash: prev, time }, await lastCheckpoint(c)));
      });
    },
    async checkpoint(rule) {
      return inTransaction(pool, async (c) => {
        const h = await lockedHead(c);
        return h.seq === 0 ? undefined : store(c, rule(h, await lastCheckpoint(c)));
      });
    },
    async head() {
      const r = (await pool.query<{ seq: string; hash: string; time: string }>(`SELECT seq, hash, time FROM ${S}.audit_head WHERE id = 1`)).rows[0];
      return r && r.seq !== '0' ? { seq: Number(r.seq), hash: r.hash, time: Number(r.time) } : undefined;
    },
    anchor,
    async rows(afterSeq: number, limit: number, f: AuditFilter = {}) {
      const params: unknown[] = [afterSeq, limit];
      const where = ['seq > $1'];
      const add = (sql: (n: string) => string, v: unknown) => { params.push(v); where.push(sql(`$${params.length}`)); };
      if (f.since !== undefined) add((p) => `time >= ${p}`, f.since);
      if (f.until !== undefined) add((p) => `time < ${p}`, f.until);
      for (const col of ['principal', 'upstream', 'outcome'] as const) if (f[col] !== undefined) add((p) => `${col} = ${p}`, f[col]);
      if (f.type !== undefined) {
        const t = typePattern(f.type);
        if ('prefix' in t) add((p) => `left(type, length(${p})) = ${p}`, t.prefix);
        else add((p) => `type = ${p}`, t.exact);
      }
      const { rows } = await pool.query<RawRow>(`SELECT seq, time, type, principal, upstream, outcome, body, prev, hash FROM ${S}.audit_records WHERE ${where.join(' AND ')} ORDER BY seq LIMIT $2`, params);
      return rows.map((r): AuditRow => ({ ...r, seq: Number(r.seq), time: Number(r.time) }));
    },
    async checkpoints() {
      return (await pool.query<CheckpointRow>(`SELECT * FROM ${S}.audit_checkpoints ORDER BY seq`)).rows.map(toCheckpoint);
    },
    async lastCheckpoint() {
      const r = (await pool.query<CheckpointRow>(`SELECT * FROM ${S}.audit_checkpoints ORDER BY seq DESC LIMIT 1`)).rows[0];
      return r && toCheckpoint(r);
    },
    async prune(cutoff: number) {
      return inTransaction(pool, async (c) => {
        await lockedHead(c);
        const r = (await c.query<CheckpointRow>(`SELECT * FROM ${S}.audit_checkpoints WHERE time < $1 ORDER BY seq DESC LIMIT 1`, [cutoff])).rows[0];
        const current = (await c.query<CheckpointRow>(`SELECT * FROM ${S}.audit_anchor WHERE id = 1`)).rows[0];
        if (!r || (current && Number(r.seq) <= Number(current.seq))) return { pruned: 0, anchor: current && toCheckpoint(current) };
        const cp = toCheckpoint(r);
        const pruned = (await c.query(`DELETE FROM ${S}.audit_records WHERE seq <= $1`, [cp.seq])).rowCount ?? 0;
        await c.query(`DELETE FROM ${S}.audit_checkpoints WHERE seq < $1`, [cp.seq]);
        await c.query(`INSERT INTO ${S}.audit_anchor (id, seq, hash, time, key_id, signature) VALUES (1, $1, $2, $3, $4, $5)
          ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, time = excluded.time, key_id = excluded.key_id, signature = excluded.signature`,
        [cp.seq, cp.hash, cp.time, cp.keyId, cp.signature]);
        return { pruned, anchor: cp };
      });
    },
    async close() {
      await pool.end();
    },
  };
}

async function inTransaction<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    c.release();
  }
}

async function migrate(c: PoolClient, schema: string, S: string): Promise<void> {
  await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`portcullis.audit.migrate:${schema}`]);
  const exists = await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  if (exists.rowCount === 0) await c.query(`CREATE SCHEMA ${S}`);
  await c.query(`CREATE TABLE IF NOT EXISTS ${S}.audit_schema_version (version INTEGER NOT NULL)`);
  const row = (await c.query<{ version: number }>(`SELECT version FROM ${S}.audit_schema_version`)).rows[0];
  const current = row?.version ?? 0;
  if (current > MIGRATIONS.length) throw new Error(`audit schema version ${current} is newer than this Portcullis supports (${MIGRATIONS.length})`);
  for (const sql of MIGRATIONS.slice(current)) await c.query(sql.replaceAll('$S', S));
  if (!row) await c.query(`INSERT INTO ${S}.audit_schema_version (version) VALUES ($1)`, [MIGRATIONS.length]);
  else if (current < MIGRATIONS.length) await c.query(`UPDATE ${S}.audit_schema_version SET version = $1`, [MIGRATIONS.length]);
}
