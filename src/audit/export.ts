/**
 * Getting things out of the log: records as JSON Lines (audit export), and checkpoints to a file kept somewhere
 * else (audit checkpoints export). The checkpoint file accumulates: each export merges into it, so it keeps
 * checkpoints the log has since pruned, and it refuses to merge a checkpoint that disagrees with one it holds.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rowRecord } from './chain.js';
import type { Checkpoint } from './checkpoint.js';
import { keyIdOf, publicKeyPem, type AuditKeyStore } from './keys.js';
import type { AuditFilter } from './record.js';
import type { AuditStore } from './store.js';

const PAGE = 1000;

/** Writes every matching record, oldest first, one JSON object per line; returns how many. */
export async function exportRecords(store: AuditStore, filter: AuditFilter, write: (line: string) => void | Promise<void>): Promise<number> {
  let after = 0;
  let n = 0;
  for (;;) {
    const rows = await store.rows(after, PAGE, filter);
    for (const row of rows) await write(JSON.stringify(rowRecord(row)) + '\n');
    n += rows.length;
    if (rows.length < PAGE) return n;
    after = rows[rows.length - 1]!.seq;
  }
}

export const CHECKPOINTS_FORMAT = 'portcullis-audit-checkpoints/1';
export const CHECKPOINTS_FILE = 'portcullis-audit-checkpoints.json';

/** An exported checkpoint file: the checkpoints and the public keys that signed them (pinned outside the log). */
export interface ExportedCheckpoints {
  keys: Map<string, KeyObject>;
  checkpoints: Checkpoint[];
}

export function readExportedCheckpoints(file: string): ExportedCheckpoints {
  let doc: { format?: unknown; keys?: unknown; checkpoints?: unknown };
  try {
    doc = JSON.parse(readFileSync(file, 'utf8')) as typeof doc;
  } catch (e) {
    throw new Error(`${file}: not a checkpoint file (${(e as Error).message})`);
  }
  if (doc.format !== CHECKPOINTS_FORMAT || typeof doc.keys !== 'object' || doc.keys === null || !Array.isArray(doc.checkpoints)) {
    throw new Error(`${file}: not a checkpoint file (expected format "${CHECKPOINTS_FORMAT}")`);
  }
  const keys = new Map<string, KeyObject>();
  for (const [id, pem] of Object.entries(doc.keys as Record<string, unknown>)) {
    const key = createPublicKey(String(pem));
    if (keyIdOf(key) !== id) throw new Error(`${file}: key ${id} does not match its public key`);
    keys.set(id, key);
  }
  const checkpoints = (doc.checkpoints as Checkpoint[]).map((c, i) => {
    if (!Number.isSafeInteger(c.seq) || typeof c.hash !== 'string' || typeof c.keyId !== 'string' || typeof c.signature !== 'string' || !Number.isFinite(c.time)) {
      throw new Error(`${file}: checkpoints[${i}] is malformed`);
    }
    return { seq: c.seq, hash: c.hash, time: c.time, keyId: c.keyId, signature: c.signature };
  });
  return { keys, checkpoints: checkpoints.sort((a, b) => a.seq - b.seq) };
}

/**
 * Merges the log's checkpoints into `to` (a file, or a directory to hold portcullis-audit-checkpoints.json),
 * written atomically. Returns the file and how many checkpoints it now holds and how many were new.
 */
export async function exportCheckpoints(store: AuditStore, keys: AuditKeyStore, to: string): Promise<{ file: string; total: number; added: number }> {
  const file = existsSync(to) && statSync(to).isDirectory() ? join(to, CHECKPOINTS_FILE) : to;
  const old = existsSync(file) ? readExportedCheckpoints(file) : { keys: new Map<string, KeyObject>(), checkpoints: [] };
  const bySeq = new Map(old.checkpoints.map((c) => [c.seq, c]));
  let added = 0;
  for (const c of await store.checkpoints()) {
    const known = bySeq.get(c.seq);
    if (known && known.hash !== c.hash) {
      throw new Error(`the log's checkpoint at seq ${c.seq} differs from the one already exported to ${file}: the log was rewritten; nothing was written`);
    }
    if (!known) { bySeq.set(c.seq, c); added++; }
  }
  const pems: Record<string, string> = {};
  for (const [id, key] of old.keys) pems[id] = publicKeyPem(key);
  for (const [id, key] of keys.trustedKeys()) pems[id] = publicKeyPem(key);
  const checkpoints = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ format: CHECKPOINTS_FORMAT, keys: pems, checkpoints }, null, 2) + '\n');
  renameSync(tmp, file);
  return { file, total: checkpoints.length, added };
}
