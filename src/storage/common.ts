/**
 * Small helpers shared by the storage drivers: option checks, the session row codec of the SQL drivers, and the
 * RecordStore rules every driver applies the same way (value shape, tags, key order, consume).
 */
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

/** A record value as stored: JSON text of an object. The Redis driver splices a consumed field into this text. */
export function recordJson(value: JsonObject): string {
  const json: unknown = JSON.stringify(value);
  if (typeof json !== 'string' || !json.startsWith('{')) throw new TypeError('a record value must be a JSON object');
  return json;
}

/** Tag entries to index; an undefined value means "no such tag", so callers can pass optional fields as they are. */
export function tagEntries(tags: Record<string, string> | undefined): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [tag, value] of Object.entries(tags ?? {})) {
    if (value === undefined) continue;
    if (typeof value !== 'string') throw new TypeError(`record tag ${tag} must be a string, got ${typeof value}`);
    out.push([tag, value]);
  }
  return out;
}

export function limitOf(limit: number | undefined): number | undefined {
  return limit === undefined ? undefined : positiveInt(limit, 'limit');
}

/** Record keys sort by code point, which is UTF-8 byte order: what SQLite, PostgreSQL (COLLATE "C") and Redis use. */
export function compareKeys(a: string, b: string): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * The least string above every string starting with `prefix` (code point order), so a prefix is the index range
 * [prefix, prefixEnd); undefined when no such bound exists (empty prefix, or only U+10FFFF characters).
 */
export function prefixEnd(prefix: string): string | undefined {
  const chars = Array.from(prefix);
  while (chars.length > 0) {
    const last = chars.pop()!.codePointAt(0)!;
    if (last < 0x10ffff) return chars.join('') + String.fromCodePoint(last === 0xd7ff ? 0xe000 : last + 1);
  }
  return undefined;
}

/** The JSON text of a consume stamp; refuses what JSON cannot carry (NaN, Infinity). */
export function stampJson(stamp: number): string {
  if (!Number.isFinite(stamp)) throw new RangeError(`stamp must be a finite number, got ${stamp}`);
  return JSON.stringify(stamp);
}

/**
 * One consume step on stored JSON: the record before, and its new text when `field` was absent (not an own
 * property). Check the stamp with stampJson first.
 */
export function consumeJson(json: string, field: string, stamp: number): { before: JsonObject; after?: string } {
  const before = JSON.parse(json) as JsonObject;
  if (Object.hasOwn(before, field)) return { before };
  // A computed key defines an own property, even for "__proto__".
  return { before, after: JSON.stringify({ ...before, [field]: stamp }) };
}
