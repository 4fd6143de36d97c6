/** portcullis stdio: serve one upstream or virtual server over stdin/stdout (stdout carries JSON-RPC only). */
import { parseArgs } from 'node:util';
import type { GatewayConfig } from '../config/types.js';
import { cliLogger, exitSoon, loadCliConfig } from './config.js';
import { UsageError } from './usage.js';

export interface StdioTarget {
  kind: 'server' | 'virtual';
  name: string;
}

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, server: { type: 'string' }, virtual: { type: 'string' } },
    strict: true,
    allowPositionals: false,
  });
  if (values.server !== undefined && values.virtual !== undefined) throw new UsageError('use either --server or --virtual, not both');
  const config = await loadCliConfig(values.config);
  const target = pickTarget(config, values.server, values.virtual);
  const { policyWarning } = await import('./reload.js');
  const { configPolicy } = await import('../config/policy.js');
  // stdout carries JSON-RPC only: the warning goes to stderr, where the host shows server logs.
  const warning = policyWarning(configPolicy(config), Object.keys(config.upstreams), true);
  if (warning) process.stderr.write(warning);
  const { serveStdio } = await import('../transport/stdio/serve.js');
  await serveStdio(config, { logger: cliLogger(config), target });
  return exitSoon(0);
}

/** Explicit flags first; otherwise the unambiguous choice ("default" virtual server, a lone virtual server or upstream). */
export function pickTarget(config: GatewayConfig, server?: string, virtual?: string): StdioTarget {
  const upstreams = Object.keys(config.upstreams);
  const virtuals = Object.keys(config.virtualServers);
  const list = (names: string[]): string => (names.length ? names.join(', ') : 'none defined');
  if (server !== undefined) {
    if (!upstreams.includes(server)) throw new Error(`unknown upstream "${server}" (upstreams: ${list(upstreams)})`);
    return { kind: 'server', name: server };
  }
  if (virtual !== undefined) {
    if (!virtuals.includes(virtual)) throw new Error(`unknown virtual server "${virtual}" (virtual servers: ${list(virtuals)})`);
    return { kind: 'virtual', name: virtual };
  }
  if (virtuals.includes('default')) return { kind: 'virtual', name: 'default' };
  if (virtuals.length === 1) return { kind: 'virtual', name: virtuals[0] as string };
  if (virtuals.length === 0 && upstreams.length === 1) return { kind: 'server', name: upstreams[0] as string };
  throw new UsageError(`choose what to serve: --virtual NAME (${list(virtuals)}) or --server NAME (${list(upstreams)})`);
}
