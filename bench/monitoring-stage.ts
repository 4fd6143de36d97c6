/**
 * What monitoring adds to the hot path: the same gateway with monitoring off, with metrics, with metrics and anomaly
 * detection (the default), and with tracing on top, side by side in interleaved rounds (A, B, C, D, then D, C, B, A,
 * …) so that machine noise falls on all alike.
 *
 *   off        monitoring: { metrics: { enabled: false }, anomalies: { enabled: false } }
 *   metrics    metrics only
 *   default    metrics and anomaly detection (rate baselines, denials, first use, hours configured)
 *   tracing    default + tracing (every request sampled, spans created and ended; no exporter, so export cost is out)
 *
 * Two measurements of the warm tools/call:
 *   pipeline  in process, no socket, an in-memory upstream: the stages' own cost
 *   http      over loopback HTTP (2025-11-25 session, one request at a time) to the raw echo upstream (a child
 *             process): the added latency a client sees (also pays the X-Request-Id header)
 *
 *   npx tsx bench/monitoring-stage.ts [--rounds N] [--per-round N] [--no-http]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/load.js';
import { Gateway, startGateway, type GatewayOptions, type RunningGateway } from '../src/gateway.js';
import { createLogger } from '../src/core/log.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { memoryServer, memoryWires } from '../test/support/memoryUpstream.js';
import { Recorder, closedPhase, workload } from './loadgen.js';
import { timedCall } from './inProcess.js';

const { values: argv } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, 'per-round': { type: 'string', default: '2000' }, 'no-http': { type: 'boolean', default: false } } });
const ROUNDS = Number(argv.rounds);
const PER_ROUND = Number(argv['per-round']);

const VARIANTS: Record<string, string> = {
  off: 'monitoring: { metrics: { enabled: false }, anomalies: { enabled: false } }',
  metrics: 'monitoring: { anomalies: { enabled: false } }',
  default: 'monitoring: { anomalies: { hours: { timezone: Europe/Paris, days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59" } } }',
  tracing: 'monitoring: { tracing: { enabled: true }, anomalies: { hours: { timezone: Europe/Paris, days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59" } } }',
};
const NAMES = Object.keys(VARIANTS);
const ECHO = { name: 'echo', description: 'Echoes its text', inputSchema: { type: 'object', properties: { text: { type: 'string', maxLength: 10000 } }, required: ['text'] }, annotations: { readOnlyHint: true } };
const POLICY = 'policy: { rules: [{ id: local-echo, effect: allow, principals: { methods: [local] }, tools: [raw/echo] }] }';

const percentile = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const fmt = (us: number) => (us >= 1000 ? `${(us / 1000).toFixed(3)} ms` : `${us.toFixed(1)} µs`);

/** Interleaved rounds: forward order on even rounds, backward on odd ones. */
async function interleave<T>(items: T[], round: (item: T, index: number) => Promise<void>): Promise<void> {
  for (let r = 0; r < ROUNDS; r++) {
    const order = items.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) await round(items[i]!, i);
  }
}

async function pipelineRows(): Promise<number[][]> {
  const make = (variant: string) => {
    const yaml = `server: { port: 0 }\nauth: { mode: none }\nstorage: { driver: memory }\nlogging: { level: silent }\naudit: { enabled: false }\n${POLICY}\n${variant}\nupstreams:\n  raw: { transport: stdio, command: unused, integrity: { unapproved: warn } }\n`;
    const echo = memoryServer({ tools: [ECHO], call: (_n, args) => ({ content: [{ type: 'text', text: String(args.text) }] }) });
    const opts: GatewayOptions = { logger: createLogger('silent'), storage: createMemoryStorage(), createWire: memoryWires({ raw: echo }) };
    return Gateway.create(parseConfig(yaml, { source: 'bench' }), opts);
  };
  const gws = await Promise.all(NAMES.map((n) => make(VARIANTS[n]!)));
  const once = (gw: Gateway) => timedCall(gw, 'raw', 'echo');
  for (let i = 0; i < 3000; i++) for (const gw of gws) await once(gw);
  const out: number[][] = gws.map(() => []);
  await interleave(gws, async (gw, i) => { for (let k = 0; k < PER_ROUND; k++) out[i]!.push(await once(gw)); });
  for (const gw of gws) await gw.close();
  return out.map((xs) => xs.sort((a, b) => a - b));
}

function startEcho(): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/targets/raw-mcp-echo.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /READY (\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`echo upstream exited ${code}`)));
  });
}

async function httpRows(): Promise<ReturnType<Recorder['stats']>[]> {
  const echo = await startEcho();
  const gws: RunningGateway[] = [];
  try {
    for (const n of NAMES) {
      const yaml = `server: { port: 0 }\nauth: { mode: none }\nstorage: { driver: memory }\nlogging: { level: silent }\naudit: { enabled: false }\nsessions: { max: 100000 }\n${POLICY}\n${VARIANTS[n]}\nupstreams:\n  raw: { transport: http, url: ${JSON.stringify(echo.url)}, protocol: legacy, integrity: { unapproved: warn } }\n`;
      gws.push(await startGateway(parseConfig(yaml, { source: 'bench' }), { logger: createLogger('silent') }));
    }
    const loads = await Promise.all(gws.map((g) => workload('warm', `${g.url}/servers/raw/mcp`, 1)));
    for (const w of loads) await closedPhase(w, { concurrency: 1, durationMs: 2000 });
    const recs = loads.map(() => new Recorder());
    await interleave(loads, async (w, i) => { await closedPhase(w, { concurrency: 1, durationMs: 500 }, recs[i]); });
    for (const w of loads) await w.close?.();
    return recs.map((r) => r.stats());
  } finally {
    for (const g of gws) await g.close();
    echo.child.kill('SIGTERM');
  }
}

console.log(`node ${process.version}, ${process.platform}/${process.arch}; ${ROUNDS} interleaved rounds; audit log off in every variant (its own cost is not the subject)`);
const p = await pipelineRows();
const rows = ['| variant | pipeline p50 | added p50 | pipeline p95 |' + (argv['no-http'] ? '' : ' HTTP p50 | added p50 | HTTP p90 |'), '| --- | ---: | ---: | ---: |' + (argv['no-http'] ? '' : ' ---: | ---: | ---: |')];
const h = argv['no-http'] ? undefined : await httpRows();
NAMES.forEach((n, i) => {
  const base = percentile(p[0]!, 50);
  let row = `| ${n} | ${fmt(percentile(p[i]!, 50))} | ${i === 0 ? '' : fmt(percentile(p[i]!, 50) - base)} | ${fmt(percentile(p[i]!, 95))} |`;
  if (h) row += ` ${fmt(h[i]!.p50 * 1000)} | ${i === 0 ? '' : fmt((h[i]!.p50 - h[0]!.p50) * 1000)} | ${fmt(h[i]!.p90 * 1000)} |`;
  rows.push(row);
});
console.log(rows.join('\n'));
process.exit();
