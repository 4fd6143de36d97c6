/**
 * The gateway as a benchmark target: started from a YAML file exactly as `portcullis serve` would start it
 * (parseConfig → startGateway, the configured storage, a logger at the configured level).
 * When run with an IPC channel (the bench runner starts it so), it answers {type:'heap'} with the heap after a full GC
 * (start node with --expose-gc), and {type:'profile-start'} / {type:'profile-stop', file} with a CPU profile of
 * the window in between (V8 sampling profiler via node:inspector, 100 µs interval).
 * Run: node --expose-gc --import tsx bench/targets/gateway.ts <config.yaml>   (prints "READY <url>" on stdout)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { resolve } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { startGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/core/log.js';
import { exitWithParent } from './orphan.js';

exitWithParent();

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

// A CPU profile of a chosen window (the runner brackets one measured row with profile-start / profile-stop).
let inspector: Session | undefined;
const post = (method: string, params?: object) => new Promise<unknown>((resolve, reject) => {
  inspector!.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result)));
});

process.on('message', (m: { type?: string; seq?: number; file?: string }) => {
  const reply = (extra: object) => process.send?.({ type: m.type, seq: m.seq, ...extra });
  if (m.type === 'heap') {
    const gc = (globalThis as { gc?: (opts?: unknown) => void }).gc;
    if (gc) { gc(); gc(); }
    reply({ gc: Boolean(gc), memory: process.memoryUsage(), sessions: running.gateway.sessions.size });
  } else if (m.type === 'profile-start') {
    inspector ??= new Session();
    inspector.connect();
    post('Profiler.enable')
      .then(() => post('Profiler.setSamplingInterval', { interval: 100 }))
      .then(() => post('Profiler.start'))
      .then(() => reply({ ok: true }), (e: Error) => reply({ ok: false, error: e.message }));
  } else if (m.type === 'profile-stop' && inspector && m.file) {
    post('Profiler.stop')
      .then((r) => { writeFileSync(m.file!, JSON.stringify((r as { profile: unknown }).profile)); inspector!.disconnect(); })
      .then(() => reply({ ok: true }), (e: Error) => reply({ ok: false, error: e.message }));
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
