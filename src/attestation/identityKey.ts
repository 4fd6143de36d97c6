/**
 * The gateway's Ed25519 identity key, which signs attestation documents. Where it lives decides what its continuity
 * proves, so each store says so:
 *
 *   - VaultIdentityKeyStore (software mode): PKCS#8 PEM in the credential vault (`attestation-identity-key`,
 *     AES-256-GCM under the vault's key), created on first start. It proves "the same key as before", as far as the
 *     vault key is protected. A key file left by an earlier version is moved into the vault and deleted.
 *   - FileIdentityKeyStore: the same in a 0600 file of the data folder (kept for that migration and for tests).
 *   - EphemeralIdentityKeyStore (configfs-tsm, memory storage): generated in memory at start, never written; a
 *     restart gives a new key, which the quote binds again.
 *   - a derived key (dstack): the guest agent derives it from the confidential VM's key provider; it never exists
 *     outside the VM and is the same across restarts of the same app (providers/dstack.ts).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isVaultError } from '../vault/errors.js';
import type { Vault } from '../vault/vault.js';
import { join } from 'node:path';

export interface IdentityKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Where the key lives, in words, for the document. */
  custody: string;
}

export interface IdentityKeyStore {
  load(): Promise<IdentityKey>;
}

export const IDENTITY_KEY_FILE = 'attestation-identity.key';

export class FileIdentityKeyStore implements IdentityKeyStore {
  constructor(private readonly dataDir: string) {}

  async load(): Promise<IdentityKey> {
    const file = join(this.dataDir, IDENTITY_KEY_FILE);
    let privateKey: KeyObject;
    if (existsSync(file)) {
      privateKey = createPrivateKey(readFileSync(file, 'utf8'));
      if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${file} is not an Ed25519 private key`);
    } else {
      mkdirSync(this.dataDir, { recursive: true });
      privateKey = generateKeyPairSync('ed25519').privateKey;
      writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
      chmodSync(file, 0o600);
    }
    return { privateKey, publicKey: createPublicKey(privateKey), custody: `software key file ${IDENTITY_KEY_FILE} in the data folder` };
  }
}

export const IDENTITY_KEY_SECRET = 'attestation-identity-key';

export class VaultIdentityKeyStore implements IdentityKeyStore {
  /** `ensureVaultKey`: creates the vault's key file when there is none (as `portcullis vault set` would). */
  constructor(private readonly vault: () => Vault, private readonly dataDir: string, private readonly ensureVaultKey: () => void = () => {}) {}

  async load(): Promise<IdentityKey> {
    this.ensureVaultKey();
    const vault = this.vault();
    let pem: string;
    try {
      pem = await vault.get(IDENTITY_KEY_SECRET);
    } catch (e) {
      if (!isVaultError(e, 'not-found')) throw e;
      const legacy = join(this.dataDir, IDENTITY_KEY_FILE);
      // An earlier version kept the key in a file: keep the same key (verifiers pin it), now under the vault.
      const key = existsSync(legacy) ? createPrivateKey(readFileSync(legacy, 'utf8')) : generateKeyPairSync('ed25519').privateKey;
      if (key.asymmetricKeyType !== 'ed25519') throw new Error(`${legacy} is not an Ed25519 private key`);
      await vault.set(IDENTITY_KEY_SECRET, key.export({ type: 'pkcs8', format: 'pem' }) as string);
      // Two processes starting together: whichever wrote last is the key both use.
      pem = await vault.get(IDENTITY_KEY_SECRET);
      if (existsSync(legacy)) rmSync(legacy, { force: true });
    }
    const privateKey = createPrivateKey(pem);
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`vault secret ${IDENTITY_KEY_SECRET} is not an Ed25519 private key`);
    return { privateKey, publicKey: createPublicKey(privateKey), custody: `software key in the credential vault (${IDENTITY_KEY_SECRET})` };
  }
}

export class EphemeralIdentityKeyStore implements IdentityKeyStore {
  constructor(private readonly custody = 'generated in memory at start, never written out') {}

  async load(): Promise<IdentityKey> {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    return { privateKey, publicKey, custody: this.custody };
  }
}

/** An Ed25519 key from a 32-byte seed (a key derived by a TEE key provider). */
export function keyFromSeed(seed: Buffer, custody: string): IdentityKey {
  if (seed.length !== 32) throw new Error(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
  // PKCS#8 for Ed25519 is a fixed 16-byte prefix followed by the seed (RFC 8410).
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: createPublicKey(privateKey), custody };
}

/** The 32 raw bytes of an Ed25519 public key. */
export function rawPublicKey(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url');
}

export function publicKeyFromRaw(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new Error(`an Ed25519 public key is 32 bytes, got ${raw.length}`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}
