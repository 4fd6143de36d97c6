/** Small helpers shared by the storage drivers: option checks and the session row codec of the SQL drivers. */
import type { JsonObject } from '../core/jsonrpc.js';
import type { SessionRecord } from './types.js';

export function positiveInt(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer, got ${n}`);
  return n;
}

/** TTLs are whole milliseconds, at least 1: a zero or negative TTL is a caller bug, not "expire now". */
export function ttl(ttlMs: number): number {
  return positiveInt(Math.ceil(ttlMs), 'ttlMs');
}

/** A session as SQL columns; JSON travels as text so that every driver returns exactly what it was given. */
export interface SessionRow {
  id: string;
  endpoint: string;
  principal: string;
  protocol_version: string;
  client_info: string | null;
  client_capabilities: string;
  created_at: number | string;
  last_seen_at: number | string;
}

export function toRow(r: SessionRecord): SessionRow {
  return {
    id: r.id,
    endpoint: r.endpoint,
    principal: r.principal,
    protocol_version: r.protocolVersion,
    client_info: r.clientInfo === undefined ? null : JSON.stringify(r.clientInfo),
    client_capabilities: JSON.stringify(r.clientCapabilities),
    created_at: r.createdAt,
    last_seen_at: r.lastSeenAt,
  };
}

/** BIGINT columns arrive as strings from pg; epoch milliseconds fit a double exactly. */
export function fromRow(row: SessionRow): SessionRecord {
  const record: SessionRecord = {
    id: row.id,
    endpoint: row.endpoint,
    principal: row.principal,
    protocolVersion: row.protocol_version,
    clientCapabilities: JSON.parse(row.client_capabilities) as JsonObject,
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
  };
  if (row.client_info !== null) record.clientInfo = JSON.parse(row.client_info) as JsonObject;
  return record;
}
