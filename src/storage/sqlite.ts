/**
 * The embedded default: one SQLite file (better-sqlite3). Calls are synchronous under the async contract,
 * so every statement is prepared once and indexed; each append trims its session to `replayEvents`.
 */
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { JsonObject } from '../core/jsonrpc.js';
import { fromRow, positiveInt, toRow, ttl, type SessionRow } from './common.js';
import { createSqliteRecords } from './sqliteRecords.js';
import { createSqliteCounters } from './sqliteCounters.js';
import type { EventStore, KeyValueStore, SessionStore, Storage } from './types.js';
import { ensurePrivateDir } from '../core/privateDir.js';

export interface SqliteStorageOptions {
  /** File path, or ':memory:' for a private in-process database. */
  path: string;
  replayEvents?: number;
  sweepIntervalMs?: number;
}

/** Append-only: a released Portcullis may have written any prefix of this list. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS sessions (
     id TEXT PRIMARY KEY, endpoint TEXT NOT NULL, principal TEXT NOT NULL, protocol_version TEXT NOT NULL,
     client_info TEXT, client_capabilities TEXT NOT NULL, created_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL);
   CREATE INDEX IF NOT EXISTS sessions_last_seen ON sessions (last_seen_at);
   -- AUTOINCREMENT: an event id is never handed out twice, even after the newest rows are deleted.
   CREATE TABLE IF NOT EXISTS events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, stream_id TEXT NOT NULL, data TEXT NOT NULL);
   CREATE INDEX IF NOT EXISTS events_session ON events (session_id, seq);
   CREATE TABLE IF NOT EXISTS kv (
     namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at INTEGER NOT NULL,
     PRIMARY KEY (namespace, key)) WITHOUT ROWID;
   CREATE INDEX IF NOT EXISTS kv_expires ON kv (expires_at);`,
  // RecordStore (sqliteRecords.ts). Keys compare with BINARY, which is code point order for UTF-8 text.
  `CREATE TABLE IF NOT EXISTS records (
     namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, expires_at INTEGER,
     PRIMARY KEY (namespace, key)) WITHOUT ROWID;
   CREATE INDEX IF NOT EXISTS records_expires ON records (expires_at) WHERE expires_at IS NOT NULL;
   CREATE TABLE IF NOT EXISTS record_tags (
     namespace TEXT NOT NULL, key TEXT NOT NULL, tag TEXT NOT NULL, value TEXT NOT NULL,
     PRIMARY KEY (namespace, key, tag),
     FOREIGN KEY (namespace, key) REFERENCES records (namespace, key) ON DELETE CASCADE) WITHOUT ROWID;
   CREATE INDEX IF NOT EXISTS record_tags_lookup ON record_tags (tag, value, namespace);`,
  // CounterStore window counters (sqliteCounters.ts): quotas, kept across restarts.
  `CREATE TABLE IF NOT EXISTS counters (
     namespace TEXT NOT NULL, key TEXT NOT NULL, count INTEGER NOT NULL, reset_at INTEGER NOT NULL, ok INTEGER NOT NULL,
     PRIMARY KEY (namespace, key)) WITHOUT ROWID;
   CREATE INDEX IF NOT EXISTS counters_reset ON counters (reset_at);`,
];

function migrate(db: Database.Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  // IMMEDIATE takes the write lock first, so two processes opening one file cannot both migrate.
  db.transaction(() => {
    const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    const current = row?.version ?? 0;
    if (current > MIGRATIONS.length) {
      throw new Error(`SQLite schema version ${current} is newer than this Portcullis supports (${MIGRATIONS.length})`);
    }
    for (const sql of MIGRATIONS.slice(current)) db.exec(sql);
    if (!row) db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(MIGRATIONS.length);
    else if (current < MIGRATIONS.length) db.prepare('UPDATE schema_version SET version = ?').run(MIGRATIONS.length);
  }).immediate();
}

export function createSqliteStorage(opts: SqliteStorageOptions): Storage {
  const replayEvents = positiveInt(opts.replayEvents ?? 256, 'replayEvents');
  if (opts.path !== ':memory:' && opts.path !== '') ensurePrivateDir(dirname(opts.path));
  const db = new Database(opts.path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    // Per connection, and off by default: record_tags rows go with their record.
    db.pragma('foreign_keys = ON');
    migrate(db);
  } catch (err) {
    db.close();
    throw err;
  }

  const q = {
    insertSession: db.prepare(`INSERT INTO sessions (id, endpoint, principal, protocol_version, client_info,
      client_capabilities, created_at, last_seen_at) VALUES (@id, @endpoint, @principal, @protocol_version,
      @client_info, @client_capabilities, @created_at, @last_seen_at)`),
    getSession: db.prepare('SELECT * FROM sessions WHERE id = ?'),
    touch: db.prepare('UPDATE sessions SET last_seen_at = ? WHERE id = ?'),
    deleteSession: db.prepare('DELETE FROM sessions WHERE id = ?'),
    count: db.prepare('SELECT count(*) AS n FROM sessions').pluck(),
    expire: db.prepare('DELETE FROM sessions WHERE last_seen_at < ? RETURNING id').pluck(),
    append: db.prepare('INSERT INTO events (session_id, stream_id, data) VALUES (?, ?, ?)'),
    // The seq of the oldest event to keep sits at OFFSET replayEvents-1 from the newest; delete what is older.
    trim: db.prepare(`DELETE FROM events WHERE session_id = @s AND seq < (
      SELECT seq FROM events WHERE session_id = @s ORDER BY seq DESC LIMIT 1 OFFSET @keep)`),
    anchor: db.prepare('SELECT stream_id FROM events WHERE session_id = ? AND seq = ?').pluck(),
    after: db.prepare(`SELECT seq, data FROM events WHERE session_id = ? AND stream_id = ? AND seq > ?
      ORDER BY seq`),
    deleteEvents: db.prepare('DELETE FROM events WHERE session_id = ?'),
    put: db.prepare(`INSERT INTO kv (namespace, key, value, expires_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`),
    get: db.prepare('SELECT value FROM kv WHERE namespace = ? AND key = ? AND expires_at > ?').pluck(),
    take: db.prepare('DELETE FROM kv WHERE namespace = ? AND key = ? RETURNING value, expires_at'),
    deleteKey: db.prepare('DELETE FROM kv WHERE namespace = ? AND key = ?'),
    sweep: db.prepare('DELETE FROM kv WHERE expires_at <= ?'),
  };

  const appendTx = db.transaction((sessionId: string, streamId: string, data: string) => {
    const seq = q.append.run(sessionId, streamId, data).lastInsertRowid;
    q.trim.run({ s: sessionId, keep: replayEvents - 1 });
    return String(seq);
  });
  const replayTx = db.transaction((sessionId: string, seq: number) => {
    const streamId = q.anchor.get(sessionId, seq) as string | undefined;
    if (streamId === undefined) return undefined;
    const rows = q.after.all(sessionId, streamId, seq) as Array<{ seq: number; data: string }>;
    return { streamId, events: rows.map((r) => ({ eventId: String(r.seq), streamId, data: r.data })) };
  });
  const deleteTx = db.transaction((id: string) => {
    q.deleteEvents.run(id);
    return q.deleteSession.run(id).changes > 0;
  });
  const expireTx = db.transaction((cutoff: number) => {
    const ids = q.expire.all(cutoff) as string[];
    for (const id of ids) q.deleteEvents.run(id);
    return ids;
  });

  const sessions: SessionStore = {
    async create(record) {
      q.insertSession.run(toRow(record));
    },
    async get(id) {
      const row = q.getSession.get(id) as SessionRow | undefined;
      return row && fromRow(row);
    },
    async touch(id, now) {
      return q.touch.run(now, id).changes > 0;
    },
    async delete(id) {
      return deleteTx(id);
    },
    async count() {
      return q.count.get() as number;
    },
    async expire(cutoff) {
      return expireTx(cutoff);
    },
  };

  const events: EventStore = {
    async append(sessionId, streamId, data) {
      return appendTx(sessionId, streamId, data);
    },
    async replayAfter(sessionId, eventId) {
      if (!/^[1-9][0-9]{0,15}$/.test(eventId)) return undefined;
      return replayTx(sessionId, Number(eventId));
    },
    async deleteSession(sessionId) {
      q.deleteEvents.run(sessionId);
    },
  };

  const kv: KeyValueStore = {
    async put(namespace, key, value, ttlMs) {
      q.put.run(namespace, key, JSON.stringify(value), Date.now() + ttl(ttlMs));
    },
    async get(namespace, key) {
      const value = q.get.get(namespace, key, Date.now()) as string | undefined;
      return value === undefined ? undefined : (JSON.parse(value) as JsonObject);
    },
    async take(namespace, key) {
      // One statement: the delete and the read are the same atomic step.
      const row = q.take.get(namespace, key) as { value: string; expires_at: number } | undefined;
      return row && row.expires_at > Date.now() ? (JSON.parse(row.value) as JsonObject) : undefined;
    },
    async delete(namespace, key) {
      q.deleteKey.run(namespace, key);
    },
  };

  const records = createSqliteRecords(db);
  const counters = createSqliteCounters(db);

  const sweep = setInterval(() => {
    try {
      const now = Date.now();
      q.sweep.run(now);
      records.sweep(now);
      counters.sweep(now);
    } catch {
      // Busy or closing: the next sweep retries, and reads ignore expired rows anyway.
    }
  }, opts.sweepIntervalMs ?? 60_000);
  sweep.unref();

  return {
    driver: 'sqlite',
    sessions,
    events,
    kv,
    records: records.store,
    counters: counters.store,
    async close() {
      clearInterval(sweep);
      if (db.open) db.close();
    },
  };
}
