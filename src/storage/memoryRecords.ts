/**
 * The reference RecordStore: a Map per namespace and a tag index beside it. Expired records are ignored on read
 * and removed by `sweep`, which the memory driver calls on its timer.
 */
import type { JsonObject } from '../core/jsonrpc.js';
import { compareKeys, consumeJson, limitOf, recordJson, stampJson, tagEntries, ttl } from './common.js';
import type { RecordStore, StoredRecord } from './types.js';

interface Entry {
  json: string;
  /** Infinity: no expiry. */
  expiresAt: number;
  tags: Array<[string, string]>;
}

export interface MemoryRecords {
  store: RecordStore;
  sweep(now: number): void;
  clear(): void;
}

export function createMemoryRecords(): MemoryRecords {
  const spaces = new Map<string, Map<string, Entry>>();
  // JSON.stringify([tag, value]) → namespace → keys.
  const tagged = new Map<string, Map<string, Set<string>>>();
  const tagId = (tag: string, value: string) => JSON.stringify([tag, value]);

  const live = (namespace: string, key: string, now = Date.now()) => {
    const entry = spaces.get(namespace)?.get(key);
    return entry && entry.expiresAt > now ? entry : undefined;
  };
  const drop = (namespace: string, key: string): Entry | undefined => {
    const space = spaces.get(namespace);
    const entry = space?.get(key);
    if (!space || !entry) return undefined;
    space.delete(key);
    if (space.size === 0) spaces.delete(namespace);
    for (const [tag, value] of entry.tags) {
      const id = tagId(tag, value);
      const byNamespace = tagged.get(id);
      const keys = byNamespace?.get(namespace);
      keys?.delete(key);
      if (keys?.size === 0) byNamespace!.delete(namespace);
      if (byNamespace?.size === 0) tagged.delete(id);
    }
    return entry;
  };
  const stored = (key: string, entry: Entry): StoredRecord => ({ key, value: JSON.parse(entry.json) as JsonObject });
  const byKey = (a: StoredRecord, b: StoredRecord) => compareKeys(a.key, b.key);

  const store: RecordStore = {
    async put(namespace, key, value, opts = {}) {
      // Everything that can throw runs before the old record is touched.
      const json = recordJson(value);
      const expiresAt = opts.ttlMs === undefined ? Infinity : Date.now() + ttl(opts.ttlMs);
      const tags = tagEntries(opts.tags);
      drop(namespace, key);
      let space = spaces.get(namespace);
      if (!space) spaces.set(namespace, (space = new Map()));
      space.set(key, { json, expiresAt, tags });
      for (const [tag, tagValue] of tags) {
        const id = tagId(tag, tagValue);
        let byNamespace = tagged.get(id);
        if (!byNamespace) tagged.set(id, (byNamespace = new Map()));
        let keys = byNamespace.get(namespace);
        if (!keys) byNamespace.set(namespace, (keys = new Set()));
        keys.add(key);
      }
    },
    async get(namespace, key) {
      const entry = live(namespace, key);
      return entry && (JSON.parse(entry.json) as JsonObject);
    },
    async delete(namespace, key) {
      const wasLive = live(namespace, key) !== undefined;
      drop(namespace, key);
      return wasLive;
    },
    async list(namespace, opts = {}) {
      const limit = limitOf(opts.limit);
      const prefix = opts.prefix ?? '';
      const now = Date.now();
      const out: StoredRecord[] = [];
      for (const [key, entry] of spaces.get(namespace) ?? []) {
        if (entry.expiresAt > now && key.startsWith(prefix)) out.push(stored(key, entry));
      }
      return out.sort(byKey).slice(0, limit);
    },
    async findByTag(namespace, tag, value) {
      const now = Date.now();
      const out: StoredRecord[] = [];
      for (const key of tagged.get(tagId(tag, value))?.get(namespace) ?? []) {
        const entry = live(namespace, key, now);
        if (entry) out.push(stored(key, entry));
      }
      return out.sort(byKey);
    },
    async deleteByTag(tag, value) {
      const now = Date.now();
      const targets: Array<[string, string]> = [];
      for (const [namespace, keys] of tagged.get(tagId(tag, value)) ?? []) {
        for (const key of keys) targets.push([namespace, key]);
      }
      let count = 0;
      for (const [namespace, key] of targets) {
        if ((drop(namespace, key)?.expiresAt ?? 0) > now) count++;
      }
      return count;
    },
    async consume(namespace, key, field, stamp) {
      stampJson(stamp);
      const entry = live(namespace, key);
      if (!entry) return undefined;
      const { before, after } = consumeJson(entry.json, field, stamp);
      if (after !== undefined) entry.json = after;
      return before;
    },
  };

  return {
    store,
    sweep(now) {
      const expired: Array<[string, string]> = [];
      for (const [namespace, space] of spaces) {
        for (const [key, entry] of space) if (entry.expiresAt <= now) expired.push([namespace, key]);
      }
      for (const [namespace, key] of expired) drop(namespace, key);
    },
    clear() {
      spaces.clear();
      tagged.clear();
    },
  };
}
