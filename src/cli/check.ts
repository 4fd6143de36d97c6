/** portcullis check: validate a file; problems are printed by main (ConfigError.format) with exit code 1. */
import { parseArgs } from 'node:util';
import { loadCliConfig } from './config.js';
import { vaultStatus } from '../vault/check.js';
import { sandboxReport } from '../upstream/sandbox/report.js';

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, strict: true, allowPositionals: false });
  const config = await loadCliConfig(values.config);
  // Secret references must resolve too: a missing or unreadable secret fails the check (a ConfigError, printed by main).
  const vault = await vaultStatus(config);
  const upstreams = Object.keys(config.upstreams).length;
  const virtual = Object.keys(config.virtualServers).length;
  process.stdout.write(`ok: ${upstreams} upstreams, ${virtual} virtual servers\n`);
  if (vault) process.stdout.write(vault);
  // Said here too, so nobody learns at the first start that their servers cannot be isolated (or are not allowed).
  const sandbox = await sandboxReport(config);
  process.stdout.write(sandbox.text);
  return sandbox.refused ? 1 : 0;
}
