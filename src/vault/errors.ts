/**
 * Vault failures, with stable codes to branch on. Messages name secrets and keys by name or id, never by value:
 * they end up in logs and on the console.
 */
export type VaultErrorCode =
  | 'no-key' // the key provider has no key-encryption key (run "portcullis vault init")
  | 'key-unreadable' // the key file or variable exists but is unusable (bad format, loose permissions)
  | 'unknown-kek' // a record names a key-encryption key the provider does not hold
  | 'decrypt-failed' // wrong key, or the record was altered or moved to another name
  | 'bad-record' // a stored record is not a vault record of a known format
  | 'bad-name' // an invalid secret name
  | 'bad-value' // a value the vault will not store (empty)
  | 'not-found'
  | 'unsupported'; // the provider cannot do this (e.g. add a key to an environment variable)

export class VaultError extends Error {
  override name = 'VaultError';
  constructor(readonly code: VaultErrorCode, message: string, opts?: { cause?: unknown }) {
    super(message, opts);
  }
}

/** Branch on the name, not instanceof: the CLI and the gateway may load different copies of this module. */
export function isVaultError(e: unknown, code?: VaultErrorCode): e is VaultError {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'VaultError' && (code === undefined || (e as { code?: unknown }).code === code);
}
