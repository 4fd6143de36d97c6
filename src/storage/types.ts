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

export interface Storage {
  readonly driver: string;
  sessions: SessionStore;
  events: EventStore;
  kv: KeyValueStore;
  close(): Promise<void>;
}
