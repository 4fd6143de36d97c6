/**
 * RecordStore on Redis. Layout under `prefix`, where namespaces, keys, tags and tag values are escaped (`%` → %25,
 * `:` → %3A) so that the first ':' after `r:` always ends the namespace:
 *   r:<ns>:<key>      the record's JSON (a string), with PX expiry when it has a TTL
 *   rm:<ns>:<key>     set of the tag-set keys the record is in (no expiry: it outlives the record until cleaned up)
 *   rn:<ns>           sorted set of the namespace's raw keys, all scored 0, so ZRANGEBYLEX lists them in byte order
 *   rt:<tag>:<value>  set of record keys (`r:…`) carrying that tag value, across namespaces
 *   rexp              sorted set of record keys with a TTL, scored by expiry (ms), for the sweep
 * Index entries of an expired record stay until a reader meets them (list, findByTag, deleteByTag) or the sweep
 * removes them; readers never return them. Every step that changes more than one key is a Lua script.
 */
import type { Redis } from 'ioredis';
import type { JsonObject } from '../core/jsonrpc.js';
import { compareKeys, limitOf, prefixEnd, recordJson, stampJson, tagEntries, ttl } from './common.js';
import type { RecordStore, StoredRecord } from './types.js';

type Script = (...args: Array<string | number>) => Promise<unknown>;

/** Scripts start with this: ARGV[1] is the prefix; `unindex(rk)` removes every index entry of record key `rk`. */
const UNINDEX = `
local P = ARGV[1]
local function unindex(rk)
  local rest = string.sub(rk, #P + 3)
  local at = string.find(rest, ':', 1, true)
  local key = string.gsub(string.gsub(string.sub(rest, at + 1), '%%3A', ':'), '%%25', '%%')
  local meta = P .. 'rm:' .. rest
  for _, set in ipairs(redis.call('SMEMBERS', meta)) do redis.call('SREM', set, rk) end
  redis.call('DEL', meta)
  redis.call('ZREM', P .. 'rn:' .. string.sub(rest, 1, at - 1), key)
  redis.call('ZREM', P .. 'rexp', rk)
end
`;

// ARGV: prefix, json, ttlMs ('' for none), expiresAt, namespace index, raw key, tag-set keys...
const PUT = `${UNINDEX}
local rk = KEYS[1]
unindex(rk)
if ARGV[3] == '' then
  redis.call('SET', rk, ARGV[2])
else
  redis.call('SET', rk, ARGV[2], 'PX', ARGV[3])
  redis.call('ZADD', P .. 'rexp', ARGV[4], rk)
end
redis.call('ZADD', ARGV[5], 0, ARGV[6])
local meta = P .. 'rm:' .. string.sub(rk, #P + 3)
for i = 7, #ARGV do
  redis.call('SADD', ARGV[i], rk)
  redis.call('SADD', meta, ARGV[i])
end
return 1`;

// ARGV: prefix, mode. 'prune' only cleans up after a record that is gone (a reader found it expired).
const DELETE = `${UNINDEX}
local existed = redis.call('EXISTS', KEYS[1])
if ARGV[2] == 'prune' and existed == 1 then return 0 end
redis.call('DEL', KEYS[1])
unindex(KEYS[1])
return existed`;

// KEYS[1] is the tag set; counts the records that were still there (not expired).
const DELETE_BY_TAG = `${UNINDEX}
local n = 0
for _, rk in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  n = n + redis.call('DEL', rk)
  unindex(rk)
end
redis.call('DEL', KEYS[1])
return n`;

// ARGV: field, field as JSON, stamp as JSON. Values are JSON.stringify output of an object: no whitespace, ends in
// '}'. The field is spliced into the text rather than re-encoded, because cjson would round numbers to 14 digits.
const CONSUME = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
if cjson.decode(v)[ARGV[1]] == nil then
  local sep = ','
  if v == '{}' then sep = '' end
  redis.call('SET', KEYS[1], string.sub(v, 1, -2) .. sep .. ARGV[2] .. ':' .. ARGV[3] .. '}', 'KEEPTTL')
end
return v`;

// ARGV: prefix, now, batch. A record still there (its TTL was renewed by a put) is rescheduled.
const SWEEP = `${UNINDEX}
local due = redis.call('ZRANGEBYSCORE', P .. 'rexp', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, rk in ipairs(due) do
  local left = redis.call('PTTL', rk)
  if left == -2 then unindex(rk)
  elseif left == -1 then redis.call('ZREM', P .. 'rexp', rk)
  else redis.call('ZADD', P .. 'rexp', tonumber(ARGV[2]) + left, rk) end
end
return #due`;

const PAGE = 500;

export interface RedisRecords {
  store: RecordStore;
  /** Removes index entries of expired records. */
  sweep(): Promise<void>;
}

export function createRedisRecords(client: Redis, prefix: string): RedisRecords {
  const script = (name: string, lua: string): Script => {
    client.defineCommand(name, { numberOfKeys: 1, lua });
    return (client as unknown as Record<string, Script>)[name]!.bind(client);
  };
  const putScript = script('portcullisRecordPut', PUT);
  const deleteScript = script('portcullisRecordDelete', DELETE);
  const deleteByTagScript = script('portcullisRecordDeleteByTag', DELETE_BY_TAG);
  const consumeScript = script('portcullisRecordConsume', CONSUME);
  const sweepScript = script('portcullisRecordSweep', SWEEP);

  const part = (s: string) => s.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));
  const unpart = (s: string) => s.replace(/%3A|%25/g, (c) => (c === '%3A' ? ':' : '%'));
  const recordsOf = (ns: string) => `${prefix}r:${part(ns)}:`;
  const recordKey = (ns: string, key: string) => recordsOf(ns) + part(key);
  const nsIndex = (ns: string) => `${prefix}rn:${part(ns)}`;
  const tagSet = (tag: string, value: string) => `${prefix}rt:${part(tag)}:${part(value)}`;

  const prune = (rks: string[]) => Promise.all(rks.map((rk) => deleteScript(rk, prefix, 'prune')));
  /** Reads the records behind `keys` of one namespace; the gone ones are returned for pruning. */
  const read = async (ns: string, keys: string[]) => {
    const found: StoredRecord[] = [];
    const gone: string[] = [];
    if (keys.length === 0) return { found, gone };
    const values = await client.mget(keys.map((k) => recordKey(ns, k)));
    keys.forEach((key, i) => {
      const json = values[i];
      if (json === null || json === undefined) gone.push(recordKey(ns, key));
      else found.push({ key, value: JSON.parse(json) as JsonObject });
    });
    return { found, gone };
  };

  const store: RecordStore = {
    async put(namespace, key, value, opts = {}) {
      const json = recordJson(value);
      const ttlMs = opts.ttlMs === undefined ? undefined : ttl(opts.ttlMs);
      const sets = tagEntries(opts.tags).map(([tag, tagValue]) => tagSet(tag, tagValue));
      const expiresAt = ttlMs === undefined ? '' : Date.now() + ttlMs;
      const rk = recordKey(namespace, key);
      await putScript(rk, prefix, json, ttlMs ?? '', expiresAt, nsIndex(namespace), key, ...sets);
    },
    async get(namespace, key) {
      const json = await client.get(recordKey(namespace, key));
      return json === null ? undefined : (JSON.parse(json) as JsonObject);
    },
    async delete(namespace, key) {
      return (await deleteScript(recordKey(namespace, key), prefix, 'delete')) === 1;
    },
    async list(namespace, opts = {}) {
      const limit = limitOf(opts.limit);
      const prefixOpt = opts.prefix ?? '';
      const end = prefixEnd(prefixOpt);
      let min = prefixOpt === '' ? '-' : `[${prefixOpt}`;
      const max = end === undefined ? '+' : `(${end}`;
      const out: StoredRecord[] = [];
      const gone: string[] = [];
      for (;;) {
        const want = limit === undefined ? PAGE : Math.min(PAGE, limit - out.length);
        const keys = await client.zrangebylex(nsIndex(namespace), min, max, 'LIMIT', 0, want);
        const page = await read(namespace, keys);
        out.push(...page.found);
        gone.push(...page.gone);
        if (keys.length < want || out.length === limit) break;
        min = `(${keys[keys.length - 1]!}`;
      }
      await prune(gone);
      return out;
    },
    async findByTag(namespace, tag, value) {
      const mine = recordsOf(namespace);
      const members = await client.smembers(tagSet(tag, value));
      const keys = members.filter((rk) => rk.startsWith(mine)).map((rk) => unpart(rk.slice(mine.length)));
      const { found, gone } = await read(namespace, keys);
      await prune(gone);
      return found.sort((a, b) => compareKeys(a.key, b.key));
    },
    async deleteByTag(tag, value) {
      return Number(await deleteByTagScript(tagSet(tag, value), prefix));
    },
    async consume(namespace, key, field, stamp) {
      const json = await consumeScript(recordKey(namespace, key), field, JSON.stringify(field), stampJson(stamp));
      return json === null ? undefined : (JSON.parse(json as string) as JsonObject);
    },
  };

  return {
    store,
    async sweep() {
      while (Number(await sweepScript(`${prefix}rexp`, prefix, Date.now(), PAGE)) === PAGE);
    },
  };
}
