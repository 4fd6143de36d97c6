/**
 * What the guardrails stage adds to a tools/call, in process (no socket, an in-memory upstream), with and without
 * the stage, side by side in interleaved rounds so machine noise falls on both alike. Default configuration:
 * secrets and payment cards redacted in results, secrets refused in arguments, injection flagged, taint tracking on
 * (every call here is to a sink, so each one looks its session's marks up in the memory store).
 *
 * Results: a short echo, and a typical 10 KB markdown result (the budget of the content scan is 0.3 ms p50).
 *
 *   npx tsx bench/guardrails-stage.ts [--rounds N] [--per-round N]
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/load.js';
import { Gateway, type GatewayOptions } from '../src/gateway.js';
import { createLogger } from '../src/core/log.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import type { NamedStage } from '../src/pipeline/pipeline.js';
import { memoryServer, memoryWires } from '../test/support/memoryUpstream.js';
import { timedCall } from './inProcess.js';

const { values: argv } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, 'per-round': { type: 'string', default: '1000' } } });
const ROUNDS = Number(argv.rounds);
const PER_ROUND = Number(argv['per-round']);

const require = createRequire(import.meta.url);
const docs = join(dirname(require.resolve('@modelcontextprotocol/server-everything/package.json')), 'dist', 'docs');
let markdown = '';
while (markdown.length < 10 * 1024) markdown += readFileSync(join(docs, 'architecture.md'), 'utf8') + readFileSync(join(docs, 'features.md'), 'utf8');
markdown = markdown.slice(0, 10 * 1024);

const TOOLS = [
  { name: 'echo', inputSchema: { type: 'object', properties: { text: { type: 'string' } } } },
  { name: 'doc', inputSchema: { type: 'object', properties: { text: { type: 'string' } } } },
];
const without: GatewayOptions['pipeline'] = (stages: readonly NamedStage[]) => stages.filter((s) => s.name !== 'guardrails');

async function make(pipeline?: GatewayOptions['pipeline']): Promise<Gateway> {
  const yaml = 'server: { port: 0 }\nauth: { mode: none }\nstorage: { driver: memory }\nlogging: { level: silent }\npolicy: { rules: [{ id: all, effect: allow }] }\nupstreams:\n  up: { transport: stdio, command: unused, integrity: { unapproved: warn } }\n';
  const up = memoryServer({ tools: TOOLS, call: (name, args) => ({ content: [{ type: 'text', text: name === 'doc' ? markdown : String(args.text) }] }) });
  const opts: GatewayOptions = { logger: createLogger('silent'), storage: createMemoryStorage(), createWire: memoryWires({ up }) };
  if (pipeline) opts.pipeline = pipeline;
  return Gateway.create(parseConfig(yaml, { source: 'bench' }), opts);
}

const percentile = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const fmt = (us: number) => (us >= 1000 ? `${(us / 1000).toFixed(3)} ms` : `${us.toFixed(1)} µs`);

const A = await make();
const B = await make(without);
const once = (gw: Gateway, tool: string) => timedCall(gw, 'up', tool);

console.log(`node ${process.version}, ${process.platform}/${process.arch}; ${ROUNDS} interleaved rounds of ${PER_ROUND} calls`);
const rows = ['| result | with guardrails p50 | without p50 | added p50 | with p95 | without p95 |', '| --- | ---: | ---: | ---: | ---: | ---: |'];
for (const [tool, label] of [['echo', 'short echo'], ['doc', '10 KB markdown']] as const) {
  for (let i = 0; i < 2000; i++) { await once(A, tool); await once(B, tool); }
  const a: number[] = [];
  const b: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [gw, into] of (round % 2 === 0 ? [[A, a], [B, b]] : [[B, b], [A, a]]) as Array<[Gateway, number[]]>) {
      for (let i = 0; i < PER_ROUND; i++) into.push(await once(gw, tool));
    }
  }
  a.sort((x, y) => x - y);
  b.sort((x, y) => x - y);
  rows.push(`| ${label} (${a.length} calls each) | ${fmt(percentile(a, 50))} | ${fmt(percentile(b, 50))} | ${fmt(percentile(a, 50) - percentile(b, 50))} | ${fmt(percentile(a, 95))} | ${fmt(percentile(b, 95))} |`);
}
console.log(rows.join('\n'));
await A.close();
await B.close();
process.exit();
