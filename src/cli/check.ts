/** portcullis check: validate a file; problems are printed by main (ConfigError.format) with exit code 1. */
import { parseArgs } from 'node:util';
import { loadCliConfig } from './config.js';

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, strict: true, allowPositionals: false });
  const config = await loadCliConfig(values.config);
  const upstreams = Object.keys(config.upstreams).length;
  const virtual = Object.keys(config.virtualServers).length;
  process.stdout.write(`ok: ${upstreams} upstreams, ${virtual} virtual servers\n`);
  return 0;
}
