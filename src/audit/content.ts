/**
 * What a record keeps of arguments and results (audit.content), and the bound on a record's size.
 *
 *   none      nothing
 *   hashes    { sha256 } of the canonical JSON: proves what was sent or returned to whoever holds it, reveals nothing
 *   redacted  the content with secrets and personal data replaced by [REDACTED:rule] markers (the integrity scanner)
 *   full      the content as it was
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { canonicalRecordJson } from './chain.js';
import { PERSONAL_DATA_DETECTORS, SECRET_DETECTORS } from '../integrity/detectors/index.js';
import { createScanner, type Scanner } from '../integrity/scanner.js';
import { redactContent } from '../integrity/redact.js';
import type { AuditEvent } from './record.js';

export type ContentMode = 'none' | 'hashes' | 'redacted' | 'full';

/** Turns an argument object or a result into what the record keeps. */
export type ContentRenderer = (value: unknown, target: 'argument' | 'result') => unknown;

export function contentRenderer(mode: ContentMode): ContentRenderer {
  switch (mode) {
    case 'none':
      return () => undefined;
    case 'hashes':
      return (value) => (value === undefined ? undefined : { sha256: safeDigest(value) });
    case 'full':
      return (value) => value;
    case 'redacted': {
      // Only what must not be kept: injection phrases and the like are evidence, so they stay readable.
      const scanner: Scanner = createScanner({ detectors: [...SECRET_DETECTORS, ...PERSONAL_DATA_DETECTORS] });
      return (value, target) => (value === undefined ? undefined : redactContent(value, scanner.scanContent(value, target)));
    }
  }
}

/** digest() of src/core/canonical.ts, through the faster encoder of the append path (same bytes, same digest). */
function safeDigest(value: unknown): string {
  let text: string;
  try {
    text = canonicalRecordJson(value);
  } catch {
    text = canonicalRecordJson(String(value));
  }
  return createHash('sha256').update(text).digest('base64url');
}

/** Room left for the fields the chain adds (seq, time, prev). */
export const CHAIN_FIELDS_BYTES = 160;
const MESSAGE_CHARS = 1024;

/**
 * The event, made to fit `maxBytes` as a record: content first gives way to a marker naming its size and digest,
 * then the free-form detail, then long strings. A record is never dropped for its size.
 */
export function boundEvent(event: AuditEvent, maxBytes: number): AuditEvent {
  const limit = maxBytes - CHAIN_FIELDS_BYTES;
  if (fits(event, limit)) return event;
  let out: AuditEvent = { ...event, arguments: truncated(event.arguments), result: truncated(event.result) };
  if (fits(out, limit)) return out;
  out = { ...out, detail: truncated(out.detail) as AuditEvent['detail'] };
  if (out.error) out.error = { ...out.error, message: cut(out.error.message, MESSAGE_CHARS) };
  if (fits(out, limit)) return out;
  // Only a pathological identity (megabyte-long names) gets here: every string is cut.
  return JSON.parse(JSON.stringify(out, (_k, v: unknown) => (typeof v === 'string' ? cut(v, 256) : v))) as AuditEvent;
}

/** Canonical JSON differs from JSON.stringify only in key order, so their byte counts are equal. */
function size(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '');
}

function fits(value: unknown, limit: number): boolean {
  const text = JSON.stringify(value) ?? '';
  // UTF-8 takes 1 to 3 bytes per UTF-16 code unit: most records are decided without counting.
  if (text.length * 3 <= limit) return true;
  if (text.length > limit) return false;
  return Buffer.byteLength(text) <= limit;
}

function truncated(value: unknown): unknown {
  if (value === undefined) return undefined;
  return { truncated: true, bytes: size(value), sha256: safeDigest(value) };
}

function cut(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, chars)}…[truncated ${text.length - chars} chars]`;
}
