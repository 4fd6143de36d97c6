/**
 * CounterStore on Redis, shared by every replica. Layout under `prefix` (namespace and key escaped as in kv):
 *   cb:<ns>:<key>  token bucket: hash {v: tokens, t: last update}, expiring when it would be full again
 *   cw:<ns>:<key>  window counter: hash {c: count, r: reset time}, expiring at its reset
 *   cs:<ns>:<key>  concurrency slots: sorted set of leases scored by their expiry
 * Every operation is one Lua script, so each is atomic.
 */
import type { Redis } from 'ioredis';
import type { CounterStore } from './types.js';

type Script = (...args: Array<string | number>) => Promise<unknown>;

// ARGV: capacity, refill per ms, cost, now, ms until the new state is full again. Key expiry is relative (PEXPIRE):
// the times in the data are the caller's clock, which need not be Redis's.
const TAKE = `
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
local h = redis.call('HMGET', KEYS[1], 'v', 't')
local level = cap
if h[1] then
  local elapsed = now - tonumber(h[2])
  if elapsed < 0 then elapsed = 0 end
  level = math.min(cap, tonumber(h[1]) + elapsed * rate)
end
local ok = 0
if level >= cost then
  level = level - cost
  ok = 1
end
redis.call('HSET', KEYS[1], 'v', string.format('%.17g', level), 't', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {ok, string.format('%.17g', level)}`;

// ARGV: amount, limit, reset time of a new window, now.
const INCREMENT = `
local amount = tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[1], 'c', 'r')
local count = 0
local reset = ARGV[3]
if h[1] and tonumber(h[2]) > tonumber(ARGV[4]) then
  count = tonumber(h[1])
  reset = h[2]
end
if count + amount > tonumber(ARGV[2]) then return {0, count} end
count = count + amount
redis.call('HSET', KEYS[1], 'c', count, 'r', reset)
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(reset) - tonumber(ARGV[4])))
return {1, count}`;

// ARGV: limit, lease, expiry of the lease, now.
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - tonumber(ARGV[4])))
return 1`;

export function createRedisCounters(client: Redis, prefix: string): CounterStore {
  const script = (name: string, lua: string): Script => {
    client.defineCommand(name, { numberOfKeys: 1, lua });
    return (client as unknown as Record<string, Script>)[name]!.bind(client);
  };
  const takeScript = script('portcullisCounterTake', TAKE);
  const incrementScript = script('portcullisCounterIncrement', INCREMENT);
  const acquireScript = script('portcullisCounterAcquire', ACQUIRE);
  const k = (kind: string, ns: string, key: string) => `${prefix}${kind}:${encodeURIComponent(ns)}:${encodeURIComponent(key)}`;

  return {
    async take(ns, key, spec, cost, now) {
      const perMs = spec.refillPerSecond / 1000;
      const [ok, level] = (await takeScript(k('cb', ns, key), spec.capacity, perMs, cost, now, Math.max(1, Math.ceil(spec.capacity / perMs)))) as [number, string];
      const value = Number(level);
      if (ok === 1) return { ok: true, remaining: Math.floor(value), retryAfterMs: 0 };
      return { ok: false, remaining: Math.floor(value), retryAfterMs: cost > spec.capacity ? Infinity : Math.ceil((cost - value) / perMs) };
    },
    async increment(ns, key, amount, limit, resetAt, now) {
      const [ok, count] = (await incrementScript(k('cw', ns, key), amount, limit, Math.ceil(resetAt), now)) as [number, number];
      return { ok: ok === 1, count: Number(count) };
    },
    async count(ns, key, now) {
      const [c, r] = await client.hmget(k('cw', ns, key), 'c', 'r');
      return c !== null && r !== null && Number(r) > now ? Number(c) : 0;
    },
    async acquire(ns, key, limit, lease, expiresAt, now) {
      return (await acquireScript(k('cs', ns, key), limit, lease, Math.ceil(expiresAt), now)) === 1;
    },
    async release(ns, key, lease) {
      await client.zrem(k('cs', ns, key), lease);
    },
  };
}
