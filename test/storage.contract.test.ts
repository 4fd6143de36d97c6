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

  async 'close releases every handle and is idempotent'(open) {
    const before = countHandles();
    const s = await open();
    await s.sessions.create(session('s', 1));
    await s.events.append('s', 'A', 'd');
    await s.kv.put('n', 'k', {}, 60_000);
    await Promise.all([s.sessions.count(), s.kv.get('n', 'k'), s.events.replayAfter('s', '1')]);
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
  await a.close();
  const c = await location.open(256);
  try {
    assert.deepEqual(await c.sessions.get('kept'), session('kept', 42, { clientInfo: { name: 'c' } }));
    assert.deepEqual(await c.events.replayAfter('kept', first), { streamId: 'A', events: [{ eventId: second, streamId: 'A', data: 'two' }] });
    const third = await c.events.append('kept', 'A', 'three');
    assert.ok(![first, second].includes(third), 'ids are not reused after reopening');
    assert.deepEqual(await c.kv.get('n', 'k'), { v: 1 });
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
