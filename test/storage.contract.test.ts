/**
 * One contract suite, run against every storage driver. PostgreSQL and Redis are skipped (visibly) when not
 * reachable, except under CI=true where that is a failure. Each case gets a fresh location (file, schema, key
 * prefix) that is removed afterwards.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createMemoryStorage } from '../src/storage/memory.js';
import { createPostgresStorage } from '../src/storage/postgres.js';
import { createRedisStorage } from '../src/storage/redis.js';
import { createSqliteStorage } from '../src/storage/sqlite.js';
import type { JsonObject } from '../src/core/jsonrpc.js';
import type { SessionRecord, Storage } from '../src/storage/types.js';

const PG_URL = process.env.PORTCULLIS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.PORTCULLIS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUN = randomUUID().slice(0, 8);

/** A fresh location for one case; `open` may be called again to reopen the same location. */
interface Location {
  open(replayEvents: number): Promise<Storage>;
  remove(): Promise<void>;
}

interface Backend {
  name: string;
  /** Whether data outlives close(): enables the reopen case. */
  persistent: boolean;
  /** Resolves when the server is reachable; rejects with the reason otherwise. */
  probe?: () => Promise<void>;
  /** Where the probe connects, for the skip notice. */
  target?: string;
  label?: string;
  location(): Location;
}

let seq = 0;
const backends: Backend[] = [
  {
    name: 'memory',
    persistent: false,
    location: () => ({ open: async (replayEvents) => createMemoryStorage({ replayEvents }), remove: async () => {} }),
  },
  {
    name: 'sqlite (file)',
    persistent: true,
    location() {
      const dir = mkdtempSync(join(tmpdir(), 'portcullis-storage-'));
      // A nested path proves the parent folder is created.
      const path = join(dir, 'nested', 'state.db');
      return {
        open: async (replayEvents) => createSqliteStorage({ path, replayEvents }),
        remove: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'sqlite (:memory:)',
    persistent: false,
    location: () => ({
      open: async (replayEvents) => createSqliteStorage({ path: ':memory:', replayEvents }),
      remove: async () => {},
    }),
  },
  {
    name: 'postgres',
    persistent: true,
    label: 'PostgreSQL',
    target: PG_URL,
    async probe() {
      const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
      } finally {
        await client.end().catch(() => {});
      }
    },
    location() {
      const schema = `pc_test_${RUN}_${++seq}`;
      return {
        open: (replayEvents) => createPostgresStorage({ connectionString: PG_URL, schema, replayEvents }),
        async remove() {
          const client = new pg.Client({ connectionString: PG_URL });
          await client.connect();
          try {
            await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          } finally {
            await client.end();
          }
        },
      };
    },
  },
  {
    name: 'redis',
    persistent: true,
    label: 'Redis',
    target: REDIS_URL,
    async probe() {
      const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, retryStrategy: () => null });
      let cause: Error | undefined;
      client.on('error', (err: Error) => (cause ??= err));
      try {
        await client.connect();
        await client.ping();
      } catch (err) {
        throw cause ?? err;
      } finally {
        client.disconnect();
      }
    },
    location() {
      const prefix = `pc_test:${RUN}:${++seq}:`;
      return {
        open: (replayEvents) => createRedisStorage({ url: REDIS_URL, prefix, replayEvents }),
        async remove() {
          const client = new Redis(REDIS_URL);
          try {
            const keys: string[] = [];
            for await (const batch of client.scanStream({ match: `${prefix}*`, count: 500 })) keys.push(...(batch as string[]));
            if (keys.length > 0) await client.del(...keys);
          } finally {
            await client.quit();
          }
        },
      };
    },
  },
];

function session(id: string, lastSeenAt: number, extra: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id,
    endpoint: 'server:fs',
    principal: 'user:alice',
    protocolVersion: '2025-06-18',
    clientCapabilities: { sampling: {}, roots: { listChanged: true } },
    createdAt: 1_000,
    lastSeenAt,
    ...extra,
  };
}

type Open = (replayEvents?: number) => Promise<Storage>;
type Case = (open: Open, t: TestContext) => Promise<void>;

const cases: Record<string, Case> = {
  async 'session create/get round-trips principal, capabilities and clientInfo'(open) {
    const s = await open();
    const full = session('s1', 5_000, {
      principal: 'oidc|bob',
      clientInfo: { name: 'inspector', version: '1.2.3', title: 'Ünïcode ✓' },
      clientCapabilities: { elicitation: { form: {} }, experimental: { x: [1, 'two', null, true] } },
    });
    await s.sessions.create(full);
    await s.sessions.create(session('s2', 5_000));
    assert.deepEqual(await s.sessions.get('s1'), full);
    const bare = await s.sessions.get('s2');
    assert.deepEqual(bare, session('s2', 5_000));
    assert.equal(bare && 'clientInfo' in bare, false, 'absent clientInfo stays absent');
    assert.equal(await s.sessions.get('nope'), undefined);
    await assert.rejects(s.sessions.create(session('s1', 6_000)), 'a duplicate id is refused');
    assert.equal((await s.sessions.get('s1'))?.principal, 'oidc|bob', 'the duplicate did not overwrite');
  },

  async 'session touch, delete and count'(open) {
    const s = await open();
    assert.equal(await s.sessions.count(), 0);
    await s.sessions.create(session('a', 100));
    await s.sessions.create(session('b', 100));
    assert.equal(await s.sessions.count(), 2);
    assert.equal(await s.sessions.touch('a', 900), true);
    assert.equal((await s.sessions.get('a'))?.lastSeenAt, 900);
    assert.equal((await s.sessions.get('a'))?.createdAt, 1_000, 'touch changes lastSeenAt only');
    assert.equal(await s.sessions.touch('missing', 900), false);
    assert.equal(await s.sessions.delete('a'), true);
    assert.equal(await s.sessions.delete('a'), false);
    assert.equal(await s.sessions.get('a'), undefined);
    assert.equal(await s.sessions.touch('a', 1_000), false, 'a deleted session cannot be revived by touch');
    assert.equal(await s.sessions.count(), 1);
  },

  async 'expire removes exactly the sessions idle since before the cutoff'(open) {
    const s = await open();
    await s.sessions.create(session('old1', 100));
    await s.sessions.create(session('old2', 249));
    await s.sessions.create(session('edge', 250));
    await s.sessions.create(session('new', 300));
    await s.sessions.create(session('touched', 100));
    await s.sessions.touch('touched', 400);
    assert.deepEqual((await s.sessions.expire(250)).sort(), ['old1', 'old2']);
    assert.equal(await s.sessions.count(), 3);
    assert.equal(await s.sessions.get('old1'), undefined);
    assert.ok(await s.sessions.get('edge'), 'lastSeenAt equal to the cutoff is not idle');
    assert.deepEqual(await s.sessions.expire(250), [], 'a second pass finds nothing');
  },

  async 'events replay in order, only from the same stream'(open) {
    const s = await open();
    const a1 = await s.events.append('sess', 'A', 'a1');
    const b1 = await s.events.append('sess', 'B', 'b1');
    const a2 = await s.events.append('sess', 'A', 'a2');
    const other = await s.events.append('other-session', 'A', 'x1');
    const b2 = await s.events.append('sess', 'B', 'b2');
    const a3 = await s.events.append('sess', 'A', 'a3');
    const ids = [a1, b1, a2, other, b2, a3];
    assert.equal(new Set(ids).size, ids.length, 'ids are unique, also across sessions');

    assert.deepEqual(await s.events.replayAfter('sess', a1), {
      streamId: 'A',
      events: [
        { eventId: a2, streamId: 'A', data: 'a2' },
        { eventId: a3, streamId: 'A', data: 'a3' },
      ],
    });
    assert.deepEqual(await s.events.replayAfter('sess', b1), {
      streamId: 'B',
      events: [{ eventId: b2, streamId: 'B', data: 'b2' }],
    });
    assert.deepEqual(await s.events.replayAfter('sess', a3), { streamId: 'A', events: [] });
    assert.equal(await s.events.replayAfter('sess', other), undefined, 'another session’s id is unknown here');
    assert.equal(await s.events.replayAfter('other-session', a1), undefined);
    for (const junk of ['', 'nope', '0', '-1', '1e3', '99999999999999999999', `${a1} `]) {
      assert.equal(await s.events.replayAfter('sess', junk), undefined, `junk id ${JSON.stringify(junk)}`);
    }
  },

  async 'eviction beyond replayEvents makes old ids unknown'(open) {
    const s = await open(3);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await s.events.append('sess', 'A', `e${i}`));
    const keep = await s.events.append('kept', 'A', 'k');
    assert.equal(await s.events.replayAfter('sess', ids[0]!), undefined);
    assert.equal(await s.events.replayAfter('sess', ids[1]!), undefined);
    assert.deepEqual((await s.events.replayAfter('sess', ids[2]!))?.events.map((e) => e.data), ['e3', 'e4']);
    assert.deepEqual(await s.events.replayAfter('kept', keep), { streamId: 'A', events: [] }, 'other sessions are not trimmed');
  },

  async 'deleteSession drops only that session’s events; deleting or expiring a session drops them too'(open) {
    const s = await open();
    const gone = await s.events.append('s1', 'A', '1');
    await s.events.append('s1', 'A', '2');
    const kept = await s.events.append('s2', 'A', '1');
    await s.events.append('s2', 'A', '2');
    await s.events.deleteSession('s1');
    assert.equal(await s.events.replayAfter('s1', gone), undefined);
    assert.equal((await s.events.replayAfter('s2', kept))?.events.length, 1);
    const fresh = await s.events.append('s1', 'A', '3');
    assert.notEqual(fresh, gone, 'ids are not reused after deleteSession');

    await s.sessions.create(session('s2', 100));
    await s.sessions.create(session('s3', 100));
    const s3 = await s.events.append('s3', 'A', '1');
    await s.sessions.delete('s2');
    await s.sessions.expire(200);
    assert.equal(await s.events.replayAfter('s2', kept), undefined);
    assert.equal(await s.events.replayAfter('s3', s3), undefined);
  },

  async 'kv put/get/overwrite/delete and expiry'(open) {
    const s = await open();
    const value = { call: { id: 7, method: 'tools/call' }, nested: [1, { a: null }], text: 'é\u0000' };
    await s.kv.put('pending', 'k1', value, 60_000);
    assert.deepEqual(await s.kv.get('pending', 'k1'), value);
    await s.kv.put('pending', 'k1', { v: 2 }, 60_000);
    assert.deepEqual(await s.kv.get('pending', 'k1'), { v: 2 });
    await s.kv.delete('pending', 'k1');
    assert.equal(await s.kv.get('pending', 'k1'), undefined);
    await s.kv.delete('pending', 'never-existed');
    assert.equal(await s.kv.take('pending', 'never-existed'), undefined);

    await s.kv.put('pending', 'short', { v: 1 }, 60);
    await s.kv.put('pending', 'short2', { v: 1 }, 60);
    await s.kv.put('pending', 'long', { v: 1 }, 60_000);
    assert.deepEqual(await s.kv.get('pending', 'short'), { v: 1 });
    await sleep(150);
    assert.equal(await s.kv.get('pending', 'short'), undefined);
    assert.equal(await s.kv.take('pending', 'short2'), undefined, 'take does not return expired values');
    assert.deepEqual(await s.kv.get('pending', 'long'), { v: 1 });
    await s.kv.put('pending', 'short', { v: 3 }, 60_000);
    assert.deepEqual(await s.kv.get('pending', 'short'), { v: 3 }, 'an expired key can be written again');
    await assert.rejects(s.kv.put('pending', 'bad', {}, 0), RangeError);
  },

  async 'take is at-most-once under 20 concurrent takers'(open) {
    const s = await open();
    for (let round = 0; round < 5; round++) {
      const key = `call-${round}`;
      await s.kv.put('pending', key, { round }, 60_000);
      const results = await Promise.all(Array.from({ length: 20 }, () => s.kv.take('pending', key)));
      const winners = results.filter((r) => r !== undefined);
      assert.deepEqual(winners, [{ round }], `round ${round}: exactly one taker wins`);
      assert.equal(await s.kv.get('pending', key), undefined);
    }
  },

  async 'kv namespaces are isolated'(open) {
    const s = await open();
    await s.kv.put('a', 'k', { from: 'a' }, 60_000);
    await s.kv.put('b', 'k', { from: 'b' }, 60_000);
    await s.kv.put('x:y', 'z', { from: 'x:y/z' }, 60_000);
    await s.kv.put('x', 'y:z', { from: 'x/y:z' }, 60_000);
    assert.deepEqual(await s.kv.take('a', 'k'), { from: 'a' });
    assert.deepEqual(await s.kv.get('b', 'k'), { from: 'b' });
    await s.kv.delete('x', 'y:z');
    assert.deepEqual(await s.kv.get('x:y', 'z'), { from: 'x:y/z' }, 'separator characters cannot make keys collide');
    assert.equal(await s.kv.get('x', 'y:z'), undefined);
  },

  async 'records put/get/replace/delete, values round-trip exactly, separate from kv'(open) {
    const s = await open();
    const value = {
      sub: 'alice',
      nested: { list: [1, 'two', null, true, { deep: -1.5e-300 }] },
      text: 'é\u0000"\\\n✓',
      precise: 0.30000000000000004,
      large: 2 ** 53 - 1,
      '1': 'integer-like key',
    };
    await s.records.put('Client', 'c1', value);
    const got = await s.records.get('Client', 'c1');
    assert.deepEqual(got, value);
    assert.equal(JSON.stringify(got), JSON.stringify(value), 'key order and number text are kept');
    await s.records.put('Client', 'c1', { replaced: true });
    assert.deepEqual(await s.records.get('Client', 'c1'), { replaced: true });
    assert.equal(await s.records.get('Client', 'missing'), undefined);
    assert.equal(await s.records.get('Other', 'c1'), undefined, 'namespaces are isolated');
    assert.equal(await s.records.delete('Client', 'c1'), true);
    assert.equal(await s.records.delete('Client', 'c1'), false);
    assert.equal(await s.records.delete('Client', 'never-existed'), false);
    assert.equal(await s.records.get('Client', 'c1'), undefined);
    assert.deepEqual(await s.records.list('Client'), []);

    await assert.rejects(s.records.put('n', 'k', [1] as unknown as JsonObject), TypeError);
    await assert.rejects(s.records.put('n', 'k', {}, { ttlMs: 0 }), RangeError);
    await assert.rejects(s.records.put('n', 'k', {}, { tags: { t: 1 as unknown as string } }), TypeError);
    await assert.rejects(s.records.list('n', { limit: 0 }), RangeError);
    assert.equal(await s.records.get('n', 'k'), undefined, 'a refused put writes nothing');

    await s.kv.put('n', 'k', { from: 'kv' }, 60_000);
    await s.records.put('n', 'k', { from: 'records' });
    assert.deepEqual(await s.kv.get('n', 'k'), { from: 'kv' }, 'records and kv do not share keys');
    assert.deepEqual(await s.records.get('n', 'k'), { from: 'records' });
  },

  async 'records expire: never returned, listed, found, counted or consumed once expired'(open) {
    const s = await open();
    await s.records.put('T', 'a', { v: 'a' }, { ttlMs: 60_000, tags: { grantId: 'g' } });
    await s.records.put('T', 'd', { v: 'd' }, { tags: { grantId: 'g' } });
    await s.records.put('T', 'renewed', { v: 1 }, { ttlMs: 100 });
    await s.records.put('T', 'renewed', { v: 2 });
    const shortLived = ['b', 'c', 'consumed'];
    for (const key of shortLived) await s.records.put('T', key, { v: key }, { ttlMs: 100, tags: { grantId: 'g' } });
    assert.deepEqual(await s.records.consume('T', 'consumed', 'consumed', 1), { v: 'consumed' });
    assert.deepEqual(await s.records.get('T', 'b'), { v: 'b' });
    assert.equal((await s.records.findByTag('T', 'grantId', 'g')).length, 5);
    await sleep(250);

    assert.equal(await s.records.get('T', 'b'), undefined);
    assert.equal(await s.records.get('T', 'consumed'), undefined, 'consume keeps the TTL');
    assert.deepEqual(await s.records.get('T', 'renewed'), { v: 2 }, 'a put without ttlMs removes the expiry');
    assert.deepEqual((await s.records.list('T', { limit: 2 })).map((r) => r.key), ['a', 'd'], 'the limit counts live records only');
    assert.deepEqual((await s.records.list('T')).map((r) => r.key), ['a', 'd', 'renewed']);
    assert.deepEqual((await s.records.findByTag('T', 'grantId', 'g')).map((r) => r.key), ['a', 'd']);
    assert.equal(await s.records.consume('T', 'c', 'consumed', 2), undefined);
    assert.equal(await s.records.delete('T', 'c'), false, 'deleting an expired record reports nothing deleted');
    await s.records.put('T', 'b', { v: 'again' });
    assert.deepEqual(await s.records.get('T', 'b'), { v: 'again' }, 'an expired key can be written again');
    assert.deepEqual((await s.records.findByTag('T', 'grantId', 'g')).map((r) => r.key), ['a', 'd'], 'without its old tags');
    assert.equal(await s.records.deleteByTag('grantId', 'g'), 2, 'expired records are not counted');
    assert.deepEqual((await s.records.list('T')).map((r) => r.key), ['b', 'renewed']);
  },

  async 'records list in code point order, by prefix and limit'(open) {
    const s = await open();
    // Code point order; UTF-16 order would put '😀' (a surrogate pair) before '\uFFFF'.
    const ordered = ['', 'A', 'a', 'a b', 'a%', 'a:', 'aa', 'ab', 'a\u{10FFFF}', 'a\u{10FFFF}x', 'b', 'é', '\uFFFF', '😀'];
    const shuffled = [...ordered].sort(() => Math.random() - 0.5);
    for (const key of shuffled) await s.records.put('L', key, { key });
    await s.records.put('L2', 'a', { other: true });
    await s.records.put('L\u0001', 'a', { other: true });
    const keys = async (opts?: { prefix?: string; limit?: number }) => (await s.records.list('L', opts)).map((r) => r.key);

    assert.deepEqual(await keys(), ordered);
    assert.deepEqual(await s.records.list('L', { prefix: 'é' }), [{ key: 'é', value: { key: 'é' } }]);
    assert.deepEqual(await keys({ prefix: 'a' }), ordered.filter((k) => k.startsWith('a')));
    assert.deepEqual(await keys({ prefix: 'a', limit: 3 }), ['a', 'a b', 'a%']);
    assert.deepEqual(await keys({ prefix: 'a\u{10FFFF}' }), ['a\u{10FFFF}', 'a\u{10FFFF}x']);
    assert.deepEqual(await keys({ prefix: '\uFFFF' }), ['\uFFFF']);
    assert.deepEqual(await keys({ prefix: 'a%' }), ['a%'], 'LIKE wildcards are not special');
    assert.deepEqual(await keys({ prefix: '' }), ordered);
    assert.deepEqual(await keys({ limit: 1 }), ['']);
    assert.deepEqual(await keys({ limit: 100 }), ordered);
    assert.deepEqual(await keys({ prefix: 'zz' }), []);
    assert.deepEqual(await s.records.list('nothing here'), []);
  },

  async 'records list pages through many records'(open) {
    const s = await open();
    const all = Array.from({ length: 620 }, (_, i) => `k${String(i).padStart(4, '0')}`);
    for (let i = 0; i < all.length; i += 40) {
      await Promise.all(all.slice(i, i + 40).map((key) => s.records.put('Many', key, { key })));
    }
    const listed = await s.records.list('Many');
    assert.deepEqual(listed.map((r) => r.key), all);
    assert.deepEqual(listed[617], { key: 'k0617', value: { key: 'k0617' } });
    assert.deepEqual((await s.records.list('Many', { limit: 555 })).map((r) => r.key), all.slice(0, 555));
    assert.deepEqual((await s.records.list('Many', { prefix: 'k05' })).map((r) => r.key), all.slice(500, 600));
  },

  async 'records tags: findByTag, replacing drops old tags, deleteByTag spans namespaces'(open) {
    const s = await open();
    const find = async (ns: string, tag: string, value: string) =>
      (await s.records.findByTag(ns, tag, value)).map((r) => r.key);
    await s.records.put('AccessToken', 'at2', { n: 2 }, { tags: { grantId: 'g1' } });
    await s.records.put('AccessToken', 'at1', { n: 1 }, { tags: { grantId: 'g1', uid: 'u1' } });
    await s.records.put('RefreshToken', 'rt1', { n: 3 }, { tags: { grantId: 'g1' } });
    await s.records.put('AuthorizationCode', 'ac1', { n: 4 }, { tags: { grantId: 'g2' } });
    await s.records.put('Session', 's1', { n: 5 }, { tags: { uid: 'g1' } });
    await s.records.put('Grant', 'g1', { n: 6 });

    assert.deepEqual(await s.records.findByTag('AccessToken', 'grantId', 'g1'), [
      { key: 'at1', value: { n: 1 } },
      { key: 'at2', value: { n: 2 } },
    ]);
    assert.deepEqual(await find('RefreshToken', 'grantId', 'g1'), ['rt1']);
    assert.deepEqual(await find('Session', 'grantId', 'g1'), [], 'the same value under another tag does not match');
    assert.deepEqual(await find('Session', 'uid', 'g1'), ['s1']);
    assert.deepEqual(await find('AccessToken', 'uid', 'u1'), ['at1']);
    assert.deepEqual(await find('AccessToken', 'grantId', 'nope'), []);

    await s.records.put('AccessToken', 'at1', { n: 7 }, { tags: { grantId: 'g2' } });
    assert.deepEqual(await find('AccessToken', 'grantId', 'g1'), ['at2'], 'a replaced record loses its old tags');
    assert.deepEqual(await find('AccessToken', 'uid', 'u1'), []);
    assert.deepEqual(await s.records.findByTag('AccessToken', 'grantId', 'g2'), [{ key: 'at1', value: { n: 7 } }]);
    await s.records.put('AccessToken', 'at2', { n: 8 });
    assert.deepEqual(await find('AccessToken', 'grantId', 'g1'), [], 'a put without tags drops them all');
    const absent = undefined as unknown as string;
    await s.records.put('AccessToken', 'at2', { n: 9 }, { tags: { grantId: 'g1', uid: absent } });

    assert.equal(await s.records.deleteByTag('grantId', 'g1'), 2);
    assert.equal(await s.records.get('AccessToken', 'at2'), undefined);
    assert.equal(await s.records.get('RefreshToken', 'rt1'), undefined);
    assert.deepEqual(await s.records.get('Session', 's1'), { n: 5 }, 'a record with the value under another tag stays');
    assert.deepEqual(await s.records.get('Grant', 'g1'), { n: 6 });
    assert.deepEqual(await s.records.get('AccessToken', 'at1'), { n: 7 });
    assert.equal(await s.records.deleteByTag('grantId', 'g1'), 0);
    assert.equal(await s.records.deleteByTag('grantId', 'g2'), 2);
    assert.deepEqual((await s.records.list('AccessToken')).map((r) => r.key), []);
    assert.deepEqual((await s.records.list('AuthorizationCode')).map((r) => r.key), []);

    await s.records.put('X', 'k', {}, { tags: { t: 'v' } });
    assert.equal(await s.records.delete('X', 'k'), true);
    assert.deepEqual(await find('X', 't', 'v'), [], 'delete removes the record from its tags');
    assert.equal(await s.records.deleteByTag('t', 'v'), 0);
    await s.records.put('X', 'k', {});
    assert.equal(await s.records.deleteByTag('t', 'v'), 0, 'a record re-put without the tag is not deleted by it');
    assert.deepEqual(await s.records.get('X', 'k'), {});
  },

  async 'records consume: exactly one of 20 concurrent consumers sees the field absent'(open) {
    const s = await open();
    assert.equal(await s.records.consume('AuthorizationCode', 'missing', 'consumed', 1), undefined);
    for (let round = 0; round < 3; round++) {
      const key = `code-${round}`;
      const value = { round, grantId: `g${round}`, precise: 0.30000000000000004, text: 'é\u0000' };
      await s.records.put('AuthorizationCode', key, value, { ttlMs: 60_000, tags: { grantId: `g${round}` } });
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => s.records.consume('AuthorizationCode', key, 'consumed', 1_000 + i)),
      );
      const fresh = results.filter((r) => r !== undefined && !('consumed' in r));
      assert.equal(fresh.length, 1, `round ${round}: exactly one consumer sees the field absent`);
      assert.deepEqual(fresh[0], value);
      const winner = results.indexOf(fresh[0]);
      const after = await s.records.get('AuthorizationCode', key);
      assert.deepEqual(after, { ...value, consumed: 1_000 + winner }, 'the winner’s stamp is stored');
      for (const [i, r] of results.entries()) {
        if (i !== winner) assert.deepEqual(r, after, 'the others see it consumed');
      }
      assert.deepEqual(await s.records.findByTag('AuthorizationCode', 'grantId', `g${round}`), [{ key, value: after }]);
    }

    await s.records.put('T', 'empty', {});
    assert.deepEqual(await s.records.consume('T', 'empty', 'consumed', 5), {});
    assert.deepEqual(await s.records.get('T', 'empty'), { consumed: 5 });
    await s.records.put('T', 'odd', { a: 1, nul: null });
    const odd0 = await s.records.consume('T', 'odd', 'toString', 7);
    assert.deepEqual(odd0, { a: 1, nul: null }, 'inherited names are absent');
    assert.deepEqual(await s.records.consume('T', 'odd', 'nul', 8), { a: 1, nul: null, toString: 7 });
    assert.equal((await s.records.get('T', 'odd'))?.nul, null, 'a field holding null is present');
    await s.records.consume('T', 'odd', '__proto__', 9);
    await s.records.consume('T', 'odd', 'é "q" \\ \n', 1.5);
    const odd = await s.records.get('T', 'odd');
    assert.equal(Object.hasOwn(odd!, '__proto__') && odd!['__proto__'], 9);
    assert.equal(odd!['é "q" \\ \n'], 1.5);
    await assert.rejects(s.records.consume('T', 'odd', 'x', Number.NaN), RangeError);
  },

  async 'records accept any characters in namespaces, keys and tags'(open) {
    const s = await open();
    const pairs: Array<[string, string]> = [
      ['x:y', 'z'], ['x', 'y:z'], ['x%3Ay', 'z'], ['x', 'y%3Az'], ['x', 'y%253Az'], ['', ''], ['', ':'], [':', ''],
      ['名前空間', 'キー🔑'], ['ns', "'; DROP TABLE records; --"], ['ns', 'a*b?[c]\\%_'], ['ns', ' spaced '],
      ['ns', 'new\nline\ttab'], ['\u202Ertl', 'zero\u200Bwidth'], ['ns', 'a'.repeat(2_000)], ['r', 'rn:x'],
    ];
    for (const [i, [ns, key]] of pairs.entries()) {
      await s.records.put(ns, key, { i }, { tags: { owner: `${ns}:${key}`, 'odd:tag%': ':%3A', all: 'yes' } });
    }
    for (const [i, [ns, key]] of pairs.entries()) {
      assert.deepEqual(await s.records.get(ns, key), { i }, `get ${JSON.stringify([ns, key])}`);
      assert.deepEqual(await s.records.findByTag(ns, 'owner', `${ns}:${key}`), [{ key, value: { i } }]);
    }
    assert.deepEqual((await s.records.list('x')).map((r) => r.key), ['y%253Az', 'y%3Az', 'y:z']);
    assert.deepEqual((await s.records.list('x:y')).map((r) => r.key), ['z']);
    assert.deepEqual((await s.records.list('')).map((r) => r.key), ['', ':']);
    const oddTag = await s.records.findByTag('x', 'odd:tag%', ':%3A');
    assert.deepEqual(oddTag.map((r) => r.key), ['y%253Az', 'y%3Az', 'y:z']);
    assert.deepEqual(await s.records.findByTag('x', 'odd:tag%', '::'), []);
    assert.deepEqual(await s.records.findByTag('x', 'odd', 'tag%::%3A'), []);
    assert.equal(await s.records.delete('x', 'y:z'), true);
    assert.deepEqual(await s.records.get('x:y', 'z'), { i: 0 }, 'separator characters cannot make keys collide');
    assert.equal(await s.records.deleteByTag('all', 'yes'), pairs.length - 1);
    for (const [ns, key] of pairs) assert.equal(await s.records.get(ns, key), undefined);
  },

  async 'records hold large values'(open) {
    const s = await open();
    const big = {
      blob: 'x'.repeat(2_000_000),
      list: Array.from({ length: 10_000 }, (_, i) => ({ i, s: `item ${i} ✓`, f: i / 7 })),
    };
    await s.records.put('Big', 'k', big, { tags: { t: 'v' } });
    assert.deepEqual(await s.records.get('Big', 'k'), big);
    assert.deepEqual(await s.records.list('Big'), [{ key: 'k', value: big }]);
    assert.deepEqual(await s.records.consume('Big', 'k', 'consumed', 1), big);
    assert.deepEqual(await s.records.findByTag('Big', 't', 'v'), [{ key: 'k', value: { ...big, consumed: 1 } }]);
  },

  async 'counters: a token bucket refills with time and refuses with the wait'(open) {
    const s = await open();
    const spec = { capacity: 3, refillPerSecond: 2 };
    const t0 = 1_700_000_000_000;
    for (let i = 0; i < 3; i++) assert.deepEqual(await s.counters.take('rl', 'alice', spec, 1, t0), { ok: true, remaining: 2 - i, retryAfterMs: 0 });
    assert.deepEqual(await s.counters.take('rl', 'alice', spec, 1, t0), { ok: false, remaining: 0, retryAfterMs: 500 });
    assert.equal((await s.counters.take('rl', 'bob', spec, 1, t0)).ok, true, 'keys are separate');
    assert.equal((await s.counters.take('other', 'alice', spec, 1, t0)).ok, true, 'namespaces are separate');
    const later = await s.counters.take('rl', 'alice', spec, 1, t0 + 250);
    assert.equal(later.ok, false);
    assert.equal(later.retryAfterMs, 250, 'half a token refilled after 250 ms');
    assert.equal((await s.counters.take('rl', 'alice', spec, 1, t0 + 500)).ok, true, 'one token after 500 ms');
    assert.deepEqual(await s.counters.take('rl', 'alice', spec, 1, t0 + 60_000), { ok: true, remaining: 2, retryAfterMs: 0 }, 'never above capacity');
    assert.equal((await s.counters.take('rl', 'alice', spec, 1, t0 + 50_000)).ok, true, 'a clock that goes back refills nothing, takes what is there');
    const huge = await s.counters.take('rl', 'carol', spec, 4, t0);
    assert.equal(huge.ok, false);
    assert.equal(huge.retryAfterMs, Infinity, 'a cost above capacity never fits');
    assert.equal((await s.counters.take('rl', 'carol', spec, 3, t0)).ok, true, 'a refused take takes nothing');
    assert.equal((await s.counters.take('rl', 'dave', { capacity: 2, refillPerSecond: 0.5 }, 0.5, t0)).remaining, 1, 'fractional costs');
  },

  async 'counters: 50 concurrent takes from a bucket of 10 grant exactly 10'(open) {
    const s = await open();
    const now = 1_700_000_000_000;
    const results = await Promise.all(Array.from({ length: 50 }, () => s.counters.take('rl', 'k', { capacity: 10, refillPerSecond: 0.001 }, 1, now)));
    assert.equal(results.filter((r) => r.ok).length, 10);
  },

  async 'counters: a window counter counts to its limit, refuses beyond it, and starts over after its reset'(open) {
    const s = await open();
    const now = 1_700_000_000_000;
    const reset = now + 86_400_000;
    assert.equal(await s.counters.count('q', 'alice', now), 0);
    assert.deepEqual(await s.counters.increment('q', 'alice', 1, 3, reset, now), { ok: true, count: 1 });
    assert.deepEqual(await s.counters.increment('q', 'alice', 2, 3, reset, now), { ok: true, count: 3 });
    assert.deepEqual(await s.counters.increment('q', 'alice', 1, 3, reset, now + 1), { ok: false, count: 3 });
    assert.deepEqual(await s.counters.increment('q', 'alice', 1, 4, reset + 999, now + 2), { ok: true, count: 4 }, 'a raised limit applies at once; the window keeps its reset');
    assert.equal(await s.counters.count('q', 'alice', now + 3), 4);
    assert.deepEqual(await s.counters.increment('q', 'alice', 5, 4, reset + 1, now + 3), { ok: false, count: 4 });
    assert.equal(await s.counters.count('q', 'alice', reset), 0, 'past its reset the count is 0');
    assert.deepEqual(await s.counters.increment('q', 'alice', 1, 3, reset + 86_400_000, reset), { ok: true, count: 1 }, 'a new window');
    assert.equal(await s.counters.count('q', 'alice', reset + 86_399_999), 1);
    assert.equal(await s.counters.count('q', 'alice', reset + 86_400_000), 0, 'the new window has the new reset');
    assert.deepEqual(await s.counters.increment('q', 'new', 5, 4, reset, now), { ok: false, count: 0 }, 'a first step beyond the limit counts nothing');
    const many = await Promise.all(Array.from({ length: 30 }, () => s.counters.increment('q', 'race', 1, 7, reset, now)));
    assert.equal(many.filter((r) => r.ok).length, 7, 'concurrent increments never pass the limit');
    assert.equal(await s.counters.count('q', 'race', now), 7);
  },

  async 'counters: concurrency slots are granted up to the limit, released, and freed when their lease expires'(open) {
    const s = await open();
    const now = 1_700_000_000_000;
    const grants = await Promise.all(Array.from({ length: 12 }, (_, i) => s.counters.acquire('cc', 'alice', 3, `l${i}`, now + 60_000, now)));
    assert.equal(grants.filter(Boolean).length, 3, 'exactly the limit, under contention');
    const held = grants.flatMap((g, i) => (g ? [`l${i}`] : []));
    assert.equal(await s.counters.acquire('cc', 'bob', 3, 'b', now + 60_000, now), true, 'keys are separate');
    await s.counters.release('cc', 'alice', held[0]!);
    await s.counters.release('cc', 'alice', 'never-held');
    assert.equal(await s.counters.acquire('cc', 'alice', 3, 'x', now + 1_000, now), true, 'a released slot is free again');
    assert.equal(await s.counters.acquire('cc', 'alice', 3, 'y', now + 60_000, now), false);
    assert.equal(await s.counters.acquire('cc', 'alice', 3, 'y', now + 60_000, now + 1_000), true, 'an expired lease frees its slot');
  },

  async 'close releases every handle and is idempotent'(open) {
    const before = countHandles();
    const s = await open();
    await s.sessions.create(session('s', 1));
    await s.events.append('s', 'A', 'd');
    await s.kv.put('n', 'k', {}, 60_000);
    await s.records.put('n', 'k', {}, { ttlMs: 60_000, tags: { t: 'v' } });
    await Promise.all([
      s.sessions.count(), s.kv.get('n', 'k'), s.events.replayAfter('s', '1'), s.records.findByTag('n', 't', 'v'),
      s.records.consume('n', 'k', 'c', 1),
    ]);
    await s.close();
    await s.close();
    for (let i = 0; i < 50 && countHandles() > before; i++) await sleep(10);
    assert.ok(countHandles() <= before, `handles left open: ${process.getActiveResourcesInfo().join(', ')}`);
  },
};

/** Sockets and ref'd timers keep the process alive; unref'd timers are not listed. */
function countHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r !== 'FSReqCallback').length;
}

async function reopenCase(location: Location): Promise<void> {
  // Two opens racing on a fresh location: the migration runs once and both succeed.
  const [a, b] = await Promise.all([location.open(256), location.open(256)]);
  await b.close();
  await a.sessions.create(session('kept', 42, { clientInfo: { name: 'c' } }));
  const first = await a.events.append('kept', 'A', 'one');
  const second = await a.events.append('kept', 'A', 'two');
  await a.kv.put('n', 'k', { v: 1 }, 60_000);
  await a.records.put('Grant', 'g', { v: 1 }, { tags: { accountId: 'alice' } });
  await a.records.put('AccessToken', 't', { v: 2 }, { ttlMs: 60_000, tags: { grantId: 'g' } });
  await a.records.consume('AccessToken', 't', 'consumed', 7);
  const quotaReset = Date.now() + 86_400_000;
  await a.counters.increment('quota', 'alice', 2, 10, quotaReset, Date.now());
  await a.close();
  const c = await location.open(256);
  try {
    assert.deepEqual(await c.sessions.get('kept'), session('kept', 42, { clientInfo: { name: 'c' } }));
    assert.deepEqual(await c.events.replayAfter('kept', first), { streamId: 'A', events: [{ eventId: second, streamId: 'A', data: 'two' }] });
    const third = await c.events.append('kept', 'A', 'three');
    assert.ok(![first, second].includes(third), 'ids are not reused after reopening');
    assert.deepEqual(await c.kv.get('n', 'k'), { v: 1 });
    assert.deepEqual(await c.records.findByTag('Grant', 'accountId', 'alice'), [{ key: 'g', value: { v: 1 } }]);
    assert.deepEqual(await c.records.list('AccessToken'), [{ key: 't', value: { v: 2, consumed: 7 } }]);
    assert.equal(await c.records.deleteByTag('grantId', 'g'), 1);
    assert.equal(await c.counters.count('quota', 'alice', Date.now()), 2, 'quota counters survive a restart');
  } finally {
    await c.close();
  }
}

for (const backend of backends) {
  test(backend.name, async (t) => {
    if (backend.probe) {
      try {
        await backend.probe();
      } catch (err) {
        const notice = `${backend.label} not reachable at ${backend.target} (${(err as Error).message || String(err)})`;
        if (process.env.CI === 'true') throw new Error(`${notice}; CI=true requires every storage driver`);
        t.skip(notice);
        return;
      }
    }
    const run = async (name: string, body: (location: Location) => Promise<void>) => {
      await t.test(name, async () => {
        const location = backend.location();
        try {
          await body(location);
        } finally {
          await location.remove();
        }
      });
    };
    for (const [name, body] of Object.entries(cases)) {
      await run(name, async (location) => {
        const opened: Storage[] = [];
        const open: Open = async (replayEvents = 256) => {
          const s = await location.open(replayEvents);
          opened.push(s);
          return s;
        };
        try {
          await body(open, t);
        } finally {
          for (const s of opened) await s.close();
        }
      });
    }
    if (backend.persistent) await run('data survives close and reopen; migrations are idempotent', reopenCase);
  });
}
