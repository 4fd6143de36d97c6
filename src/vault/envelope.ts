/**
 * The vault's record format: AES-256-GCM envelope encryption. Each secret has its own random 256-bit data key; the
 * value is sealed with the data key, the data key is wrapped by a key-encryption key (KEK) of the KeyProvider.
 *
 * Authenticated data binds both layers to the secret's name (and the wrapped key also to its KEK id), so a record
 * copied under another name, or a wrapped key moved between records, fails to open instead of yielding a value.
 * Rotation re-wraps the data key only: the value's ciphertext and its AAD do not depend on the KEK.
 */
import { canonicalJson } from '../core/canonical.js';
import type { JsonObject } from '../core/jsonrpc.js';
import { VaultError } from './errors.js';
import { gcmOpen, gcmSeal, generateKey, type KeyProvider } from './keyProviders.js';

export const VAULT_FORMAT = 'portcullis-vault/1';

/** As stored in the RecordStore (binary fields base64url). */
export interface SecretRecord {
  format: typeof VAULT_FORMAT;
  name: string;
  /** Id of the KEK that wrapped `wrappedKey`. */
  kek: string;
  wrappedKey: string;
  /** nonce ‖ ciphertext ‖ tag of the UTF-8 value. */
  sealed: string;
  createdAt: number;
  updatedAt: number;
}

function valueAad(name: string): Buffer {
  return Buffer.from(canonicalJson({ format: VAULT_FORMAT, layer: 'value', name }));
}

function keyAad(name: string, kek: string): Buffer {
  return Buffer.from(canonicalJson({ format: VAULT_FORMAT, layer: 'data-key', name, kek }));
}

/** A new record for `value` under `name`, its data key wrapped with the provider's current KEK. */
export async function sealSecret(provider: KeyProvider, name: string, value: string, times: { createdAt: number; updatedAt: number }): Promise<SecretRecord> {
  const kek = await provider.currentKekId();
  const dataKey = generateKey();
  try {
    const sealed = gcmSeal(dataKey, Buffer.from(value, 'utf8'), valueAad(name));
    const wrappedKey = await provider.wrap(kek, dataKey, keyAad(name, kek));
    return { format: VAULT_FORMAT, name, kek, wrappedKey: wrappedKey.toString('base64url'), sealed: sealed.toString('base64url'), ...times };
  } finally {
    dataKey.fill(0);
  }
}

/** The value of a record stored under `name`. Throws VaultError (unknown-kek, decrypt-failed, bad-record). */
export async function openSecret(provider: KeyProvider, name: string, stored: JsonObject): Promise<string> {
  const rec = asRecord(name, stored);
  const dataKey = await provider.unwrap(rec.kek, Buffer.from(rec.wrappedKey, 'base64url'), keyAad(name, rec.kek));
  try {
    const value = gcmOpen(dataKey, Buffer.from(rec.sealed, 'base64url'), valueAad(name));
    if (!value) throw new VaultError('decrypt-failed', `secret "${name}" does not decrypt (altered record, or a record moved from another secret)`);
    return value.toString('utf8');
  } finally {
    dataKey.fill(0);
  }
}

/** The same record with its data key wrapped by KEK `to`; the sealed value is untouched. */
export async function rewrapSecret(provider: KeyProvider, name: string, stored: JsonObject, to: string): Promise<SecretRecord> {
  const rec = asRecord(name, stored);
  const dataKey = await provider.unwrap(rec.kek, Buffer.from(rec.wrappedKey, 'base64url'), keyAad(name, rec.kek));
  try {
    const wrappedKey = await provider.wrap(to, dataKey, keyAad(name, to));
    return { ...rec, kek: to, wrappedKey: wrappedKey.toString('base64url') };
  } finally {
    dataKey.fill(0);
  }
}

/** Checks the shape (not the cryptography) of a stored record. */
export function asRecord(name: string, stored: JsonObject): SecretRecord {
  const r = stored as Partial<SecretRecord>;
  if (r.format !== VAULT_FORMAT) throw new VaultError('bad-record', `secret "${name}" is stored in an unknown format (${typeof r.format === 'string' ? r.format : 'none'})`);
  if (typeof r.kek !== 'string' || typeof r.wrappedKey !== 'string' || typeof r.sealed !== 'string' || typeof r.createdAt !== 'number' || typeof r.updatedAt !== 'number' || typeof r.name !== 'string') {
    throw new VaultError('bad-record', `secret "${name}" is an incomplete vault record`);
  }
  return r as SecretRecord;
}
