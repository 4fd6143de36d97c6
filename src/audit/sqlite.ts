/**
 * The audit log in SQLite: its own file (audit.db beside the gateway's database) so its commits never wait on the
 * gateway's other writes, WAL with synchronous=FULL so a committed batch survives a power cut as well as a
 * kill -9 (durability "power-loss"); with durability "process-crash", synchronous=NORMAL: a commit is written to the
 * operating system but not synced, which a kill -9 of the gateway cannot undo and a power cut can (the last batches
 * vanish whole: the WAL is never corrupted, and the chain stays verifiable). ':memory:' gives the memory driver's log. Batches are BEGIN IMMEDIATE transactions: the head is read
 * under the write lock, so a CLI writing an admin record while the gateway runs extends the same chain.
 */
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { chainRow, GENESIS } from './chain.js';
import type { Checkpoint } from './checkpoint.js';
import type { AuditFilter, AuditRow, ChainHead } from './record.js';
import { typePattern, type AuditStore, type CheckpointRule } from './store.js';
import { ensurePrivateDir } from '../core/privateDir.js';

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE audit_records (
     seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, type TEXT NOT NULL, principal TEXT, upstream TEXT, outcome TEXT,
     body TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
   CREATE INDEX audit_records_time ON audit_records (time);
   CREATE TABLE audit_checkpoints (
     seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, time INTEGER NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL);
   CREATE TABLE audit_anchor (
     id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL, time INTEGER NOT NULL,
     key_id TEXT NOT NULL, signature TEXT NOT NULL);`,
];

interface CheckpointRow { seq: number; hash: string; time: number; key_id: string; signature: string }

const toCheckpoint = (r: CheckpointRow): Checkpoint => ({ seq: r.seq, hash: r.hash, time: r.time, keyId: r.key_id, signature: r.signature });

/** What a commit survives: a power cut (each commit synced) or a crash of the gateway process (written, not synced). */
export type AuditDurability = 'power-loss' | 'process-crash';

export function createSqliteAuditStore(path: string, durability: AuditDurability = 'power-loss'): AuditStore {
  const memory = path === ':memory:';
  if (!memory) ensurePrivateDir(dirname(path));
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(durability === 'power-loss' ? 'synchronous = FULL' : 'synchronous = NORMAL');
    db.pragma('busy_timeout = 10000');
    db.exec('CREATE TABLE IF NOT EXISTS audit_schema_version (version INTEGER NOT NULL)');
    db.transaction(() => {
      const row = db.prepare('SELECT version FROM audit_schema_version').get() as { version: number } | undefined;
      const current = row?.version ?? 0;
      if (current > MIGRATIONS.length) throw new Error(`audit database schema version ${current} is newer than this Portcullis supports (${MIGRATIONS.length})`);
      for (const sql of MIGRATIONS.slice(current)) db.exec(sql);
      if (!row) db.prepare('INSERT INTO audit_schema_version (version) VALUES (?)').run(MIGRATIONS.length);
      else db.prepare('UPDATE audit_schema_version SET version = ?').run(MIGRATIONS.length);
    }).immediate();
  } catch (e) {
    db.close();
    throw e;
  }

  const q = {
    last: db.prepare('SELECT seq, hash, time FROM audit_records ORDER BY seq DESC LIMIT 1'),
    anchor: db.prepare('SELECT * FROM audit_anchor WHERE id = 1'),
    insert: db.prepare(`INSERT INTO audit_records (seq, time, type, principal, upstream, outcome, body, prev, hash)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    lastCheckpoint: db.prepare('SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1'),
    insertCheckpoint: db.prepare('INSERT OR IGNORE INTO audit_checkpoints (seq, hash, time, key_id, signature) VALUES (?, ?, ?, ?, ?)'),
    checkpoints: db.prepare('SELECT * FROM audit_checkpoints ORDER BY seq'),
    pruneTo: db.prepare('SELECT * FROM audit_checkpoints WHERE time < ? ORDER BY seq DESC LIMIT 1'),
    deleteRecords: db.prepare('DELETE FROM audit_records WHERE seq <= ?'),
    deleteCheckpoints: db.prepare('DELETE FROM audit_checkpoints WHERE seq < ?'),
    setAnchor: db.prepare(`INSERT INTO audit_anchor (id, seq, hash, time, key_id, signature) VALUES (1, @seq, @hash, @time, @keyId, @signature)
      ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, time = excluded.time, key_id = excluded.key_id, signature = excluded.signature`),
  };

  const anchor = (): Checkpoint | undefined => {
    const r = q.anchor.get() as CheckpointRow | undefined;
    return r && toCheckpoint(r);
  };
  const head = (): ChainHead | undefined => (q.last.get() as ChainHead | undefined) ?? anchor();
  const lastCheckpoint = (): Checkpoint | undefined => {
    const r = q.lastCheckpoint.get() as CheckpointRow | undefined;
    return r && toCheckpoint(r);
  };
  const store = (cp: Checkpoint | undefined): Checkpoint | undefined => {
    if (cp) q.insertCheckpoint.run(cp.seq, cp.hash, cp.time, cp.keyId, cp.signature);
    return cp;
  };

  const appendTx = db.transaction((events: Parameters<AuditStore['append']>[0], rule: CheckpointRule) => {
    const h = head();
    let seq = h?.seq ?? 0;
    let prev = h?.hash ?? GENESIS;
    let time = h?.time ?? 0;
    for (const e of events) {
      const row = chainRow(e, ++seq, prev);
      q.insert.run(row.seq, row.time, row.type, row.principal, row.upstream, row.outcome, row.body, row.prev, row.hash);
      prev = row.hash;
      time = row.time;
    }
    store(rule({ seq, hash: prev, time }, lastCheckpoint()));
  });
  const checkpointTx = db.transaction((rule: CheckpointRule) => {
    const h = head();
    return h ? store(rule(h, lastCheckpoint())) : undefined;
  });
  const pruneTx = db.transaction((cutoff: number) => {
    const r = q.pruneTo.get(cutoff) as CheckpointRow | undefined;
    const current = anchor();
    if (!r || (current && r.seq <= current.seq)) return { pruned: 0, anchor: current };
    const cp = toCheckpoint(r);
    const pruned = q.deleteRecords.run(cp.seq).changes;
    q.deleteCheckpoints.run(cp.seq);
    q.setAnchor.run(cp);
    return { pruned, anchor: cp };
  });

  const filtered = new Map<string, Database.Statement>();
  const rows = (afterSeq: number, limit: number, f: AuditFilter = {}): AuditRow[] => {
    const where = ['seq > @afterSeq'];
    const params: Record<string, unknown> = { afterSeq, limit };
    if (f.since !== undefined) { where.push('time >= @since'); params.since = f.since; }
    if (f.until !== undefined) { where.push('time < @until'); params.until = f.until; }
    for (const col of ['principal', 'upstream', 'outcome'] as const) {
      if (f[col] !== undefined) { where.push(`${col} = @${col}`); params[col] = f[col]; }
    }
    if (f.type !== undefined) {
      const t = typePattern(f.type);
      // substr, not LIKE: a type may contain _ or %, which LIKE would read as wildcards.
      if ('prefix' in t) { where.push('substr(type, 1, length(@type)) = @type'); params.type = t.prefix; }
      else { where.push('type = @type'); params.type = t.exact; }
    }
    const sql = `SELECT seq, time, type, principal, upstream, outcome, body, prev, hash FROM audit_records WHERE ${where.join(' AND ')} ORDER BY seq LIMIT @limit`;
    let stmt = filtered.get(sql);
    if (!stmt) filtered.set(sql, (stmt = db.prepare(sql)));
    return stmt.all(params) as AuditRow[];
  };

  return {
    kind: memory ? 'memory' : 'sqlite',
    async append(events, rule) {
      if (events.length) appendTx.immediate(events, rule);
    },
    async checkpoint(rule) {
      return checkpointTx.immediate(rule);
    },
    async head() {
      return head();
    },
    async anchor() {
      return anchor();
    },
    async rows(afterSeq, limit, filter) {
      return rows(afterSeq, limit, filter);
    },
    async checkpoints() {
      return (q.checkpoints.all() as CheckpointRow[]).map(toCheckpoint);
    },
    async lastCheckpoint() {
      return lastCheckpoint();
    },
    async prune(cutoff) {
      return pruneTx.immediate(cutoff);
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
