/**
 * The audit log's cost. Two parts:
 *
 *   append     appends per second into each store (SQLite: WAL, synchronous=FULL) with group commit: C appenders in a closed loop (each awaits its
 *              append, which resolves only after its batch committed, then appends again); mean batch size and
 *              append latency. C = 1 shows what a commit costs without grouping. Target: ≥ 20,000/s on SQLite.
 *   hot path   the same gateway with audit on (SQLite file, content "hashes", fsync per commit) and off, side by
 *              side in interleaved rounds: one call at a time (latency) and many at a time (throughput); over HTTP
 *              also with audit.durability "process-crash" (commits written, not synced).
 *                in process   memory upstream, no socket: the stage's own cost with nothing else in the way
 *                HTTP         stateless 2026-07-28 tools/call over loopback to the raw echo upstream (a child process)
 *
 *   npx tsx bench/audit-append.ts [--seconds S] [--rounds N] [--no-postgres] [--no-http]
 *   PORTCULLIS_TEST_POSTGRES_URL=postgres://… for PostgreSQL (default postgres://postgres@127.0.0.1:5432/test)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { AuditLog } from '../src/audit/log.js';
import { fileKeyStore, memoryKeyStore } from '../src/audit/keys.js';
import { createSqliteAuditStore } from '../src/audit/sqlite.js';
import { createThreadedSqliteAuditStore } from '../src/audit/sqliteThread.js';
import { createPostgresAuditStore } from '../src/audit/postgres.js';
import type { AuditStore } from '../src/audit/store.js';
import type { AuditEvent } from '../src/audit/record.js';
import { parseConfig } from '../src/config/load.js';
import { Gateway, type GatewayOptions } from '../src/gateway.js';
import { createLogger } from '../src/core/log.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { NEVER } from '../src/core/cancel.js';
import { newContext } from '../src/transport/http/context.js';
import type { Principal } from '../src/pipeline/context.js';
import { memoryServer, memoryWires } from '../test/support/memoryUpstream.js';
import { spawn } from 'node:child_process';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { Recorder, closedPhase, workload } from './loadgen.js';

const { values: argv } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, rounds: { type: 'string', default: '6' }, 'no-postgres': { type: 'boolean', default: false }, 'no-http': { type: 'boolean', default: false } } });
const SECONDS = Number(argv.seconds);
const ROUNDS = Number(argv.rounds);
const PG_URL = process.env.PORTCULLIS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const silent = createLogger('silent');
const dir = mkdtempSync(join(tmpdir(), 'pc-bench-audit-'));
const percentile = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

/** A request record as the audit stage writes it (about 600 bytes of canonical JSON). */
let n = 0;
const event = (): AuditEvent => ({
  type: 'request', time: Date.now(), principal: 'alice@example.com', issuer: 'https://idp.example.com', client: 'claude-desktop',
  session: '4f7c1a9e-6b5d-4d0e-9a1f-2c3b4d5e6f70', endpoint: 'virtual:default', upstream: 'files', method: 'tools/call',
  requestId: ++n, era: 'legacy', transport: 'http', item: { kind: 'tool', name: 'read_file', action: 'call' },
  decision: { outcome: 'allow', rules: ['analysts-read', 'files-under-reports'] },
  arguments: { sha256: 'q1nQ2m7o0oXkqkOo3s4a0p5Jx8o5v2i1Yw9Zb3c6d7E' }, result: { sha256: 'Zb3c6d7Eq1nQ2m7o0oXkqkOo3s4a0p5Jx8o5v2i1Yw9' },
  outcome: 'ok', latencyMs: 1.23, detail: { clientInfo: { name: 'claude-ai', version: '0.1.0' } },
});

function counting(store: AuditStore): AuditStore & { batches: number } {
  const counter = Object.assign(Object.create(store) as AuditStore, { batches: 0 });
  counter.append = (events, rule) => { counter.batches++; return store.append(events, rule); };
  return counter as AuditStore & { batches: number };
}

async function appendRate(label: string, open: () => Promise<AuditStore>, concurrency: number): Promise<string> {
  const store = counting(await open());
  const log = new AuditLog({ store, keys: memoryKeyStore(), log: silent, checkpointRecords: 1000 });
  const latencies: number[] = [];
  let done = 0;
  const until = performance.now() + SECONDS * 1000;
  const worker = async () => {
    while (performance.now() < until) {
      const t0 = performance.now();
      await log.append(event());
      latencies.push(performance.now() - t0);
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  const batches = store.batches;
  await log.close();
  latencies.sort((a, b) => a - b);
  return `| ${label} | ${concurrency} | ${Math.round(done / seconds).toLocaleString('en')} | ${(done / batches).toFixed(1)} | ${percentile(latencies, 50).toFixed(2)} ms | ${percentile(latencies, 99).toFixed(2)} ms |`;
}

async function pgReachable(): Promise<boolean> {
  if (argv['no-postgres']) return false;
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

console.log(`node ${process.version}, ${process.platform}/${process.arch}; ${SECONDS} s per row\n`);
const rows = ['| store | appenders | appends/s | records per batch | p50 append | p99 append |', '| --- | ---: | ---: | ---: | ---: | ---: |'];
let file = 0;
const threaded = () => createThreadedSqliteAuditStore(join(dir, `audit-${++file}.db`));
const direct = () => Promise.resolve(createSqliteAuditStore(join(dir, `audit-${++file}.db`)));
for (const c of [1, 64, 1024]) rows.push(await appendRate('SQLite file, writer thread (what the gateway uses)', threaded, c));
rows.push(await appendRate('SQLite file, on the event loop', direct, 1024));
for (const c of [1024]) rows.push(await appendRate('memory (SQLite :memory:)', () => Promise.resolve(createSqliteAuditStore(':memory:')), c));
const schemas: string[] = [];
if (await pgReachable()) {
  const postgres = () => { const schema = `pc_bench_audit_${process.pid}_${schemas.length}`; schemas.push(schema); return createPostgresAuditStore({ connectionString: PG_URL, schema }); };
  for (const c of [1, 64, 1024]) rows.push(await appendRate('PostgreSQL (synchronous_commit on)', postgres, c));
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const s of schemas) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await client.end();
} else {
  console.log(`(PostgreSQL ${argv['no-postgres'] ? 'left out' : 'not reachable'}: skipped)\n`);
}
console.log(rows.join('\n'));

// ── hot path: audit on vs off ────────────────────────────────────────────────────────────────────────────────
const ECHO = { name: 'echo', description: 'Echoes its text', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } };
const yaml = (enabled: boolean) => `server: { port: 0, dataDir: ${JSON.stringify(dir)} }\nauth: { mode: none }\nstorage: { driver: memory }\nlogging: { level: silent }\naudit: { enabled: ${enabled} }
policy: { rules: [{ id: bench, effect: allow }] }\nupstreams:\n  echo: { transport: stdio, command: unused, integrity: { unapproved: warn } }\n`;
const make = async (enabled: boolean) => {
  const echo = memoryServer({ tools: [ECHO], call: (_n, args) => ({ content: [{ type: 'text', text: String(args.text) }] }) });
  const opts: GatewayOptions = { logger: silent, storage: createMemoryStorage(), createWire: memoryWires({ echo }) };
  if (enabled) opts.audit = new AuditLog({ store: await createThreadedSqliteAuditStore(join(dir, 'hot-path-audit.db')), keys: fileKeyStore(dir), log: silent });
  return Gateway.create(parseConfig(yaml(enabled), { source: 'bench' }), opts);
};
const on = await make(true);
const off = await make(false);
const principal = (await import('../src/pipeline/stages/authenticate.js')).LOCAL_PRINCIPAL as Principal;
let id = 0;
const once = async (gw: Gateway) => {
  const ep = gw.endpoints.find((e) => e.key === 'server:echo')!;
  const ctx = newContext(gw, {
    request: { jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello portcullis' } } }, endpoint: ep, era: 'legacy',
    protocolVersion: '2025-11-25', clientCapabilities: {}, clientInfo: { name: 'bench', version: '1' }, logLevel: undefined, session: undefined,
    transport: 'http', signal: NEVER, principal, channel: { notify: () => {} },
  });
  const t0 = performance.now();
  const r = await gw.run(ctx);
  if (!Array.isArray(r.content)) throw new Error(`unexpected result ${JSON.stringify(r)}`);
  return performance.now() - t0;
};
const serial = async (gw: Gateway, ms: number, into: number[]) => { const end = performance.now() + ms; while (performance.now() < end) into.push(await once(gw)); };
const parallel = async (gw: Gateway, ms: number) => {
  let calls = 0;
  const end = performance.now() + ms;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 64 }, async () => { while (performance.now() < end) { await once(gw); calls++; } }));
  return calls / ((performance.now() - t0) / 1000);
};
await serial(on, 1000, []);
await serial(off, 1000, []);
const lat = { on: [] as number[], off: [] as number[] };
const tput = { on: [] as number[], off: [] as number[] };
for (let r = 0; r < ROUNDS; r++) {
  const order: Array<['on' | 'off', Gateway]> = r % 2 === 0 ? [['on', on], ['off', off]] : [['off', off], ['on', on]];
  for (const [k, gw] of order) await serial(gw, 500, lat[k]);
  for (const [k, gw] of order) tput[k].push(await parallel(gw, 500));
}
await on.close();
await off.close();
lat.on.sort((a, b) => a - b);
lat.off.sort((a, b) => a - b);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
console.log(`\nhot path, in process (${ROUNDS} interleaved rounds):\n`);
console.log('| tools/call | audit on | audit off | on / off |\n| --- | ---: | ---: | ---: |');
console.log(`| one at a time, p50 | ${us(percentile(lat.on, 50))} | ${us(percentile(lat.off, 50))} | ${(percentile(lat.on, 50) / percentile(lat.off, 50)).toFixed(2)}× |`);
console.log(`| one at a time, p95 | ${us(percentile(lat.on, 95))} | ${us(percentile(lat.off, 95))} | ${(percentile(lat.on, 95) / percentile(lat.off, 95)).toFixed(2)}× |`);
console.log(`| 64 at a time, calls/s (median round) | ${Math.round(median(tput.on)).toLocaleString('en')} | ${Math.round(median(tput.off)).toLocaleString('en')} | ${(median(tput.on) / median(tput.off)).toFixed(2)}× |`);

if (!argv['no-http']) {
  const echo = spawn(process.execPath, ['--import', 'tsx', 'bench/targets/raw-mcp-echo.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const echoUrl = await new Promise<string>((resolve, reject) => {
    let out = '';
    echo.stdout!.on('data', (d: Buffer) => { out += d; const m = /READY (\S+)/.exec(out); if (m) resolve(m[1]!); });
    echo.once('exit', (code) => reject(new Error(`echo upstream exited ${code}`)));
  });
  // SQLite storage, so the audit log is what a default install writes: audit.db beside the database, its writer
  // thread. Three gateways side by side: audit on with each commit synced (the default), on with durability
  // "process-crash" (written, not synced), and off.
  const httpYaml = (audit: string, sub: string) => `server: { port: 0, dataDir: ${JSON.stringify(join(dir, sub))} }\nauth: { mode: none }\nlogging: { level: silent }\nsessions: { max: 100000 }
storage: { driver: sqlite }\naudit: ${audit}\npolicy: { rules: [{ id: bench, effect: allow }] }
upstreams:\n  echo: { transport: http, url: ${JSON.stringify(echoUrl)}, integrity: { unapproved: warn } }\n`;
  const variants: Array<{ label: string; gw: RunningGateway }> = [];
  for (const [label, audit, sub] of [['on (synced)', '{ enabled: true }', 'http-on'], ['on (process-crash)', '{ enabled: true, durability: process-crash }', 'http-unsynced'], ['off', '{ enabled: false }', 'http-off']] as const) {
    variants.push({ label, gw: await startGateway(parseConfig(httpYaml(audit, sub), { source: 'bench' }), { logger: silent }) });
  }
  const [synced, unsynced, off] = [0, 1, 2];
  const rows: string[] = [
    `| HTTP, modern tools/call | ${variants.map((v) => `audit ${v.label}`).join(' | ')} | synced / off | process-crash / off |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const concurrency of [1, 32]) {
    const loads = await Promise.all(variants.map((v) => workload('modern', `${v.gw.url}/servers/echo/mcp`, concurrency)));
    for (const w of loads) await closedPhase(w, { concurrency, durationMs: 1000 });
    const recs = variants.map(() => new Recorder());
    for (let round = 0; round < ROUNDS; round++) {
      // A different variant goes first in each round.
      const order = variants.map((_, i) => (i + round) % variants.length);
      for (const i of order) await closedPhase(loads[i]!, { concurrency, durationMs: 500 }, recs[i]!);
    }
    for (const w of loads) await w.close();
    const st = recs.map((r) => r.stats());
    const failed = st.find((x) => x.errors);
    if (failed) throw new Error(`errors: ${failed.firstError}`);
    const ratio = (pick: (x: (typeof st)[number]) => number, i: number) => `${(pick(st[i]!) / pick(st[off]!)).toFixed(2)}×`;
    const row = (label: string, pick: (x: (typeof st)[number]) => number, show: (v: number) => string) =>
      rows.push(`| ${label} | ${st.map((x) => show(pick(x))).join(' | ')} | ${ratio(pick, synced)} | ${ratio(pick, unsynced)} |`);
    if (concurrency === 1) {
      row('one at a time, p50', (x) => x.p50, us);
      row('one at a time, p90', (x) => x.p90, us);
    } else {
      row(`${concurrency} at a time, calls/s`, (x) => x.rps, (v) => Math.round(v).toLocaleString('en'));
      row(`${concurrency} at a time, p50`, (x) => x.p50, us);
    }
  }
  for (const v of variants) await v.gw.close();
  echo.kill('SIGTERM');
  console.log(`\nhot path over HTTP (${ROUNDS} interleaved rounds per row):\n`);
  console.log(rows.join('\n'));
}
rmSync(dir, { recursive: true, force: true });
process.exit();
