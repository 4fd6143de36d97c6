/**
 * RecordStore on SQLite: tables `records` and `record_tags` (created by the driver's migrations; deleting a record
 * cascades to its tags). Expiry is epoch milliseconds, NULL for none; reads ignore expired rows and `sweep`
 * removes them. Multi-statement steps are IMMEDIATE transactions, so other processes on the file wait for them.
 */
import type Database from 'better-sqlite3';
import type { JsonObject } from '../core/jsonrpc.js';
import { consumeJson, limitOf, prefixEnd, recordJson, stampJson, tagEntries, ttl } from './common.js';
import type { RecordStore, StoredRecord } from './types.js';

export interface SqliteRecords {
  store: RecordStore;
  sweep(now: number): void;
}

const LIVE = '(expires_at IS NULL OR expires_at > @now)';

export function createSqliteRecords(db: Database.Database): SqliteRecords {
  const q = {
    put: db.prepare(`INSERT INTO records (namespace, key, value, expires_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`),
    dropTags: db.prepare('DELETE FROM record_tags WHERE namespace = ? AND key = ?'),
    addTag: db.prepare('INSERT INTO record_tags (namespace, key, tag, value) VALUES (?, ?, ?, ?)'),
    get: db.prepare(`SELECT value FROM records WHERE namespace = @ns AND key = @key AND ${LIVE}`).pluck(),
    delete: db.prepare('DELETE FROM records WHERE namespace = ? AND key = ? RETURNING expires_at').pluck(),
    // A negative LIMIT is no limit.
    listFrom: db.prepare(`SELECT key, value FROM records WHERE namespace = @ns AND key >= @from AND ${LIVE}
      ORDER BY key LIMIT @limit`),
    listRange: db.prepare(`SELECT key, value FROM records WHERE namespace = @ns AND key >= @from AND key < @to
      AND ${LIVE} ORDER BY key LIMIT @limit`),
    // CROSS JOIN fixes the loop order: from the tag index to the records, never a scan of the namespace.
    findByTag: db.prepare(`SELECT r.key, r.value FROM record_tags t
      CROSS JOIN records r ON r.namespace = t.namespace AND r.key = t.key
      WHERE t.tag = @tag AND t.value = @value AND t.namespace = @ns AND (r.expires_at IS NULL OR r.expires_at > @now)
      ORDER BY r.key`),
    deleteByTag: db.prepare(`DELETE FROM records WHERE (namespace, key) IN (
      SELECT namespace, key FROM record_tags WHERE tag = ? AND value = ?) RETURNING expires_at`).pluck(),
    update: db.prepare('UPDATE records SET value = ? WHERE namespace = ? AND key = ?'),
    sweep: db.prepare('DELETE FROM records WHERE expires_at <= ?'),
  };

  type Tags = Array<[string, string]>;
  const putTx = db.transaction((ns: string, key: string, json: string, expiresAt: number | null, tags: Tags) => {
    q.put.run(ns, key, json, expiresAt);
    q.dropTags.run(ns, key);
    for (const [tag, value] of tags) q.addTag.run(ns, key, tag, value);
  });
  const consumeTx = db.transaction((ns: string, key: string, field: string, stamp: number) => {
    const json = q.get.get({ ns, key, now: Date.now() }) as string | undefined;
    if (json === undefined) return undefined;
    const { before, after } = consumeJson(json, field, stamp);
    if (after !== undefined) q.update.run(after, ns, key);
    return before;
  });
  const countLive = (expiries: Array<number | null>) => {
    const now = Date.now();
    return expiries.filter((at) => at === null || at > now).length;
  };
  const rows = (list: unknown[]) => (list as Array<{ key: string; value: string }>).map(
    (r): StoredRecord => ({ key: r.key, value: JSON.parse(r.value) as JsonObject }),
  );

  const store: RecordStore = {
    async put(namespace, key, value, opts = {}) {
      const expiresAt = opts.ttlMs === undefined ? null : Date.now() + ttl(opts.ttlMs);
      putTx.immediate(namespace, key, recordJson(value), expiresAt, tagEntries(opts.tags));
    },
    async get(namespace, key) {
      const json = q.get.get({ ns: namespace, key, now: Date.now() }) as string | undefined;
      return json === undefined ? undefined : (JSON.parse(json) as JsonObject);
    },
    async delete(namespace, key) {
      return countLive(q.delete.all(namespace, key) as Array<number | null>) > 0;
    },
    async list(namespace, opts = {}) {
      const from = opts.prefix ?? '';
      const to = prefixEnd(from);
      const params = { ns: namespace, from, now: Date.now(), limit: limitOf(opts.limit) ?? -1 };
      return rows(to === undefined ? q.listFrom.all(params) : q.listRange.all({ ...params, to }));
    },
    async findByTag(namespace, tag, value) {
      return rows(q.findByTag.all({ tag, value, ns: namespace, now: Date.now() }));
    },
    async deleteByTag(tag, value) {
      return countLive(q.deleteByTag.all(tag, value) as Array<number | null>);
    },
    async consume(namespace, key, field, stamp) {
      stampJson(stamp);
      return consumeTx.immediate(namespace, key, field, stamp);
    },
  };

  return {
    store,
    sweep(now) {
      q.sweep.run(now);
    },
  };
}
