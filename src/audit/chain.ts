/**
 * The hash chain: a record's hash is SHA-256 over its canonical JSON (RFC 8785 style, as src/core/canonical.ts),
 * which includes its sequence number and its predecessor's hash. Editing, removing, reordering or inserting a
 * record therefore breaks either its own hash or the link of the record after it.
 *
 * An event is encoded once, where it is appended (encodeEvent): its canonical JSON in three pieces around the two
 * places where `prev` and `seq` belong in key order. The writer, which learns seq and prev only inside its
 * transaction, joins the pieces (chainRow) instead of serialising the event again; strings also cross to the
 * SQLite writer thread far more cheaply than objects.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { AuditEvent, AuditRecord, AuditRow } from './record.js';

/** The `prev` of the very first record of a log. */
export const GENESIS = '';

/** An event ready for the chain. `parts`: the canonical key-value pairs before "prev", between "prev" and "seq", after "seq". */
export interface EncodedEvent {
  parts: [string, string, string];
  time: number;
  type: string;
  principal: string | null;
  upstream: string | null;
  outcome: string | null;
}

/**
 * canonicalJson (src/core/canonical.ts) with the same output, written for the append path: no intermediate
 * arrays or closures per key (test/audit.units.test.ts checks the two agree). Plain sort() compares UTF-16 code
 * units, as RFC 8785 asks.
 */
export function canonicalRecordJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number');
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalRecordJson(value[i]);
    return out + ']';
  }
  const keys = Object.keys(value).sort();
  let out = '{';
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined) continue;
    out += (out.length > 1 ? ',' : '') + JSON.stringify(k) + ':' + canonicalRecordJson(v);
  }
  return out + '}';
}

/** Fields the chain owns: an event cannot set them. */
const CHAIN_KEYS = new Set(['seq', 'prev', 'hash']);

export function encodeEvent(event: AuditEvent): EncodedEvent {
  const time = event.time ?? Date.now();
  const all = { ...event, time } as Record<string, unknown>;
  const parts: [string, string, string] = ['', '', ''];
  for (const k of Object.keys(all).sort()) {
    const v = all[k];
    if (v === undefined || CHAIN_KEYS.has(k)) continue;
    const i = k < 'prev' ? 0 : k < 'seq' ? 1 : 2;
    parts[i] += (parts[i] ? ',' : '') + JSON.stringify(k) + ':' + canonicalRecordJson(v);
  }
  return { parts, time, type: event.type, principal: event.principal ?? null, upstream: event.upstream ?? null, outcome: event.outcome ?? null };
}

/** Bytes of the record this event becomes, give or take the chain's fields. */
export function encodedBytes(e: EncodedEvent, limit: number): number {
  const chars = e.parts[0].length + e.parts[1].length + e.parts[2].length;
  // UTF-8 takes 1 to 3 bytes per UTF-16 code unit: most events are sized without counting.
  return chars * 3 <= limit ? chars : Buffer.byteLength(e.parts[0]) + Buffer.byteLength(e.parts[1]) + Buffer.byteLength(e.parts[2]);
}

export function hashBody(body: string): string {
  return createHash('sha256').update(body).digest('base64url');
}

/** The record after `prev` at `seq`, as the row a store writes. */
export function chainRow(event: EncodedEvent | AuditEvent, seq: number, prev: string): AuditRow {
  const e = 'parts' in event ? event : encodeEvent(event);
  let body = '{';
  for (const piece of [e.parts[0], `"prev":${JSON.stringify(prev)}`, e.parts[1], `"seq":${seq}`, e.parts[2]]) {
    if (piece) body += (body.length > 1 ? ',' : '') + piece;
  }
  body += '}';
  return { seq, time: e.time, type: e.type, prev, body, hash: hashBody(body), principal: e.principal, upstream: e.upstream, outcome: e.outcome };
}

/** The record a row holds, as exported (its body with its hash). */
export function rowRecord(row: AuditRow): AuditRecord {
  return { ...(JSON.parse(row.body) as AuditRecord), hash: row.hash };
}
