/**
 * The gateway as a benchmark target: started from a YAML file exactly as `portcullis serve` would start it
 * (parseConfig → startGateway, the configured storage, a logger at the configured level).
 * When run with an IPC channel (the bench runner forks it), it answers {type:'heap'} with the heap after a full GC
 * (start node with --expose-gc) and {type:'stats'} with live counts.
 * Run: node --expose-gc --import tsx bench/targets/gateway.ts <config.yaml>   (prints "READY <url>" on stdout)
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { startGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/core/log.js';

const file = process.argv[2];
if (!file) throw new Error('usage: gateway.ts <config.yaml>');
const path = resolve(file);
const config = parseConfig(readFileSync(path, 'utf8'), { source: path });
const running = await startGateway(config, { logger: createLogger(config.logging.level) });

// Upstreams connect in the background; wait (bounded) until every one answered its handshake.
const deadline = Date.now() + 30_000;
while ([...running.gateway.upstreams.values()].some((u) => u.health !== 'ready') && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 50));
}
const notReady = [...running.gateway.upstreams.values()].filter((u) => u.health !== 'ready').map((u) => `${u.name}: ${u.error ?? u.health}`);
if (notReady.length) process.stderr.write(`upstreams not ready: ${notReady.join('; ')}\n`);

process.on('message', (m: { type?: string; seq?: number }) => {
  if (m.type === 'heap') {
    const gc = (globalThis as { gc?: (opts?: unknown) => void }).gc;
    if (gc) { gc(); gc(); }
    process.send?.({ type: 'heap', seq: m.seq, gc: Boolean(gc), memory: process.memoryUsage(), sessions: running.gateway.sessions.size });
  }
});

let closing = false;
const stop = () => {
  if (closing) return;
  closing = true;
  const force = setTimeout(() => process.exit(0), 3000);
  force.unref();
  running.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);
process.stdout.write(`READY ${running.url}\n`);
