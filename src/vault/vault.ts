/**
 * The credential vault: named secrets, encrypted at rest (envelope.ts), kept in the gateway's RecordStore so every
 * storage driver works and replicas on shared storage share the secrets. Values cross this interface as strings and
 * are never logged; errors name the secret, never its value.
 */
import type { RecordStore } from '../storage/types.js';
import type { JsonObject } from '../core/jsonrpc.js';
import { asRecord, openSecret, rewrapSecret, sealSecret } from './envelope.js';
import { isVaultError, VaultError } from './errors.js';
import type { KeyProvider } from './keyProviders.js';
import { SECRET_NAME } from '../config/secretRefs.js';

const NAMESPACE = 'vault.secrets';

export interface SecretInfo {
  name: string;
  kek: string;
  createdAt: number;
  updatedAt: number;
}

export interface RotationReport {
  /** The KEK every data key is now wrapped with. */
  kek: string;
  /** Data keys re-wrapped. */
  rewrapped: number;
  /** KEKs removed from the provider (empty when the provider cannot remove keys, e.g. an environment variable). */
  retired: string[];
}

export class Vault {
  constructor(private readonly records: RecordStore, readonly provider: KeyProvider, private readonly now: () => number = Date.now) {}

  /** Stores (or replaces) a secret; returns whether it is new. */
  async set(name: string, value: string): Promise<{ created: boolean }> {
    checkName(name);
    if (value.length === 0) throw new VaultError('bad-value', `secret "${name}" would be empty`);
    // Another process may have rotated: write with the key that is current now, not the one cached at start.
    await this.provider.reload();
    const before = await this.records.get(NAMESPACE, name);
    const now = this.now();
    const createdAt = before && typeof before.createdAt === 'number' ? before.createdAt : now;
    const rec = await sealSecret(this.provider, name, value, { createdAt, updatedAt: now });
    await this.records.put(NAMESPACE, name, rec as unknown as JsonObject);
    return { created: !before };
  }

  /** The secret's value; VaultError "not-found" when there is none. */
  async get(name: string): Promise<string> {
    checkName(name);
    for (let attempt = 0; ; attempt++) {
      const stored = await this.records.get(NAMESPACE, name);
      if (!stored) throw new VaultError('not-found', `secret "${name}" is not in the vault (add it with "portcullis vault set ${name}")`);
      try {
        return await openSecret(this.provider, name, stored);
      } catch (e) {
        // A rotation elsewhere added a key we have not read yet, or retired the one our copy of the record named:
        // read the keys and the record again. Bounded: a key nobody has stays unknown.
        if (attempt < 2 && isVaultError(e, 'unknown-kek')) {
          await this.provider.reload();
          continue;
        }
        throw e;
      }
    }
  }

  async has(name: string): Promise<boolean> {
    checkName(name);
    return (await this.records.get(NAMESPACE, name)) !== undefined;
  }

  /** Names and metadata, never values. */
  async list(): Promise<SecretInfo[]> {
    return (await this.records.list(NAMESPACE)).map((r) => {
      const rec = asRecord(r.key, r.value);
      return { name: r.key, kek: rec.kek, createdAt: rec.createdAt, updatedAt: rec.updatedAt };
    });
  }

  async remove(name: string): Promise<boolean> {
    checkName(name);
    return this.records.delete(NAMESPACE, name);
  }

  /**
   * Key rotation without downtime: a new KEK becomes current (the old ones stay readable), every data key is
   * re-wrapped with it (values untouched), a second pass catches secrets written meanwhile under an old key, and only
   * then are the old KEKs retired. Readers never fail: until the retirement a record opens with either key, and a
   * reader that meets a key it does not know reads the keys again (Vault.get).
   * With a provider that cannot add keys (an environment variable), it re-wraps to the current key and retires nothing.
   */
  async rotate(): Promise<RotationReport> {
    await this.provider.reload();
    let kek: string;
    let canRetire = true;
    try {
      kek = await this.provider.addKey();
    } catch (e) {
      if (!isVaultError(e, 'unsupported')) throw e;
      kek = await this.provider.currentKekId();
      canRetire = false;
    }
    let rewrapped = await this.rewrapAll(kek);
    rewrapped += await this.rewrapAll(kek);
    const retired = canRetire ? await this.provider.retireAllBut(kek) : [];
    return { kek, rewrapped, retired };
  }

  /** Re-wraps every data key not yet under `kek`; returns how many. */
  private async rewrapAll(kek: string): Promise<number> {
    let n = 0;
    for (const { key: name, value } of await this.records.list(NAMESPACE)) {
      if (asRecord(name, value).kek === kek) continue;
      const next = await rewrapSecret(this.provider, name, value, kek);
      // Narrows the window in which a concurrent "vault set" could be overwritten by the re-wrapped old value.
      const current = await this.records.get(NAMESPACE, name);
      if (!current || current.sealed !== value.sealed) continue;
      await this.records.put(NAMESPACE, name, next as unknown as JsonObject);
      n++;
    }
    return n;
  }
}

function checkName(name: string): void {
  if (!SECRET_NAME.test(name)) {
    throw new VaultError('bad-name', `invalid secret name ${JSON.stringify(name.slice(0, 64))}: letters, digits, "_", "-" and "." (at most 128), starting with a letter or digit`);
  }
}
