/**
 * The Ed25519 key that signs checkpoints. It lives in the data folder (0600) until the credential vault
 * (src/vault) can hold it: this small interface is what should move there. Replicas writing one PostgreSQL log
 * must share the key (copy the file, or set PORTCULLIS_AUDIT_SIGNING_KEY to its PEM).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir } from '../core/privateDir.js';

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface AuditKeyStore {
  /** The key new checkpoints are signed with (created on first use). */
  signingKey(): SigningKey;
  /** Public keys whose checkpoints this log trusts, by key id. */
  trustedKeys(): Map<string, KeyObject>;
}

export const SIGNING_KEY_FILE = 'audit-signing.key';

/** A short stable name for a public key: SHA-256 of its SubjectPublicKeyInfo, base64url, 22 characters. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64url').slice(0, 22);
}

export function publicKeyPem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

function fromPrivate(privateKey: KeyObject): SigningKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`the audit signing key must be Ed25519 (got ${privateKey.asymmetricKeyType})`);
  const publicKey = createPublicKey(privateKey);
  return { keyId: keyIdOf(publicKey), privateKey, publicKey };
}

function singleKeyStore(load: () => SigningKey): AuditKeyStore {
  let key: SigningKey | undefined;
  const signingKey = () => (key ??= load());
  return { signingKey, trustedKeys: () => new Map([[signingKey().keyId, signingKey().publicKey]]) };
}

/** The key in `<dataDir>/audit-signing.key` (PKCS#8 PEM, mode 0600), or PORTCULLIS_AUDIT_SIGNING_KEY. */
export function fileKeyStore(dataDir: string, env: NodeJS.ProcessEnv = process.env): AuditKeyStore {
  return singleKeyStore(() => {
    const fromEnv = env.PORTCULLIS_AUDIT_SIGNING_KEY;
    if (fromEnv) return fromPrivate(createPrivateKey(fromEnv));
    const file = join(dataDir, SIGNING_KEY_FILE);
    if (existsSync(file)) return fromPrivate(createPrivateKey(readFileSync(file)));
    ensurePrivateDir(dataDir);
    const { privateKey } = generateKeyPairSync('ed25519');
    // wx: two processes starting at once must not both write a key; the loser reads the winner's.
    try {
      writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
      chmodSync(file, 0o600);
      return fromPrivate(privateKey);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return fromPrivate(createPrivateKey(readFileSync(file)));
      throw e;
    }
  });
}

/** The public keys the data folder (or PORTCULLIS_AUDIT_SIGNING_KEY) holds, without creating one: for verifying. */
export function existingTrustedKeys(dataDir: string, env: NodeJS.ProcessEnv = process.env): Map<string, KeyObject> {
  const file = join(dataDir, SIGNING_KEY_FILE);
  if (!env.PORTCULLIS_AUDIT_SIGNING_KEY && !existsSync(file)) return new Map();
  return fileKeyStore(dataDir, env).trustedKeys();
}

/** A key that lives as long as the process: for the memory driver, whose log does too. */
export function memoryKeyStore(): AuditKeyStore {
  return singleKeyStore(() => fromPrivate(generateKeyPairSync('ed25519').privateKey));
}
