/**
 * RecordStore on PostgreSQL: tables `records` and `record_tags` in the driver's schema (created by its migrations;
 * deleting a record cascades to its tags). Keys are COLLATE "C", so they sort by code point like every other
 * driver. Values are TEXT, not JSONB, so a record comes back exactly as written (JSONB reorders keys and refuses
 * \u0000). Expiry uses the database clock, NULL for none.
 */
import type { Pool, PoolClient } from 'pg';
import type { JsonObject } from '../core/jsonrpc.js';
import { consumeJson, limitOf, prefixEnd, recordJson, stampJson, tagEntries, ttl } from './common.js';
import type { RecordStore, StoredRecord } from './types.js';

export interface PostgresRecords {
  store: RecordStore;
  sweep(): Promise<void>;
}

export function createPostgresRecords(pool: Pool, S: string): PostgresRecords {
  const live = (alias = '') => `(${alias}expires_at IS NULL OR ${alias}expires_at > now())`;
  const sql = {
    put: `INSERT INTO ${S}.records (namespace, key, value, expires_at)
      VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')
      ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
    dropTags: `DELETE FROM ${S}.record_tags WHERE namespace = $1 AND key = $2`,
    addTags: `INSERT INTO ${S}.record_tags (namespace, key, tag, value)
      SELECT $1, $2, t.tag, t.value FROM unnest($3::text[], $4::text[]) AS t (tag, value)`,
    get: `SELECT value FROM ${S}.records WHERE namespace = $1 AND key = $2 AND ${live()}`,
    delete: `DELETE FROM ${S}.records WHERE namespace = $1 AND key = $2 RETURNING ${live()} AS live`,
    // LIMIT NULL is no limit.
    listFrom: `SELECT key, value FROM ${S}.records WHERE namespace = $1 AND key >= $2 AND ${live()}
      ORDER BY key LIMIT $3`,
    listRange: `SELECT key, value FROM ${S}.records WHERE namespace = $1 AND key >= $2 AND key < $4 AND ${live()}
      ORDER BY key LIMIT $3`,
    findByTag: `SELECT r.key, r.value FROM ${S}.record_tags t
      JOIN ${S}.records r ON r.namespace = t.namespace AND r.key = t.key
      WHERE t.tag = $1 AND t.value = $2 AND t.namespace = $3 AND ${live('r.')} ORDER BY r.key`,
    deleteByTag: `DELETE FROM ${S}.records r USING ${S}.record_tags t
      WHERE t.tag = $1 AND t.value = $2 AND r.namespace = t.namespace AND r.key = t.key RETURNING ${live('r.')} AS live`,
    lock: `SELECT value FROM ${S}.records WHERE namespace = $1 AND key = $2 AND ${live()} FOR UPDATE`,
    update: `UPDATE ${S}.records SET value = $3 WHERE namespace = $1 AND key = $2`,
    sweep: `DELETE FROM ${S}.records WHERE expires_at <= now()`,
  };

  /** Runs `body` in a transaction on one pooled connection; a connection that fails to roll back is discarded. */
  async function transaction<T>(body: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const out = await body(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    } finally {
      client.release(broken);
    }
  }

  const rows = (list: Array<{ key: string; value: string }>) =>
    list.map((r): StoredRecord => ({ key: r.key, value: JSON.parse(r.value) as JsonObject }));
  const countLive = (list: Array<{ live: boolean }>) => list.filter((r) => r.live).length;

  const store: RecordStore = {
    async put(namespace, key, value, opts = {}) {
      const json = recordJson(value);
      const ttlMs = opts.ttlMs === undefined ? null : ttl(opts.ttlMs);
      const tags = tagEntries(opts.tags);
      // The upsert locks the record row first, so concurrent puts of one key replace its tags one after the other.
      await transaction(async (client) => {
        await client.query(sql.put, [namespace, key, json, ttlMs]);
        await client.query(sql.dropTags, [namespace, key]);
        if (tags.length > 0) {
          await client.query(sql.addTags, [namespace, key, tags.map(([t]) => t), tags.map(([, v]) => v)]);
        }
      });
    },
    async get(namespace, key) {
      const { rows: found } = await pool.query<{ value: string }>(sql.get, [namespace, key]);
      return found[0] && (JSON.parse(found[0].value) as JsonObject);
    },
    async delete(namespace, key) {
      return countLive((await pool.query<{ live: boolean }>(sql.delete, [namespace, key])).rows) > 0;
    },
    async list(namespace, opts = {}) {
      const from = opts.prefix ?? '';
      const to = prefixEnd(from);
      const params: unknown[] = [namespace, from, limitOf(opts.limit) ?? null];
      const query = to === undefined ? sql.listFrom : sql.listRange;
      if (to !== undefined) params.push(to);
      return rows((await pool.query<{ key: string; value: string }>(query, params)).rows);
    },
    async findByTag(namespace, tag, value) {
      return rows((await pool.query<{ key: string; value: string }>(sql.findByTag, [tag, value, namespace])).rows);
    },
    async deleteByTag(tag, value) {
      return countLive((await pool.query<{ live: boolean }>(sql.deleteByTag, [tag, value])).rows);
    },
    async consume(namespace, key, field, stamp) {
      stampJson(stamp);
      // FOR UPDATE: a concurrent consumer waits here, then reads the row as this one left it.
      return transaction(async (client) => {
        const { rows: found } = await client.query<{ value: string }>(sql.lock, [namespace, key]);
        if (!found[0]) return undefined;
        const { before, after } = consumeJson(found[0].value, field, stamp);
        if (after !== undefined) await client.query(sql.update, [namespace, key, after]);
        return before;
      });
    },
  };

  return {
    store,
    async sweep() {
      await pool.query(sql.sweep);
    },
  };
}
