/**
 * Redis keeps RecordStore indexes beside the records (see src/storage/redisRecords.ts). The contract suite proves
 * that expired records are never returned; this proves their index entries do not pile up: readers prune what they
 * meet, the sweep removes the rest, and delete/deleteByTag leave no keys behind. Skipped (visibly) when Redis is not
 * reachable, except under CI=true.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createRedisStorage } from '../src/storage/redis.js';

const REDIS_URL = process.env.PORTCULLIS_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

test('redis record indexes are cleaned up', async (t) => {
  const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, retryStrategy: () => null });
  let cause: Error | undefined;
  client.on('error', (err: Error) => (cause ??= err));
  try {
    await client.connect();
  } catch (err) {
    client.disconnect();
    const notice = `Redis not reachable at ${REDIS_URL} (${(cause ?? (err as Error)).message})`;
    if (process.env.CI === 'true') throw new Error(`${notice}; CI=true requires every storage driver`);
    t.skip(notice);
    return;
  }
  const prefix = `pc_test:${randomUUID().slice(0, 8)}:records:`;
  const keys = async (under = '') => {
    const found: string[] = [];
    const scan = client.scanStream({ match: `${prefix}${under}*`, count: 500 });
    for await (const batch of scan) found.push(...(batch as string[]));
    return found.map((k) => k.slice(prefix.length)).sort();
  };
  try {
    await t.test('readers prune the index entries of expired records', async () => {
      const s = await createRedisStorage({ url: REDIS_URL, prefix: `${prefix}a:` });
      try {
        await s.records.put('T', 'k', {}, { ttlMs: 50, tags: { grantId: 'g' } });
        await s.records.put('T', 'kept', {}, { tags: { grantId: 'g' } });
        await sleep(150);
        assert.deepEqual((await s.records.findByTag('T', 'grantId', 'g')).map((r) => r.key), ['kept']);
        assert.deepEqual((await s.records.list('T')).map((r) => r.key), ['kept']);
        assert.deepEqual(await client.smembers(`${prefix}a:rt:grantId:g`), [`${prefix}a:r:T:kept`]);
        assert.deepEqual(await client.zrange(`${prefix}a:rn:T`, '0', '-1'), ['kept']);
        assert.equal(await client.exists(`${prefix}a:rm:T:k`), 0);
      } finally {
        await s.close();
      }
    });

    await t.test('the sweep removes the rest; delete and deleteByTag leave nothing', async () => {
      const s = await createRedisStorage({ url: REDIS_URL, prefix: `${prefix}b:`, sweepIntervalMs: 40 });
      try {
        for (let i = 0; i < 30; i++) {
          const tags = { grantId: `g:${i % 5}`, uid: `u${i}` };
          await s.records.put(`ns:${i % 3}`, `key:${i}`, { i }, { ttlMs: 50, tags });
        }
        await s.records.put('Grant', 'g', {}, { tags: { accountId: 'a' } });
        await s.records.put('Grant', 'h', {}, { tags: { accountId: 'a' } });
        for (let i = 0; i < 50 && (await keys('b:')).length > 6; i++) await sleep(20);
        assert.deepEqual(await keys('b:'), [
          'b:r:Grant:g', 'b:r:Grant:h', 'b:rm:Grant:g', 'b:rm:Grant:h', 'b:rn:Grant', 'b:rt:accountId:a',
        ]);
        assert.equal(await s.records.delete('Grant', 'g'), true);
        assert.equal(await s.records.deleteByTag('accountId', 'a'), 1);
        assert.deepEqual(await keys('b:'), []);
      } finally {
        await s.close();
      }
    });
  } finally {
    const left = await keys();
    if (left.length > 0) await client.del(...left.map((k) => prefix + k));
    await client.quit();
  }
});
