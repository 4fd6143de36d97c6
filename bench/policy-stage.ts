/**
 * What the least-privilege stages add to the hot path: the same gateway with and without them, side by side,
 * in interleaved rounds (A, B, A, B, …) so that machine noise falls on both alike. Budget: at most 0.2 ms added at p50.
 *
 *   with      audit → authenticate → route → policy → validate → approval → limits → results → upstream
 *   without   audit → authenticate → route → upstream   (what the gateway was before)
 *
 * Two measurements of the warm tools/call:
 *   pipeline  in process, no socket, an in-memory upstream: the stages' own cost, with nothing else in the way
 *   http      over loopback HTTP (2025-11-25 session, one request at a time) to the raw echo upstream (a child
 *             process): the added latency a client sees
 *
 * Two policies:
 *   large      the 1,000-rule policy of bench/policy.ts (50 servers × 19 rules, 50 rules on every server); the echo
 *              upstream is one of the 50 servers, the caller (the local principal) has one grant with an argument
 *              constraint and a CEL condition. What the issue's budget is about.
 *   crowded    300 rules all on the called server (100 role rules on its tools, 200 on every server): the case the
 *              index cannot narrow, every decision looks at every rule.
 * Either way the tool's inputSchema is validated on every call and the result measured against limits.maxResultBytes.
 *
 *   npx tsx bench/policy-stage.ts [--policy large|crowded] [--rounds N] [--per-round N] [--no-http]
 *   (exit code 1 when the large policy is over budget)
 *   BENCH_DROP=policy,validate …   leave out only these stages in "without" (BENCH_DROP=none: an A/A run, the noise floor)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/load.js';
import { Gateway, startGateway, type GatewayOptions, type RunningGateway } from '../src/gateway.js';
import { createLogger } from '../src/core/log.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import type { NamedStage } from '../src/pipeline/pipeline.js';
import { memoryServer, memoryWires } from '../test/support/memoryUpstream.js';
import { Recorder, closedPhase, workload } from './loadgen.js';
import { largePolicy, SERVERS } from './policyRules.js';
import { timedCall } from './inProcess.js';

const { values: argv } = parseArgs({ options: { policy: { type: 'string', default: 'large' }, rounds: { type: 'string', default: '20' }, 'per-round': { type: 'string', default: '2000' }, 'no-http': { type: 'boolean', default: false } } });
const LARGE = argv.policy !== 'crowded';
/** The echo upstream's name: one of the large policy's servers, so it carries its share of the rules. */
const ECHO_SERVER = LARGE ? 'srv0' : 'raw';
/** The other servers the large policy names: configured (they must exist), never called. */
const OTHERS = LARGE ? SERVERS.filter((s) => s !== ECHO_SERVER) : [];
const ROUNDS = Number(argv.rounds);
const PER_ROUND = Number(argv['per-round']);
const BUDGET_US = 200;

const ENFORCEMENT = new Set(process.env.BENCH_DROP ? process.env.BENCH_DROP.split(',') : ['policy', 'validate', 'approval', 'limits', 'results']);
const without: GatewayOptions['pipeline'] = (stages: readonly NamedStage[]) => stages.filter((s) => !ENFORCEMENT.has(s.name));

const ECHO = { name: 'echo', description: 'Echoes its text', inputSchema: { type: 'object', properties: { text: { type: 'string', maxLength: 10000 } }, required: ['text'] }, annotations: { readOnlyHint: true } };

function policyYaml(): string {
  if (LARGE) {
    const own = { id: 'local-echo', effect: 'allow', principals: { methods: ['local'] }, tools: [`${ECHO_SERVER}/echo`], args: { text: { type: 'string', maxLength: 5000 } }, when: "context.era != '' && size(args.text) < 5000" };
    return `policy: ${JSON.stringify({ rules: [own, ...largePolicy()] })}\n`;
  }
  const rules: string[] = [];
  // The caller's own grant (the local principal, as with auth.mode none), with an argument constraint and CEL.
  rules.push(`    - { id: local-echo, effect: allow, principals: { methods: [local] }, tools: [raw/echo], args: { text: { type: string, maxLength: 5000 } }, when: "context.era != '' && size(args.text) < 5000" }`);
  for (let i = 0; i < 100; i++) {
    const role = `role${i % 40}`;
    if (i % 3 === 0) rules.push(`    - { id: raw-${i}, effect: allow, principals: { roles: [${role}] }, tools: ["raw/*"], args: { text: { pattern: "[a-z ]{0,200}" } } }`);
    else if (i % 3 === 1) rules.push(`    - { id: raw-${i}, effect: deny, principals: { roles: [${role}] }, tools: ["raw/echo"], when: "args.text.contains('secret')" }`);
    else rules.push(`    - { id: raw-${i}, effect: approval, principals: { groups: [g${i}] }, destructive: true }`);
  }
  for (let i = 0; i < 200; i++) {
    const verb = ['read', 'write', 'delete', 'list'][i % 4];
    if (i % 4 === 0) rules.push(`    - { id: g-${i}, effect: deny, tools: ["*/${verb}_secret_*"] }`);
    else if (i % 4 === 1) rules.push(`    - { id: g-${i}, effect: allow, principals: { roles: [r${i}] }, tools: ["*/${verb}_*"], when: "principal.attributes.level >= 2" }`);
    else if (i % 4 === 2) rules.push(`    - { id: g-${i}, effect: approval, principals: { roles: [r${i}] }, destructive: true }`);
    else rules.push(`    - { id: g-${i}, effect: deny, principals: { groups: [blocked${i}] } }`);
  }
  return `policy:\n  rules:\n${rules.join('\n')}\n`;
}

const percentile = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const fmt = (us: number) => (us >= 1000 ? `${(us / 1000).toFixed(3)} ms` : `${us.toFixed(1)} µs`);

async function pipelineRows(): Promise<{ a: number[]; b: number[] }> {
  const upstreams = [ECHO_SERVER, ...OTHERS].map((n) => `  ${n}: { transport: stdio, command: unused, integrity: { unapproved: warn } }`).join('\n');
  const yaml = `server: { port: 0 }\nauth: { mode: none }\nstorage: { driver: memory }\nlogging: { level: silent }\nupstreams:\n${upstreams}\n${policyYaml()}`;
  const make = (pipeline?: GatewayOptions['pipeline']) => {
    const echo = memoryServer({ tools: [ECHO], call: (_n, args) => ({ content: [{ type: 'text', text: String(args.text) }] }) });
    const servers = Object.fromEntries([[ECHO_SERVER, echo], ...OTHERS.map((n) => [n, memoryServer({ tools: [] })])]);
    const opts: GatewayOptions = { logger: createLogger('silent'), storage: createMemoryStorage(), createWire: memoryWires(servers) };
    if (pipeline) opts.pipeline = pipeline;
    return Gateway.create(parseConfig(yaml, { source: 'bench' }), opts);
  };
  const A = await make();
  const B = await make(without);
  const once = (gw: Gateway) => timedCall(gw, ECHO_SERVER, 'echo');
  for (let i = 0; i < 3000; i++) { await once(A); await once(B); }
  const a: number[] = [];
  const b: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [gw, into] of (round % 2 === 0 ? [[A, a], [B, b]] : [[B, b], [A, a]]) as Array<[Gateway, number[]]>) {
      for (let i = 0; i < PER_ROUND; i++) into.push(await once(gw));
    }
  }
  await A.close();
  await B.close();
  return { a: a.sort((x, y) => x - y), b: b.sort((x, y) => x - y) };
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

async function httpRows(): Promise<{ a: ReturnType<Recorder['stats']>; b: ReturnType<Recorder['stats']> }> {
  const echo = await startEcho();
  // The other servers are configured (the policy names them) but point nowhere: they are never called.
  const others = OTHERS.map((n) => `  ${n}: { transport: http, url: "http://127.0.0.1:9/mcp", protocol: legacy, integrity: { unapproved: warn } }`).join('\n');
  const yaml = `server: { port: 0 }\nauth: { mode: none }\nstorage: { driver: memory }\nlogging: { level: silent }\nsessions: { max: 100000 }\nupstreams:\n  ${ECHO_SERVER}: { transport: http, url: ${JSON.stringify(echo.url)}, protocol: legacy, integrity: { unapproved: warn } }\n${others}\n${policyYaml()}`;
  const start = (pipeline?: GatewayOptions['pipeline']): Promise<RunningGateway> => {
    const opts: GatewayOptions = { logger: createLogger('silent') };
    if (pipeline) opts.pipeline = pipeline;
    return startGateway(parseConfig(yaml, { source: 'bench' }), opts);
  };
  const A = await start();
  const B = await start(without);
  try {
    const wa = await workload('warm', `${A.url}/servers/${ECHO_SERVER}/mcp`, 1);
    const wb = await workload('warm', `${B.url}/servers/${ECHO_SERVER}/mcp`, 1);
    await closedPhase(wa, { concurrency: 1, durationMs: 2000 });
    await closedPhase(wb, { concurrency: 1, durationMs: 2000 });
    const ra = new Recorder();
    const rb = new Recorder();
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? [[wa, ra], [wb, rb]] as const : [[wb, rb], [wa, ra]] as const;
      for (const [w, rec] of order) await closedPhase(w, { concurrency: 1, durationMs: 500 }, rec);
    }
    await wa.close?.();
    await wb.close?.();
    return { a: ra.stats(), b: rb.stats() };
  } finally {
    await A.close();
    await B.close();
    echo.child.kill('SIGTERM');
  }
}

console.log(`node ${process.version}, ${process.platform}/${process.arch}; policy: ${LARGE ? 'large (1,001 rules over 50 servers)' : 'crowded (301 rules on the called server)'}; ${ROUNDS} interleaved rounds`);
const p = await pipelineRows();
const rows: string[] = ['| path | with the stages p50 | without p50 | added p50 | with p95 | without p95 |', '| --- | ---: | ---: | ---: | ---: | ---: |'];
const addedPipeline = percentile(p.a, 50) - percentile(p.b, 50);
rows.push(`| pipeline, in process (${p.a.length} calls each) | ${fmt(percentile(p.a, 50))} | ${fmt(percentile(p.b, 50))} | ${fmt(addedPipeline)} | ${fmt(percentile(p.a, 95))} | ${fmt(percentile(p.b, 95))} |`);
let addedHttp: number | undefined;
if (!argv['no-http']) {
  const h = await httpRows();
  addedHttp = (h.a.p50 - h.b.p50) * 1000;
  rows.push(`| HTTP, warm 2025-11-25 session (${h.a.ok} / ${h.b.ok} calls) | ${fmt(h.a.p50 * 1000)} | ${fmt(h.b.p50 * 1000)} | ${fmt(addedHttp)} | ${fmt(h.a.p90 * 1000)} (p90) | ${fmt(h.b.p90 * 1000)} (p90) |`);
}
console.log(rows.join('\n'));
const worst = Math.max(addedPipeline, addedHttp ?? -Infinity);
console.log(`\nadded at p50: ${fmt(worst)} (budget ${fmt(BUDGET_US)}): ${worst <= BUDGET_US ? 'ok' : 'OVER'}`);
if (worst > BUDGET_US && LARGE) process.exitCode = 1;
process.exit();
