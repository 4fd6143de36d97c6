/** Loading the configuration for a command: the default path, a hint when it is missing, the logger it asks for. */
import { existsSync } from 'node:fs';
import { loadConfigFile, type ConfigOverride } from '../config/load.js';
import type { GatewayConfig } from '../config/types.js';
import { createLogger, type Logger } from '../core/log.js';
import { DEFAULT_CONFIG_PATH } from './usage.js';

export async function loadCliConfig(path: string | undefined, overrides: readonly ConfigOverride[] = []): Promise<GatewayConfig> {
  const file = path ?? DEFAULT_CONFIG_PATH;
  if (!existsSync(file)) {
    const hint = path === undefined ? 'create one with "portcullis init", or pass --config FILE' : 'check the path, or create a starter with "portcullis init"';
    throw new Error(`no configuration at ${file}: ${hint}`);
  }
  return loadConfigFile(file, { overrides });
}

/** PORTCULLIS_LOG_LEVEL wins over the file so a user can turn on debug logs without editing it. */
export function cliLogger(config: GatewayConfig): Logger {
  return createLogger(process.env.PORTCULLIS_LOG_LEVEL ?? config.logging.level);
}

/**
 * Resolves once the process may end. If a stray handle (a keep-alive socket, a child) would keep it alive after
 * a graceful close, exit anyway after a short grace period; the timer is unref'd so it never delays a clean exit.
 */
export function exitSoon(code: number): number {
  setTimeout(() => process.exit(code), 2000).unref();
  return code;
}
