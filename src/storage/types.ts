/**
 * All gateway state sits behind these contracts. Each has an embedded implementation (memory, SQLite) and is
 * shaped so that a distributed one (PostgreSQL, Redis) fits without changing callers. One contract test suite
 * (test/storage.contract.test.ts) runs against every implementation.
 */
import type { JsonObject } from '../core/jsonrpc.js';

export interface SessionRecord {
  id: string;
  /** The endpoint path key the session was created on, e.g. "server:fs" or "virtual:default". */
  endpoint: string;
  /** Subject of the principal that created it; a session is only usable by the same principal. */
  principal: string;
  protocolVersion: string;
  clientInfo?: JsonObject | undefined;
  clientCapabilities: JsonObject;
  createdAt: number;
  lastSeenAt: number;
}

export interface SessionStore {
  create(record: SessionRecord): Promise<void>;
  get(id: string): Promise<SessionRecord | undefined>;
  /** Marks activity; returns false when the session no longer exists. */
  touch(id: string, now: number): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  count(): Promise<number>;
  /** Removes sessions idle since before `cutoff`; returns their ids. */
  expire(cutoff: number): Promise<string[]>;
}

export interface StoredEvent {
  /** Opaque, unique within the session; used as the SSE `id:` field. */
  eventId: string;
  streamId: string;
  data: string;
}

/** Events written to resumable SSE streams (legacy era) so a client can resume with Last-Event-ID. */
export interface EventStore {
  append(sessionId: string, streamId: string, data: string): Promise<string>;
  /** Events of the same stream after `eventId`, oldest first; undefined when the id is unknown or evicted. */
  replayAfter(sessionId: string, eventId: string): Promise<{ streamId: string; events: StoredEvent[] } | undefined>;
  deleteSession(sessionId: string): Promise<void>;
}

/** A namespaced key-value store with expiry, for small records such as pending era-bridged calls. */
export interface KeyValueStore {
  put(namespace: string, key: string, value: JsonObject, ttlMs: number): Promise<void>;
  get(namespace: string, key: string): Promise<JsonObject | undefined>;
  /** Reads and deletes atomically: at most one caller gets the value. */
  take(namespace: string, key: string): Promise<JsonObject | undefined>;
  delete(namespace: string, key: string): Promise<void>;
}

/** A record returned by RecordStore lookups. */
export interface StoredRecord {
  key: string;
  value: JsonObject;
}

export interface RecordPutOptions {
  /** Omitted: the record lives until deleted. */
  ttlMs?: number;
  /** Secondary keys (e.g. grantId, uid) that findByTag/deleteByTag look records up by. */
  tags?: Record<string, string>;
}

/**
 * Durable records with optional expiry and secondary lookups: the identity state (users, OAuth clients, grants,
 * tokens, consents, signing keys). Expired records are never returned.
 */
export interface RecordStore {
  /** Inserts or replaces the record (and its tags). */
  put(namespace: string, key: string, value: JsonObject, opts?: RecordPutOptions): Promise<void>;
  get(namespace: string, key: string): Promise<JsonObject | undefined>;
  /** Returns whether a record was deleted. */
  delete(namespace: string, key: string): Promise<boolean>;
  /** Records of a namespace, ordered by key (Unicode code point order, which is UTF-8 byte order). */
  list(namespace: string, opts?: { prefix?: string; limit?: number }): Promise<StoredRecord[]>;
  /** Records of a namespace carrying this tag value, ordered by key. */
  findByTag(namespace: string, tag: string, value: string): Promise<StoredRecord[]>;
  /** Deletes every record, in any namespace, carrying this tag value; returns how many. */
  deleteByTag(tag: string, value: string): Promise<number>;
  /**
   * Atomically sets `field` to `stamp` if it is absent; returns the record as it was before, or undefined when the
   * record does not exist. Used to consume one-time tokens: exactly one caller sees the field absent.
   */
  consume(namespace: string, key: string, field: string, stamp: number): Promise<JsonObject | undefined>;
}

/** A token bucket: up to `capacity` tokens, refilled continuously at `refillPerSecond`. */
export interface BucketSpec {
  capacity: number;
  refillPerSecond: number;
}

export interface TakeResult {
  ok: boolean;
  /** Whole tokens left after this take (ok) or now (refused). */
  remaining: number;
  /** Refused: milliseconds until the tokens asked for will be there; 0 when ok. */
  retryAfterMs: number;
}

export interface CountResult {
  ok: boolean;
  /** The count after this increment (ok) or as it stands (refused). */
  count: number;
}

/**
 * Atomic counters for rate limits, quotas and concurrency limits. Every operation takes the caller's clock (`now`,
 * epoch ms) so replicas and tests agree on one timeline; each is one atomic step, whoever else is counting.
 */
export interface CounterStore {
  /** Token bucket: refills by the time since the last take, then takes `cost` tokens if there are that many. */
  take(namespace: string, key: string, bucket: BucketSpec, cost: number, now: number): Promise<TakeResult>;
  /**
   * Window counter: adds `amount` unless the count would exceed `limit`. The counter starts over (from 0) once
   * `resetAt` has passed; a new or restarted counter ends at the `resetAt` given.
   */
  increment(namespace: string, key: string, amount: number, limit: number, resetAt: number, now: number): Promise<CountResult>;
  /** A window counter's current count (0 when absent or past its reset). */
  count(namespace: string, key: string, now: number): Promise<number>;
  /**
   * Concurrency: holds one of `limit` slots under `lease` until released or until `expiresAt` (so a crashed holder
   * frees its slot). Returns whether the slot was granted.
   */
  acquire(namespace: string, key: string, limit: number, lease: string, expiresAt: number, now: number): Promise<boolean>;
  release(namespace: string, key: string, lease: string): Promise<void>;
}

export interface Storage {
  readonly driver: string;
  sessions: SessionStore;
  events: EventStore;
  kv: KeyValueStore;
  records: RecordStore;
  counters: CounterStore;
  close(): Promise<void>;
}
