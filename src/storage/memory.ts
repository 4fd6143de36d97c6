/**
 * The reference implementation of the storage contracts: plain Maps, for tests and single-process use.
 * Records are stored serialized (as the other drivers do), so callers never share objects with the store.
 */
import type { JsonObject } from '../core/jsonrpc.js';
import { positiveInt, ttl } from './common.js';
import { createMemoryRecords } from './memoryRecords.js';
import { createMemoryCounters } from './memoryCounters.js';
import type { EventStore, KeyValueStore, SessionRecord, SessionStore, Storage, StoredEvent } from './types.js';

export interface MemoryStorageOptions {
  /** Events kept per session for Last-Event-ID replay; older ones are evicted. */
  replayEvents?: number;
  /** How often expired KV entries and records are swept (they are also ignored on read). */
  sweepIntervalMs?: number;
}

export function createMemoryStorage(opts: MemoryStorageOptions = {}): Storage {
  const replayEvents = positiveInt(opts.replayEvents ?? 256, 'replayEvents');
  const sessions = new Map<string, string>();
  const lastSeen = new Map<string, number>();
  const events = new Map<string, Array<{ seq: number; streamId: string; data: string }>>();
  const kv = new Map<string, Map<string, { json: string; expiresAt: number }>>();
  const records = createMemoryRecords();
  const counters = createMemoryCounters();
  // One counter for all sessions: ids are never reused, even after deleteSession.
  let seq = 0;

  const sessionStore: SessionStore = {
    async create(record) {
      if (sessions.has(record.id)) throw new Error(`session ${record.id} already exists`);
      sessions.set(record.id, JSON.stringify(record));
      lastSeen.set(record.id, record.lastSeenAt);
    },
    async get(id) {
      const json = sessions.get(id);
      if (json === undefined) return undefined;
      const record = JSON.parse(json) as SessionRecord;
      record.lastSeenAt = lastSeen.get(id) ?? record.lastSeenAt;
      return record;
    },
    async touch(id, now) {
      if (!sessions.has(id)) return false;
      lastSeen.set(id, now);
      return true;
    },
    async delete(id) {
      events.delete(id);
      lastSeen.delete(id);
      return sessions.delete(id);
    },
    async count() {
      return sessions.size;
    },
    async expire(cutoff) {
      const gone: string[] = [];
      for (const [id, at] of lastSeen) {
        if (at < cutoff) gone.push(id);
      }
      for (const id of gone) {
        sessions.delete(id);
        lastSeen.delete(id);
        events.delete(id);
      }
      return gone;
    },
  };

  const eventStore: EventStore = {
    async append(sessionId, streamId, data) {
      let list = events.get(sessionId);
      if (!list) events.set(sessionId, (list = []));
      const entry = { seq: ++seq, streamId, data };
      list.push(entry);
      if (list.length > replayEvents) list.splice(0, list.length - replayEvents);
      return String(entry.seq);
    },
    async replayAfter(sessionId, eventId) {
      const list = events.get(sessionId);
      const at = list?.findIndex((e) => String(e.seq) === eventId) ?? -1;
      if (!list || at < 0) return undefined;
      const streamId = list[at]!.streamId;
      const out: StoredEvent[] = [];
      for (const e of list.slice(at + 1)) {
        if (e.streamId === streamId) out.push({ eventId: String(e.seq), streamId, data: e.data });
      }
      return { streamId, events: out };
    },
    async deleteSession(sessionId) {
      events.delete(sessionId);
    },
  };

  const live = (namespace: string, key: string, now = Date.now()) => {
    const entry = kv.get(namespace)?.get(key);
    return entry && entry.expiresAt > now ? entry : undefined;
  };
  const remove = (namespace: string, key: string) => {
    const ns = kv.get(namespace);
    if (ns?.delete(key) && ns.size === 0) kv.delete(namespace);
  };

  const kvStore: KeyValueStore = {
    async put(namespace, key, value, ttlMs) {
      const expiresAt = Date.now() + ttl(ttlMs);
      let ns = kv.get(namespace);
      if (!ns) kv.set(namespace, (ns = new Map()));
      ns.set(key, { json: JSON.stringify(value), expiresAt });
    },
    async get(namespace, key) {
      const entry = live(namespace, key);
      return entry ? (JSON.parse(entry.json) as JsonObject) : undefined;
    },
    async take(namespace, key) {
      const entry = live(namespace, key);
      remove(namespace, key);
      return entry ? (JSON.parse(entry.json) as JsonObject) : undefined;
    },
    async delete(namespace, key) {
      remove(namespace, key);
    },
  };

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [namespace, ns] of kv) {
      for (const [key, entry] of ns) if (entry.expiresAt <= now) ns.delete(key);
      if (ns.size === 0) kv.delete(namespace);
    }
    records.sweep(now);
    counters.sweep(now);
  }, opts.sweepIntervalMs ?? 60_000);
  sweep.unref();

  return {
    driver: 'memory',
    sessions: sessionStore,
    events: eventStore,
    kv: kvStore,
    records: records.store,
    counters,
    async close() {
      clearInterval(sweep);
      sessions.clear();
      lastSeen.clear();
      events.clear();
      kv.clear();
      records.clear();
    },
  };
}
