/**
 * portcullis servers list | diff NAME | approve NAME: review and approve what upstream servers offer (`show [NAME]`,
 * the exact process of each stdio server, lives in serversShow.ts). The command connects to each upstream itself
 * (as configured), fetches its definitions, and compares them with the pins in the
 * configuration's storage; `approve` stores the current definitions as the new pins. Gateways sharing the storage
 * (sqlite, postgres, redis) pick new pins up within a second, and only ever let through definitions whose hash is
 * pinned, so what was approved is exactly what was reviewed.
 */
import { parseArgs } from 'node:util';
import type { GatewayConfig } from '../config/types.js';
import { createScanner } from '../integrity/scanner.js';
import { approveServer, fetchDefinitions, formatReview, reviewServer, type Review } from '../integrity/review.js';
import type { DefinitionItem } from '../integrity/definitions.js';
import { openStorage } from '../storage/index.js';
import { openAdminAudit } from '../audit/admin.js';
import type { Storage } from '../storage/types.js';
import { wireFactory } from '../upstream/createWire.js';
import { Upstream } from '../upstream/upstream.js';
import type { Logger } from '../core/log.js';
import { cliLogger, loadCliConfig } from './config.js';
import { showServers } from './serversShow.js';
import { UsageError } from './usage.js';

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, strict: true, allowPositionals: true });
  const [action, name, ...rest] = positionals;
  if (action === 'show') return showServers(values.config, positionals.slice(1));
  if (action !== 'list' && action !== 'diff' && action !== 'approve') throw new UsageError(action === undefined ? 'missing action (list, diff, approve, show)' : `unknown action "${action}" (expected list, diff, approve or show)`);
  if (rest.length || (action === 'list') !== (name === undefined)) throw new UsageError(action === 'list' ? 'list takes no server name' : `${action} needs a server name`);
  const config = await loadCliConfig(values.config);
  if (name !== undefined && !config.upstreams[name]) throw new UsageError(`no upstream named "${name}" in the configuration`);
  if (config.storage.driver === 'memory') throw new Error('storage.driver is "memory": pins would live only inside this command');
  const storage = await openStorage(config.storage, { replayEvents: config.sessions.replayEvents });
  try {
    const log = cliLogger(config);
    const servers = name !== undefined ? [name] : Object.keys(config.upstreams);
    const reviews = await reviewServers(config, storage, log, servers);
    for (const r of reviews) {
      if ('error' in r) process.stdout.write(`${r.server}: could not fetch its definitions: ${r.error}\n`);
      else process.stdout.write(formatReview(r.review));
    }
    if (action !== 'approve') return 0;
    const r = reviews[0]!;
    if ('error' in r) return 1;
    const audit = await openAdminAudit(config);
    try {
      await approveServer(storage.records, r.server, r.current, process.env.USER);
      await audit.record('servers.approve', { server: r.server, items: r.current.length });
    } finally {
      await audit.close();
    }
    process.stdout.write(`approved ${r.server}: ${r.current.length} items pinned\n`);
    return 0;
  } finally {
    await storage.close();
  }
}

type Outcome = { server: string; review: Review; current: DefinitionItem[] } | { server: string; error: string };

/** Reviews these servers; the tool names of every upstream are fetched for collisions and shadowing. */
export async function reviewServers(config: GatewayConfig, storage: Storage, log: Logger, servers: readonly string[]): Promise<Outcome[]> {
  const fetched = new Map<string, DefinitionItem[] | string>();
  const createWire = wireFactory(log, config);
  await Promise.all(Object.entries(config.upstreams).map(async ([n, cfg]) => {
    const up = new Upstream(n, cfg, { logger: log, createWire });
    try {
      const conn = await up.acquire();
      fetched.set(n, await fetchDefinitions((m, p) => conn.request(m, p), conn.info?.capabilities));
    } catch (e) {
      fetched.set(n, (e as Error).message);
    } finally {
      await up.close();
    }
  }));
  const toolsOf = (n: string) => { const f = fetched.get(n); return Array.isArray(f) ? f.filter((i) => i.kind === 'tool').map((i) => i.key) : []; };
  const virtualServers = new Map(Object.entries(config.virtualServers).map(([n, v]) => [n, v.upstreams]));
  const scanner = createScanner();
  const out: Outcome[] = [];
  for (const server of servers) {
    const current = fetched.get(server);
    if (!Array.isArray(current)) { out.push({ server, error: current ?? 'not fetched' }); continue; }
    const others = new Map(Object.keys(config.upstreams).filter((n) => n !== server).map((n) => [n, toolsOf(n)] as const));
    out.push({ server, current, review: await reviewServer(storage.records, scanner, { server, current, others, virtualServers }) });
  }
  return out;
}
