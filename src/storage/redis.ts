/**
 * Redis driver (≥ 6.2 for GETDEL and exclusive XRANGE), for several gateway instances sharing state.
 * Layout under `prefix`: `s:<id>` session hash, `sidx` sorted set of session ids by lastSeenAt,
 * `ev:<sessionId>` capped stream of events, `evseq` event counter, `kv:<ns>:<key>` JSON with PX expiry; records use
 * `r:`, `rm:`, `rn:`, `rt:` and `rexp` (see redisRecords.ts); counters `cb:`, `cw:` and `cs:` (see redisCounters.ts).
 * Multi-key steps are Lua scripts; the keys they derive are not declared, so this targets standalone Redis.
 */
import { Redis } from 'ioredis';
import type { JsonObject } from '../core/jsonrpc.js';
import { positiveInt, ttl } from './common.js';
import { createRedisRecords } from './redisRecords.js';
import { createRedisCounters } from './redisCounters.js';
import type { EventStore, KeyValueStore, SessionRecord, SessionStore, Storage } from './types.js';

export interface RedisStorageOptions {
  url: string;
  replayEvents?: number;
  /** Namespace for every key, so several deployments (or test runs) can share one Redis. */
  prefix?: string;
  /** Errors the client reports while reconnecting in the background, and errors of background sweeps. */
  onError?: (err: Error) => void;
  /** How often index entries of expired records are removed (the records themselves expire by PX). */
  sweepIntervalMs?: number;
}

type Script = (...args: Array<string | number>) => Promise<unknown>;

const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1`;

const TOUCH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'lastSeenAt', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1`;

// A counter shared by all sessions gives ids that never collide across sessions and never repeat, even after
// a stream is deleted; the stream entry id is `<seq>-0`, so XRANGE works on it directly.
const APPEND = `
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], seq .. '-0', 'stream', ARGV[2], 'data', ARGV[3])
return seq`;

// Batched so that a large backlog does not block Redis in one long script.
const EXPIRE = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[2] .. 's:' .. id, ARGV[2] .. 'ev:' .. id)
  redis.call('ZREM', KEYS[1], id)
end
return ids`;

const EXPIRE_BATCH = 500;

export async function createRedisStorage(opts: RedisStorageOptions): Promise<Storage> {
  const replayEvents = positiveInt(opts.replayEvents ?? 256, 'replayEvents');
  const prefix = opts.prefix ?? 'portcullis:';
  const client = new Redis(opts.url, { lazyConnect: true, maxRetriesPerRequest: 2 });
  let connectError: Error | undefined;
  client.on('error', (err: Error) => {
    connectError ??= err;
    opts.onError?.(err);
  });
  try {
    await client.connect();
    const version = /redis_version:(\d+)\.(\d+)/.exec(await client.info('server'));
    if (!version || Number(version[1]) * 100 + Number(version[2]) < 602) {
      throw new Error(`Redis ${version ? `${version[1]}.${version[2]}` : '(unknown version)'} is too old: 6.2 or later is required`);
    }
  } catch (err) {
    client.disconnect();
    // connect() itself only says "Connection is closed."; the error event has the cause (e.g. ECONNREFUSED).
    throw connectError ?? err;
  }

  const script = (name: string, numberOfKeys: number, lua: string): Script => {
    client.defineCommand(name, { numberOfKeys, lua });
    return (client as unknown as Record<string, Script>)[name]!.bind(client);
  };
  const createScript = script('portcullisCreateSession', 2, CREATE);
  const touchScript = script('portcullisTouchSession', 2, TOUCH);
  const expireScript = script('portcullisExpireSessions', 1, EXPIRE);
  const appendScript = script('portcullisAppendEvent', 2, APPEND);

  const sessionKey = (id: string) => `${prefix}s:${id}`;
  const eventsKey = (sessionId: string) => `${prefix}ev:${sessionId}`;
  // Encoded so that a ':' inside a namespace cannot make two (namespace, key) pairs collide.
  const kvKey = (ns: string, key: string) => `${prefix}kv:${encodeURIComponent(ns)}:${encodeURIComponent(key)}`;
  const index = `${prefix}sidx`;
  const eventSeq = `${prefix}evseq`;

  const sessions: SessionStore = {
    async create(r) {
      const fields: Array<string | number> = [
        'id', r.id, 'endpoint', r.endpoint, 'principal', r.principal, 'protocolVersion', r.protocolVersion,
        'clientCapabilities', JSON.stringify(r.clientCapabilities), 'createdAt', r.createdAt, 'lastSeenAt', r.lastSeenAt,
      ];
      if (r.clientInfo !== undefined) fields.push('clientInfo', JSON.stringify(r.clientInfo));
      const created = await createScript(sessionKey(r.id), index, r.id, r.lastSeenAt, ...fields);
      if (created !== 1) throw new Error(`session ${r.id} already exists`);
    },
    async get(id) {
      const h = await client.hgetall(sessionKey(id));
      if (h.id === undefined) return undefined;
      const record: SessionRecord = {
        id: h.id,
        endpoint: h.endpoint!,
        principal: h.principal!,
        protocolVersion: h.protocolVersion!,
        clientCapabilities: JSON.parse(h.clientCapabilities!) as JsonObject,
        createdAt: Number(h.createdAt),
        lastSeenAt: Number(h.lastSeenAt),
      };
      if (h.clientInfo !== undefined) record.clientInfo = JSON.parse(h.clientInfo) as JsonObject;
      return record;
    },
    async touch(id, now) {
      return (await touchScript(sessionKey(id), index, id, now)) === 1;
    },
    async delete(id) {
      const res = await client.multi().del(sessionKey(id)).zrem(index, id).del(eventsKey(id)).exec();
      return res?.[0]?.[1] === 1;
    },
    async count() {
      return client.zcard(index);
    },
    async expire(cutoff) {
      const gone: string[] = [];
      for (;;) {
        const ids = (await expireScript(index, cutoff, prefix, EXPIRE_BATCH)) as string[];
        gone.push(...ids);
        if (ids.length < EXPIRE_BATCH) return gone;
      }
    },
  };

  const events: EventStore = {
    async append(sessionId, streamId, data) {
      // Exact MAXLEN (not ~) so that eviction is precise: an evicted id is reliably unknown.
      return String(await appendScript(eventsKey(sessionId), eventSeq, replayEvents, streamId, data));
    },
    async replayAfter(sessionId, eventId) {
      if (!/^[1-9][0-9]{0,15}$/.test(eventId)) return undefined;
      const key = eventsKey(sessionId);
      const entryId = `${eventId}-0`;
      // One transaction, so the anchor and the tail come from the same moment.
      const res = await client.multi().xrange(key, entryId, entryId).xrange(key, `(${entryId}`, '+').exec();
      const [anchorReply, tailReply] = res ?? [];
      if (anchorReply?.[0] || tailReply?.[0]) throw anchorReply?.[0] ?? tailReply?.[0];
      const anchor = anchorReply?.[1] as Array<[string, string[]]> | undefined;
      if (!anchor?.[0]) return undefined;
      const streamId = fieldOf(anchor[0][1], 'stream');
      const list = [];
      for (const [id, fields] of tailReply?.[1] as Array<[string, string[]]>) {
        if (fieldOf(fields, 'stream') !== streamId) continue;
        list.push({ eventId: id.slice(0, id.indexOf('-')), streamId, data: fieldOf(fields, 'data') });
      }
      return { streamId, events: list };
    },
    async deleteSession(sessionId) {
      await client.del(eventsKey(sessionId));
    },
  };

  const kv: KeyValueStore = {
    async put(namespace, key, value, ttlMs) {
      await client.set(kvKey(namespace, key), JSON.stringify(value), 'PX', ttl(ttlMs));
    },
    async get(namespace, key) {
      const json = await client.get(kvKey(namespace, key));
      return json === null ? undefined : (JSON.parse(json) as JsonObject);
    },
    async take(namespace, key) {
      const json = await client.getdel(kvKey(namespace, key));
      return json === null ? undefined : (JSON.parse(json) as JsonObject);
    },
    async delete(namespace, key) {
      await client.del(kvKey(namespace, key));
    },
  };

  const records = createRedisRecords(client, prefix);
  const sweep = setInterval(() => {
    records.sweep().catch((err: Error) => opts.onError?.(err));
  }, opts.sweepIntervalMs ?? 60_000);
  sweep.unref();

  let closing: Promise<void> | undefined;
  return {
    driver: 'redis',
    sessions,
    events,
    kv,
    records: records.store,
    counters: createRedisCounters(client, prefix),
    close() {
      clearInterval(sweep);
      closing ??= client.quit().then(
        () => {},
        () => client.disconnect(),
      );
      return closing;
    },
  };
}

/** Stream entries come back as a flat [field, value, ...] list. */
function fieldOf(fields: string[], name: string): string {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1]!;
  return '';
}
