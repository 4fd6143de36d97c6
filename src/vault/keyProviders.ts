/**
 * Key-encryption keys (KEKs): where they come from and how they wrap the per-secret data keys.
 *
 * The vault only talks to a KeyProvider, so a key never has to leave a KMS: a provider for AWS KMS, Google Cloud KMS
 * or HashiCorp Vault's transit engine implements wrap/unwrap as remote calls (transit's encrypt/decrypt with the
 * `aad` as its context, its key versions as KEK ids) and addKey/retireAllBut as its own key rotation (or refuses
 * them, "unsupported", when rotation happens in the KMS). Two local providers ship here:
 *
 * - a key file (default <dataDir>/vault.key, mode 0600): a keyring, so that a rotation can add a key, re-wrap every
 *   data key, then retire the old key while readers holding either key keep working;
 * - an environment variable (PORTCULLIS_VAULT_KEY, 32 bytes base64; during a rotation the old key goes in
 *   PORTCULLIS_VAULT_KEY_PREVIOUS), for platforms that inject secrets as variables.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { VaultError } from './errors.js';

export interface KeyProvider {
  /** Where the keys come from, for messages and `portcullis check` ("key file /srv/data/vault.key"). */
  readonly source: string;
  /** The KEK new data keys are wrapped with. Throws VaultError "no-key" when there is none. */
  currentKekId(): Promise<string>;
  /** Every KEK this provider can unwrap with, the current one first. */
  kekIds(): Promise<string[]>;
  wrap(kekId: string, dataKey: Buffer, aad: Buffer): Promise<Buffer>;
  /** Throws VaultError "unknown-kek" for a KEK it does not hold, "decrypt-failed" when the wrapped key or aad was altered. */
  unwrap(kekId: string, wrapped: Buffer, aad: Buffer): Promise<Buffer>;
  /** Forgets cached keys and reads them again (another process may have rotated them). */
  reload(): Promise<void>;
  /** Rotation, step 1: a new current KEK, the others kept for reading. Returns its id. */
  addKey(): Promise<string>;
  /** Rotation, last step: forgets every KEK but `keep`; returns the ids retired. */
  retireAllBut(keep: string): Promise<string[]>;
}

export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A KEK's id: a digest of the key, so every process that holds the key names it the same way without a registry. */
export function kekIdOf(key: Buffer): string {
  return 'k-' + createHash('sha256').update('portcullis vault kek id\0').update(key).digest('base64url').slice(0, 16);
}

export function generateKey(): Buffer {
  return randomBytes(KEY_BYTES);
}

/** AES-256-GCM with a random 96-bit nonce: nonce ‖ ciphertext ‖ tag. */
export function gcmSeal(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(aad);
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([iv, body, c.getAuthTag()]);
}

/** Undoes gcmSeal; undefined when the key is wrong or anything (nonce, ciphertext, tag, aad) was altered. */
export function gcmOpen(key: Buffer, sealed: Buffer, aad: Buffer): Buffer | undefined {
  if (sealed.length < IV_BYTES + TAG_BYTES) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([d.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), d.final()]);
  } catch {
    return undefined;
  }
}

/** KEKs held in this process, by id; wrapping is local AES-256-GCM. */
abstract class LocalKeyProvider implements KeyProvider {
  abstract readonly source: string;
  private ring: { current: string; keys: Map<string, Buffer> } | undefined;

  /** The keys as they stand now (read from the file or the environment). */
  protected abstract load(): { current: string; keys: Map<string, Buffer> } | undefined;

  private keys(): { current: string; keys: Map<string, Buffer> } {
    this.ring ??= this.load();
    if (!this.ring) throw new VaultError('no-key', `no vault key in ${this.source} (create one with "portcullis vault init")`);
    return this.ring;
  }

  async currentKekId(): Promise<string> {
    return this.keys().current;
  }

  async kekIds(): Promise<string[]> {
    const r = this.keys();
    return [r.current, ...[...r.keys.keys()].filter((id) => id !== r.current)];
  }

  async wrap(kekId: string, dataKey: Buffer, aad: Buffer): Promise<Buffer> {
    return gcmSeal(this.key(kekId), dataKey, aad);
  }

  async unwrap(kekId: string, wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    const out = gcmOpen(this.key(kekId), wrapped, aad);
    if (!out) throw new VaultError('decrypt-failed', `the data key does not open with key ${kekId} (altered record, or a record moved from another secret)`);
    return out;
  }

  async reload(): Promise<void> {
    this.ring = undefined;
  }

  async addKey(): Promise<string> {
    throw new VaultError('unsupported', `${this.source} cannot add a key`);
  }

  async retireAllBut(_keep: string): Promise<string[]> {
    throw new VaultError('unsupported', `${this.source} cannot retire keys`);
  }

  private key(kekId: string): Buffer {
    const k = this.keys().keys.get(kekId);
    if (!k) throw new VaultError('unknown-kek', `key ${kekId} is not in ${this.source}`);
    return k;
  }
}

interface KeyFileJson {
  format: 'portcullis-vault-keys/1';
  current: string;
  keys: { id: string; key: string; createdAt: string }[];
}

/** A keyring file: JSON, mode 0600, replaced atomically (write a sibling, rename) so a reader never sees half a file. */
export class KeyFileProvider extends LocalKeyProvider {
  readonly source: string;

  constructor(readonly path: string) {
    super();
    this.source = `key file ${path}`;
  }

  exists(): boolean {
    return existsSync(this.path);
  }

  /** Creates the file with one fresh key unless it exists; returns whether it created it. */
  init(): boolean {
    if (this.exists()) return false;
    const key = generateKey();
    const id = kekIdOf(key);
    this.write({ format: 'portcullis-vault-keys/1', current: id, keys: [{ id, key: key.toString('base64'), createdAt: new Date().toISOString() }] }, true);
    void this.reload();
    // Another process may have won the race: then its keyring stands and this one was discarded.
    return this.read().current === id;
  }

  protected load(): { current: string; keys: Map<string, Buffer> } | undefined {
    if (!this.exists()) return undefined;
    const file = this.read();
    return { current: file.current, keys: new Map(file.keys.map((k) => [k.id, Buffer.from(k.key, 'base64')])) };
  }

  override async addKey(): Promise<string> {
    const file = this.read();
    const key = generateKey();
    const id = kekIdOf(key);
    this.write({ ...file, current: id, keys: [{ id, key: key.toString('base64'), createdAt: new Date().toISOString() }, ...file.keys] }, false);
    await this.reload();
    return id;
  }

  override async retireAllBut(keep: string): Promise<string[]> {
    const file = this.read();
    if (!file.keys.some((k) => k.id === keep)) throw new VaultError('unknown-kek', `key ${keep} is not in ${this.source}`);
    const retired = file.keys.filter((k) => k.id !== keep).map((k) => k.id);
    this.write({ ...file, current: keep, keys: file.keys.filter((k) => k.id === keep) }, false);
    await this.reload();
    return retired;
  }

  private read(): KeyFileJson {
    // Like ssh with a private key: a key others can read is refused rather than used.
    if (process.platform !== 'win32' && (statSync(this.path).mode & 0o077) !== 0) {
      throw new VaultError('key-unreadable', `${this.source} is readable by other users: run "chmod 600 ${this.path}"`);
    }
    let json: KeyFileJson;
    try {
      json = JSON.parse(readFileSync(this.path, 'utf8')) as KeyFileJson;
    } catch (e) {
      throw new VaultError('key-unreadable', `${this.source} is not a vault keyring (${(e as Error).name})`);
    }
    const valid = json?.format === 'portcullis-vault-keys/1' && Array.isArray(json.keys)
      && json.keys.every((k) => typeof k?.id === 'string' && typeof k.key === 'string' && Buffer.from(k.key, 'base64').length === KEY_BYTES && kekIdOf(Buffer.from(k.key, 'base64')) === k.id)
      && json.keys.some((k) => k.id === json.current);
    if (!valid) throw new VaultError('key-unreadable', `${this.source} is not a valid vault keyring (format portcullis-vault-keys/1, 32-byte keys)`);
    return json;
  }

  private write(json: KeyFileJson, fresh: boolean): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = join(dirname(this.path), `.vault.key.${process.pid}.${randomBytes(4).toString('hex')}`);
    writeFileSync(tmp, JSON.stringify(json, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(tmp, 0o600);
    if (!fresh) {
      renameSync(tmp, this.path);
      return;
    }
    // init must never replace a keyring another process created meanwhile (that would orphan its secrets):
    // link() fails if the name exists, atomically.
    try {
      linkSync(tmp, this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      unlinkSync(tmp);
    }
  }
}

/**
 * Keys from the environment: NAME holds the current key (32 bytes, base64), NAME_PREVIOUS optionally older ones
 * (comma-separated) while a rotation re-wraps. Rotation itself happens outside: set the new key, move the old one to
 * NAME_PREVIOUS, run "portcullis vault rotate", then drop NAME_PREVIOUS.
 */
export class EnvKeyProvider extends LocalKeyProvider {
  readonly source: string;

  constructor(private readonly variable: string, private readonly env: Readonly<Record<string, string | undefined>> = process.env) {
    super();
    this.source = `environment variable ${variable}`;
  }

  protected load(): { current: string; keys: Map<string, Buffer> } | undefined {
    const current = this.env[this.variable];
    if (!current) return undefined;
    const keys = new Map<string, Buffer>();
    let currentId = '';
    for (const [i, text] of [current, ...(this.env[`${this.variable}_PREVIOUS`] ?? '').split(',')].entries()) {
      if (i > 0 && !text.trim()) continue;
      const key = Buffer.from(text.trim(), 'base64');
      const which = i === 0 ? this.variable : `${this.variable}_PREVIOUS`;
      if (key.length !== KEY_BYTES) throw new VaultError('key-unreadable', `${which} must hold a 32-byte key in base64 (e.g. from "openssl rand -base64 32")`);
      const id = kekIdOf(key);
      if (i === 0) currentId = id;
      keys.set(id, key);
    }
    return { current: currentId, keys };
  }

  override async addKey(): Promise<string> {
    throw new VaultError('unsupported', `the vault key comes from ${this.variable}: put the new key there and the old one in ${this.variable}_PREVIOUS, then run "portcullis vault rotate"`);
  }
}

export const VAULT_KEY_ENV = 'PORTCULLIS_VAULT_KEY';

/** The environment variable when it is set, else the key file (default <dataDir>/vault.key). */
export function keyProviderFor(opts: { dataDir: string; keyFile?: string | undefined; env?: Readonly<Record<string, string | undefined>> }): KeyProvider {
  const env = opts.env ?? process.env;
  if (env[VAULT_KEY_ENV]) return new EnvKeyProvider(VAULT_KEY_ENV, env);
  return new KeyFileProvider(opts.keyFile ?? join(opts.dataDir, 'vault.key'));
}
