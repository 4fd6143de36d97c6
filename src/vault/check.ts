/**
 * What `portcullis check` says about the vault: whether its key is available and, when the configuration refers to
 * secrets, that every one of them is in the vault and decrypts. Values are read to prove they decrypt, never shown.
 */
import type { GatewayConfig } from '../config/types.js';
import { secretNames } from '../config/secretRefs.js';
import { isVaultError } from './errors.js';
import { KeyFileProvider, keyProviderFor } from './keyProviders.js';
import { ResolvedSecrets } from './resolve.js';
import { Vault } from './vault.js';

/**
 * One line for the check's output, or undefined when there is nothing to say (no key, no reference). Throws the
 * ConfigError of the references that cannot be resolved.
 */
export async function vaultStatus(config: GatewayConfig): Promise<string | undefined> {
  const provider = keyProviderFor({ dataDir: config.server.dataDir, keyFile: config.vault.keyFile });
  const names = secretNames(config);
  let key: string;
  try {
    const ids = await provider.kekIds();
    key = `key from ${provider.source} (${ids.length === 1 ? 'key' : `${ids.length} keys, current`} ${ids[0]})`;
  } catch (e) {
    if (!isVaultError(e)) throw e;
    if (names.length === 0 && isVaultError(e, 'no-key') && provider instanceof KeyFileProvider) return undefined;
    key = `key not available: ${e.message}`;
  }
  if (names.length === 0) return `vault: ${key}\n`;
  // Storage is loaded only now: a check without references stays fast and touches no database.
  const { openStorage } = await import('../storage/index.js');
  const storage = await openStorage(config.storage, { replayEvents: config.sessions.replayEvents });
  try {
    await ResolvedSecrets.resolve(config, () => new Vault(storage.records, provider));
  } finally {
    await storage.close();
  }
  return `vault: ${key}; ${names.length} secret${names.length === 1 ? '' : 's'} referenced (${names.join(', ')}), all present and readable\n`;
}
