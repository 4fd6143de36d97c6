/**
 * Signed checkpoints: Ed25519 over (seq, head hash, time, key id) in canonical JSON. A checkpoint kept outside
 * the log (audit checkpoints export) pins the chain up to its seq: a log rewritten without the key cannot
 * reproduce the signed hash, and a log cut short no longer reaches the signed seq.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../core/canonical.js';
import type { SigningKey } from './keys.js';
import type { ChainHead } from './record.js';

export interface Checkpoint {
  seq: number;
  hash: string;
  /** Epoch ms when it was signed. */
  time: number;
  keyId: string;
  /** Ed25519 signature, base64url. */
  signature: string;
}

const FORMAT = 'portcullis-audit-checkpoint/1';

function payload(c: Omit<Checkpoint, 'signature'>): Buffer {
  return Buffer.from(canonicalJson({ format: FORMAT, seq: c.seq, hash: c.hash, time: c.time, keyId: c.keyId }));
}

export function signCheckpoint(head: ChainHead, key: SigningKey, now = Date.now()): Checkpoint {
  const unsigned = { seq: head.seq, hash: head.hash, time: now, keyId: key.keyId };
  return { ...unsigned, signature: sign(null, payload(unsigned), key.privateKey).toString('base64url') };
}

/** Whether a trusted key signed exactly this checkpoint. */
export function checkpointSigned(c: Checkpoint, trusted: ReadonlyMap<string, KeyObject>): boolean {
  const key = trusted.get(c.keyId);
  if (!key || typeof c.signature !== 'string') return false;
  try {
    return verify(null, payload(c), key, Buffer.from(c.signature, 'base64url'));
  } catch {
    return false;
  }
}
