/**
 * Portcullis benchmark: one run, one load generator, every target side by side. Loopback only, bounded in time.
 *
 *   npm run bench                     full run (≈ 3.5 min; + 65 s when the heap grew during the memory check)
 *   npm run bench -- --quick          smoke run (≈ 40 s; short rounds, 10k calls: figures are indicative only)
 *   npm run bench -- --profile        also write V8 CPU profiles of the gateway (first round of each gateway row)
 *   npm run bench -- --only 'raw.*warm|memory'    only the rows whose id matches ("memory": the memory checks)
 *
 * Other options: --rounds N, --duration S (per round), --warmup S (minimum), --concurrency N, --cycle-concurrency N,
 * --storage memory|sqlite, --calls N, --idle-sessions N, --settle auto|yes|no, --no-mcp-proxy, --tsx,
 * --upstream-cpu N, --front-cpu N, --loadgen-cpu N (diagnostic: the issue's setup shares the front core), --out DIR.
 *
 * Targets run as plain JavaScript compiled by tsc into bench/results/build (as `portcullis serve` runs the gateway
 * from dist/), unless --tsx. Pinning (taskset): every upstream runs alone on --upstream-cpu (default 0); the gateway or
 * mcp-proxy and this process (the load generator) share --front-cpu (default 1).
 *
 * Targets: a bare node:http JSON echo (the ceiling C), a raw JSON-RPC MCP echo (faster than the gateway), an SDK v2
 * McpServer (Streamable HTTP, sessionful; also spawned over stdio), the gateway in front of each, mcp-proxy (npm; it
 * fronts stdio servers only) in front of the same SDK server over stdio, and, for reference, a bare node:http + undici
 * pass-through proxy in front of the raw echo (the floor of any Node.js gateway).
 *
 * Rows that are compared with each other form a group and are measured in interleaved rounds (A B C, C B A, A B C…),
 * so slow drift on a noisy machine hits each of them alike; each row's figures aggregate all its rounds.
 *
 * Writes bench/results/latest.json and bench/results/latest.md (the tables pasted into docs/benchmarks.md).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { closedPhase, openPhase, openSession, Client, Recorder, workload, type RunStats, type Workload, type WorkloadKind } from './loadgen.js';
import { cpuDelta, cpuSnapshot, freePort, HAVE_TASKSET, pinned, pinSelf, ProcessSet, type CpuUse, type Target } from './procs.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const require = createRequire(import.meta.url);

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    concurrency: { type: 'string', default: '32' },
    'cycle-concurrency': { type: 'string', default: '8' },
    'upstream-cpu': { type: 'string', default: '0' },
    'front-cpu': { type: 'string', default: '1' },
    'loadgen-cpu': { type: 'string' },
    storage: { type: 'string', default: 'memory' },
    calls: { type: 'string' },
    'idle-sessions': { type: 'string' },
    settle: { type: 'string' },
    profile: { type: 'boolean', default: false },
    'no-mcp-proxy': { type: 'boolean', default: false },
    tsx: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string', default: join(HERE, 'results') },
  },
  strict: true,
});

const QUICK = argv.quick;
const ROUNDS = Number(argv.rounds ?? (QUICK ? 1 : 4));
/** Per round. */
const DURATION_MS = 1000 * Number(argv.duration ?? (QUICK ? 0.4 : 1));
/** Warm-up per row: at least this long, then in 0.5 s steps until throughput stops rising (JIT), at most WARMUP_MAX_MS. */
const WARMUP_MS = 1000 * Number(argv.warmup ?? (QUICK ? 0.4 : 1.5));
const WARMUP_MAX_MS = Math.max(WARMUP_MS, QUICK ? 0 : 4500);
const CONC = Number(argv.concurrency);
const CYCLE_CONC = Number(argv['cycle-concurrency']);
const UP = Number(argv['upstream-cpu']);
const FRONT = Number(argv['front-cpu']);
/** Diagnostic only: the issue's setup shares the front core between the gateway and the load generator. */
const LOADGEN_CPU = Number(argv['loadgen-cpu'] ?? FRONT);
const CALLS = Number(argv.calls ?? (QUICK ? 10_000 : 100_000));
const IDLE_N = Number(argv['idle-sessions'] ?? (QUICK ? 100 : 1000));
/** "auto": after the calls, wait 65 s and measure again only if the heap grew beyond the target. */
const SETTLE = (argv.settle ?? (QUICK ? 'no' : 'auto')) as 'auto' | 'yes' | 'no';
const STORAGE = argv.storage;
if (STORAGE !== 'memory' && STORAGE !== 'sqlite') throw new Error('--storage is memory or sqlite');
if (!['auto', 'yes', 'no'].includes(SETTLE)) throw new Error('--settle is auto, yes or no');
const OUT = argv.out;
/** Runs only the rows whose id matches (and the memory checks only if "memory" matches). */
const ONLY = argv.only ? new RegExp(argv.only, 'i') : undefined;
const GROWTH_TARGET_MB = 4;

const NODE = process.execPath;
/** Inside the repository whatever --out says: compiled targets resolve their packages from its node_modules. */
const BUILD = join(HERE, 'results', 'build');
/** Node arguments that run a target: compiled JS, or the TypeScript source through tsx. */
const script = (name: string): string[] => argv.tsx
  ? ['--import', 'tsx', join(HERE, 'targets', `${name}.ts`)]
  : [join(BUILD, 'bench', 'targets', `${name}.js`)];

// ── what the report holds ──────────────────────────────────────────────────────────────────────────────────

type Upstream = 'ceiling' | 'raw' | 'sdk';
type Via = 'bare' | 'direct' | 'bare proxy' | 'gateway' | 'gateway (stdio)' | 'mcp-proxy (stdio)';

interface Row {
  id: string;
  upstream: Upstream;
  via: Via;
  kind: WorkloadKind;
  url: string;
  mode: { closed: number } | { rate: number };
}

interface ScenarioResult {
  id: string;
  upstream: Upstream;
  via: Via;
  kind: WorkloadKind;
  mode: 'closed' | 'open';
  concurrency?: number;
  /** Unrecorded warm-up actually run (adaptive, see warmUp). */
  warmupMs: number;
  rounds: number;
  /** Throughput of each round, to show the spread. */
  roundRps: number[];
  stats: RunStats;
  cpu: CpuUse;
}

interface MemoryResult {
  calls: number;
  callsPerSecond: number;
  heapMB: { warm: number; mid: number; end: number; settled?: number };
  growthMB: number;
  bytesPerCallSecondHalf: number;
  settledGrowthMB?: number;
  idleSessions: number;
  idleBytesPerSession: number;
  idleHeapMB: { before: number; after: number };
  rssMB: { before: number; after: number };
}

// ── processes ──────────────────────────────────────────────────────────────────────────────────────────────

const names = new Map<number, string>();
const results: ScenarioResult[] = [];
const tmp = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
const t0 = performance.now();
let current = new ProcessSet();

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function build(): void {
  if (argv.tsx) return;
  const tsc = join(dirname(require.resolve('typescript/package.json')), 'bin', 'tsc');
  rmSync(BUILD, { recursive: true, force: true });
  // Emits even when some unrelated file has a type error (noEmitOnError is off); the targets must exist after.
  const r = spawnSync(NODE, [tsc, '-p', join(ROOT, 'tsconfig.json'), '--outDir', BUILD, '--sourceMap', 'false'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) log(`note: tsc reported problems (emitted anyway):\n${(r.stdout + r.stderr).split('\n').slice(0, 10).join('\n')}`);
  for (const t of ['echo-http', 'raw-mcp-echo', 'sdk-server', 'gateway', 'bare-proxy']) {
    try { readFileSync(join(BUILD, 'bench', 'targets', `${t}.js`)); } catch { throw new Error(`build did not produce ${t}.js (try --tsx)`); }
  }
}

async function startTarget(name: string, cpu: number, nodeArgs: string[], opts: { ipc?: boolean } = {}): Promise<Target> {
  const [cmd, args] = pinned(cpu, NODE, nodeArgs);
  const t = await current.start(name, cmd, args, { cwd: ROOT, ipc: opts.ipc });
  names.set(t.pid, name);
  return t;
}

/** The gateway's configuration: each upstream twice where both eras are measured (legacy and modern upstream side). */
function gatewayYaml(raw: string, sdk: string | undefined, dataDir: string): string {
  const stdio = HAVE_TASKSET ? { command: 'taskset', args: ['-c', String(UP), NODE, ...script('sdk-server'), '--stdio'] } : { command: NODE, args: [...script('sdk-server'), '--stdio'] };
  return [
    `server: { host: 127.0.0.1, port: 0, dataDir: ${JSON.stringify(dataDir)} }`,
    STORAGE === 'memory' ? 'storage: { driver: memory }' : 'storage: { driver: sqlite }',
    'sessions: { max: 100000, idleTimeoutSeconds: 3600 }',
    'logging: { level: silent }',
    // The main bench measures the MCP path; bench/auth.ts measures what authentication adds.
    'auth: { mode: none }',
    // Everything allowed: the policy stage still decides every call (bench/policy-stage.ts measures what it adds).
    'policy: { rules: [{ id: bench-allow-all, effect: allow }] }',
    // The stdio upstream is pinned to its CPU through taskset, which the sandbox must be told it may run.
    'sandbox: { allowedCommands: [node, taskset] }',
    'upstreams:',
    `  raw: { transport: http, url: ${JSON.stringify(raw)}, protocol: legacy, integrity: { unapproved: warn } }`,
    `  raw-modern: { transport: http, url: ${JSON.stringify(raw)}, protocol: modern }`,
    ...(sdk === undefined ? [] : [
      `  sdk: { transport: http, url: ${JSON.stringify(sdk)}, protocol: legacy, integrity: { unapproved: warn } }`,
      `  sdk-modern: { transport: http, url: ${JSON.stringify(sdk)}, protocol: modern }`,
      `  sdk-stdio: { transport: stdio, command: ${JSON.stringify(stdio.command)}, args: ${JSON.stringify(stdio.args)}, cwd: ${JSON.stringify(ROOT)}, protocol: legacy, integrity: { unapproved: warn } }`,
    ]),
    '',
  ].join('\n');
}

function startGatewayProc(name: string, yamlPath: string): Promise<Target> {
  return startTarget(name, FRONT, ['--expose-gc', ...script('gateway'), yamlPath], { ipc: true });
}

async function startMcpProxy(): Promise<Target> {
  const pj = require.resolve('mcp-proxy/package.json');
  const meta = require(pj) as { bin: Record<string, string> };
  const bin = join(dirname(pj), meta.bin['mcp-proxy']!);
  const port = await freePort();
  const child = HAVE_TASKSET ? ['taskset', '-c', String(UP), NODE] : [NODE];
  // mcp-proxy's defaults otherwise (sessionful 2025-era leg, event store on), bound to loopback, /mcp only.
  const [cmd, args] = pinned(FRONT, NODE, [bin, '--host', '127.0.0.1', '--port', String(port), '--server', 'stream', '--', ...child, ...script('sdk-server'), '--stdio']);
  const t = await current.start('mcp-proxy', cmd, args, { cwd: ROOT, ready: false });
  names.set(t.pid, 'mcp-proxy');
  const url = `http://127.0.0.1:${port}/mcp`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const c = new Client(url, 1);
    try {
      await c.delete(await openSession(c));
      break;
    } catch (e) {
      if (Date.now() > deadline || t.proc.exitCode !== null) throw new Error(`mcp-proxy not ready: ${(e as Error).message}; stderr: ${t.stderrTail()}`);
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await c.close();
    }
  }
  t.url = url;
  return t;
}

let ipcSeq = 0;
interface IpcReply { type?: string; seq?: number; gc?: boolean; memory?: NodeJS.MemoryUsage; ok?: boolean; error?: string }
/** One request/answer over the gateway child's IPC channel (see targets/gateway.ts). */
function ask(t: Target, message: { type: string; file?: string }): Promise<IpcReply> {
  const seq = ++ipcSeq;
  return new Promise((resolve, reject) => {
    const on = (m: IpcReply) => {
      if (m.type !== message.type || m.seq !== seq) return;
      clearTimeout(timer);
      t.proc.off('message', on);
      resolve(m);
    };
    const timer = setTimeout(() => { t.proc.off('message', on); reject(new Error(`${message.type}: no answer`)); }, 30_000);
    t.proc.on('message', on);
    t.proc.send({ ...message, seq });
  });
}

async function heap(t: Target): Promise<NodeJS.MemoryUsage> {
  const m = await ask(t, { type: 'heap' });
  if (!m.gc) throw new Error('the gateway was not started with --expose-gc');
  return m.memory!;
}

/** --profile: the gateway's CPU profile of each gateway row's first measured round. */
let profiled: { gw: Target; dir: string } | undefined;
const profiles: string[] = [];

// ── measuring ──────────────────────────────────────────────────────────────────────────────────────────────

function fmt(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '—';
}

/** CPU µs per operation of the upstream and of the proxy in front of it (gateway, mcp-proxy, bare proxy), from /proc. */
function cpuPerOp(r: Pick<ScenarioResult, 'upstream' | 'via' | 'cpu' | 'stats'>): { upstream?: number; proxy?: number } {
  const per = (pct: number | undefined) => (pct === undefined || !(r.stats.rps > 0) ? undefined : Math.round((pct * 1e4) / r.stats.rps));
  const front = r.via.startsWith('gateway') ? 'gateway' : r.via.startsWith('mcp-proxy') ? 'mcp-proxy' : r.via === 'bare proxy' ? 'bare-proxy' : undefined;
  const stdio = r.via.endsWith('(stdio)');
  const upName = stdio ? front! : r.upstream === 'ceiling' ? 'echo-http' : r.upstream === 'raw' ? 'raw-mcp-echo' : 'sdk-server';
  return {
    upstream: per(r.cpu.groups[upName]?.[`cpu${UP}`]),
    ...(front ? { proxy: per(r.cpu.groups[front]?.[`cpu${FRONT}`]) } : {}),
  };
}

function averageCpu(list: CpuUse[]): CpuUse {
  const avg = (xs: number[]) => Math.round((xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)) * 10) / 10;
  const cores: Record<string, number> = {};
  for (const k of new Set(list.flatMap((c) => Object.keys(c.cores)))) cores[k] = avg(list.map((c) => c.cores[k] ?? 0));
  const groups: Record<string, Record<string, number>> = {};
  for (const g of new Set(list.flatMap((c) => Object.keys(c.groups)))) {
    const per: Record<string, number> = {};
    for (const k of new Set(list.flatMap((c) => Object.keys(c.groups[g] ?? {})))) per[k] = avg(list.map((c) => c.groups[g]?.[k] ?? 0));
    groups[g] = per;
  }
  return { cores, loadgen: avg(list.map((c) => c.loadgen)), groups };
}

/**
 * Unrecorded load until the target is warm: at least WARMUP_MS, in 0.5 s steps, until two steps in a row are no
 * faster than 1.05 × the best before them (the JIT has done its work; on a slow machine a fresh gateway needs
 * several seconds), capped at WARMUP_MAX_MS. Open-loop rows (fixed rate) just run WARMUP_MS. Returns the time spent.
 */
async function warmUp(w: Workload, mode: Row['mode']): Promise<number> {
  const start = performance.now();
  if (!('closed' in mode)) {
    await phase(w, mode, WARMUP_MS);
    return performance.now() - start;
  }
  let best = 0;
  let flat = 0;
  for (;;) {
    const rec = new Recorder();
    await phase(w, mode, 500, rec);
    const rps = rec.n / (rec.elapsedMs / 1000);
    flat = rps <= best * 1.05 ? flat + 1 : 0;
    best = Math.max(best, rps);
    const spent = performance.now() - start;
    if (spent >= WARMUP_MAX_MS || (spent >= WARMUP_MS && flat >= 2)) return spent;
  }
}

async function phase(w: Workload, mode: Row['mode'], durationMs: number, rec?: Recorder): Promise<void> {
  if ('closed' in mode) await closedPhase(w, { concurrency: mode.closed, durationMs }, rec);
  else await openPhase(w, { rate: mode.rate, durationMs, maxInflight: 1024 }, rec);
}

/** Measures rows that are compared with each other in interleaved rounds; each row aggregates its rounds. */
async function measureGroup(all: Row[]): Promise<void> {
  const rows = all.filter((r) => !ONLY || ONLY.test(r.id));
  if (!rows.length) return;
  const work = new Map<Row, Workload>();
  try {
    for (const r of rows) work.set(r, await workload(r.kind, r.url, 'closed' in r.mode ? r.mode.closed : 64));
    const warmedMs = new Map<Row, number>();
    for (const r of rows) warmedMs.set(r, await warmUp(work.get(r)!, r.mode));
    const recs = new Map(rows.map((r) => [r, new Recorder()]));
    const cpu = new Map(rows.map((r) => [r, [] as CpuUse[]]));
    const roundRps = new Map(rows.map((r) => [r, [] as number[]]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const r of round % 2 === 0 ? rows : [...rows].reverse()) {
        const rec = recs.get(r)!;
        const before = { n: rec.n, ms: rec.elapsedMs };
        const prof = profiled && round === 0 && r.via.startsWith('gateway') ? profiled : undefined;
        if (prof) await ask(prof.gw, { type: 'profile-start' });
        const a = cpuSnapshot([...names.keys()]);
        await phase(work.get(r)!, r.mode, DURATION_MS, rec);
        cpu.get(r)!.push(cpuDelta(a, cpuSnapshot([...names.keys()]), names));
        roundRps.get(r)!.push(Math.round((rec.n - before.n) / ((rec.elapsedMs - before.ms) / 1000)));
        if (prof) {
          const file = join(prof.dir, `${r.id.replace(/[^a-z0-9]+/gi, '-').replace(/-$/, '')}.cpuprofile`);
          if ((await ask(prof.gw, { type: 'profile-stop', file })).ok) profiles.push(file);
        }
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    for (const r of rows) {
      const stats = recs.get(r)!.stats('rate' in r.mode ? r.mode.rate : undefined);
      const c = averageCpu(cpu.get(r)!);
      results.push({
        id: r.id, upstream: r.upstream, via: r.via, kind: r.kind, mode: 'closed' in r.mode ? 'closed' : 'open',
        ...('closed' in r.mode ? { concurrency: r.mode.closed } : {}), warmupMs: Math.round(warmedMs.get(r)!), rounds: ROUNDS, roundRps: roundRps.get(r)!, stats, cpu: c,
      });
      const us = cpuPerOp({ upstream: r.upstream, via: r.via, cpu: c, stats });
      log(`${r.id.padEnd(32)} ${fmt(stats.rps, 0).padStart(7)} req/s [${roundRps.get(r)!.join(' ')}]  p50 ${fmt(stats.p50, 2).padStart(6)} ms  p99 ${fmt(stats.p99, 2).padStart(7)} ms  err ${stats.errors + stats.dropped}  cpu${UP} ${c.cores[`cpu${UP}`]}% cpu${FRONT} ${c.cores[`cpu${FRONT}`]}% (load gen ${c.loadgen}%)  µs/op upstream ${us.upstream ?? '—'} proxy ${us.proxy ?? '—'}${stats.firstError ? `  first error: ${stats.firstError}` : ''}`);
    }
  } finally {
    for (const w of work.values()) await w.close().catch(() => {});
  }
}

async function memoryChecks(gw: Target): Promise<MemoryResult> {
  const url = `${gw.url}/servers/raw/mcp`;
  const mb = (b: number) => Math.round((b / 1048576) * 100) / 100;

  // Idle sessions: heap delta per open (initialized, unused) session, after GC.
  const c = new Client(url, 8);
  let idle: { before: NodeJS.MemoryUsage; after: NodeJS.MemoryUsage; perSession: number };
  try {
    for (let i = 0; i < 50; i++) await c.delete(await openSession(c)); // run the code paths once before the baseline
    const before = await heap(gw);
    const sids: string[] = [];
    for (let i = 0; i < IDLE_N; i += 8) sids.push(...await Promise.all(Array.from({ length: Math.min(8, IDLE_N - i) }, () => openSession(c))));
    const after = await heap(gw);
    for (let i = 0; i < sids.length; i += 16) await Promise.all(sids.slice(i, i + 16).map((s) => c.delete(s)));
    idle = { before, after, perSession: (after.heapUsed - before.heapUsed) / IDLE_N };
  } finally {
    await c.close();
  }
  log(`idle sessions: ${IDLE_N} → heap ${mb(idle.before.heapUsed)} → ${mb(idle.after.heapUsed)} MB, ${Math.round(idle.perSession)} B/session`);

  // CALLS tools/call on one warm session: heap after GC at the start, halfway and at the end.
  const w = await workload('warm', url, CONC);
  try {
    await closedPhase(w, { concurrency: CONC, durationMs: 60_000, maxRequests: 5000 });
    const h0 = await heap(gw);
    const first = new Recorder();
    await closedPhase(w, { concurrency: CONC, durationMs: 150_000, maxRequests: CALLS / 2 }, first);
    const h1 = await heap(gw);
    const second = new Recorder();
    await closedPhase(w, { concurrency: CONC, durationMs: 150_000, maxRequests: CALLS / 2 }, second);
    const h2 = await heap(gw);
    const done = first.n + second.n;
    if (first.errors + second.errors) log(`memory run errors: ${first.errors + second.errors} (${first.firstError ?? second.firstError})`);
    const growth = mb(h2.heapUsed - h0.heapUsed);
    let settled: NodeJS.MemoryUsage | undefined;
    if (SETTLE === 'yes' || (SETTLE === 'auto' && growth > GROWTH_TARGET_MB)) {
      // Leak, or state held for a bounded time (timers)? Whatever is time-bounded is gone after this.
      log(`heap grew ${growth} MB; waiting 65 s to see whether it is released…`);
      await new Promise((r) => setTimeout(r, 65_000));
      settled = await heap(gw);
    }
    const res: MemoryResult = {
      calls: done,
      callsPerSecond: Math.round(done / ((first.elapsedMs + second.elapsedMs) / 1000)),
      heapMB: { warm: mb(h0.heapUsed), mid: mb(h1.heapUsed), end: mb(h2.heapUsed), ...(settled ? { settled: mb(settled.heapUsed) } : {}) },
      growthMB: growth,
      bytesPerCallSecondHalf: Math.round((h2.heapUsed - h1.heapUsed) / Math.max(1, second.n)),
      ...(settled ? { settledGrowthMB: mb(settled.heapUsed - h0.heapUsed) } : {}),
      idleSessions: IDLE_N,
      idleBytesPerSession: Math.round(idle.perSession),
      idleHeapMB: { before: mb(idle.before.heapUsed), after: mb(idle.after.heapUsed) },
      rssMB: { before: mb(h0.rss), after: mb(h2.rss) },
    };
    log(`${done} calls on one session (${res.callsPerSecond}/s): heap ${res.heapMB.warm} → ${res.heapMB.mid} → ${res.heapMB.end} MB${settled ? ` (65 s later: ${res.heapMB.settled} MB)` : ''}; ${res.bytesPerCallSecondHalf} B/call in the second half`);
    return res;
  } finally {
    await w.close();
  }
}

// ── report ─────────────────────────────────────────────────────────────────────────────────────────────────

interface Check { name: string; value: string; target: string; met: boolean | null }

function find(upstream: Upstream, via: Via, kind: WorkloadKind, mode: 'closed' | 'open' = 'closed'): ScenarioResult | undefined {
  return results.find((r) => r.upstream === upstream && r.via === via && r.kind === kind && r.mode === mode);
}

function ratio(a: ScenarioResult | undefined, b: ScenarioResult | undefined): number {
  return a && b && b.stats.rps > 0 ? a.stats.rps / b.stats.rps : NaN;
}

/** Ratios of adjacent rounds (the rows were interleaved): median, min and max, to show how much noise there was. */
function roundRatios(a: ScenarioResult | undefined, b: ScenarioResult | undefined): { median: number; min: number; max: number } | undefined {
  if (!a || !b) return undefined;
  const xs = a.roundRps.map((x, i) => x / (b.roundRps[i] ?? NaN)).filter(Number.isFinite).sort((p, q) => p - q);
  if (!xs.length) return undefined;
  const mid = xs.length >> 1;
  const median = xs.length % 2 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
  return { median, min: xs[0]!, max: xs[xs.length - 1]! };
}

interface Ratio { value: number; rounds?: { median: number; min: number; max: number } }

function evaluate(mem: MemoryResult | undefined): { checks: Check[]; ratios: Record<string, number>; detail: Record<string, Ratio> } {
  const C = find('ceiling', 'bare', 'echo');
  const r3 = (n: number) => Math.round(n * 1000) / 1000;
  const detail: Record<string, Ratio> = {};
  const add = (name: string, a: ScenarioResult | undefined, b: ScenarioResult | undefined) => {
    const value = ratio(a, b);
    if (!Number.isFinite(value)) return;
    const rr = roundRatios(a, b);
    detail[name] = { value: r3(value), ...(rr ? { rounds: { median: r3(rr.median), min: r3(rr.min), max: r3(rr.max) } } : {}) };
  };
  for (const kind of ['warm', 'modern', 'cycle'] as const) {
    add(`raw ${kind}: direct / C`, find('raw', 'direct', kind), C);
    add(`raw ${kind}: bare proxy / C`, find('raw', 'bare proxy', kind), C);
    add(`raw ${kind}: gateway / C`, find('raw', 'gateway', kind), C);
    add(`raw ${kind}: gateway / bare proxy`, find('raw', 'gateway', kind), find('raw', 'bare proxy', kind));
    add(`raw ${kind}: gateway / direct`, find('raw', 'gateway', kind), find('raw', 'direct', kind));
    add(`sdk ${kind}: gateway / direct`, find('sdk', 'gateway', kind), find('sdk', 'direct', kind));
    add(`sdk ${kind}: gateway (stdio) / direct`, find('sdk', 'gateway (stdio)', kind), find('sdk', 'direct', kind));
    add(`sdk ${kind}: mcp-proxy (stdio) / direct`, find('sdk', 'mcp-proxy (stdio)', kind), find('sdk', 'direct', kind));
    add(`sdk ${kind}: gateway (stdio) / mcp-proxy (stdio)`, find('sdk', 'gateway (stdio)', kind), find('sdk', 'mcp-proxy (stdio)', kind));
  }
  const ratios = Object.fromEntries(Object.entries(detail).map(([k, v]) => [k, v.value]));

  const out: Check[] = [];
  const x = (v: number | undefined, digits: number, unit: string) => (v === undefined ? 'not measured' : `${v.toFixed(digits)}${unit}`);
  const gwSdk = ratios['sdk warm: gateway / direct'];
  out.push({ name: 'SDK upstream, warm session: gateway ≥ 0.9 × direct throughput', value: x(gwSdk, 2, '×'), target: '≥ 0.90×', met: gwSdk === undefined ? null : gwSdk >= 0.9 });
  const gwSdkModern = ratios['sdk modern: gateway / direct'];
  if (gwSdkModern !== undefined) out.push({ name: 'SDK upstream, 2026-07-28 stateless: gateway ≥ 0.9 × direct throughput', value: x(gwSdkModern, 2, '×'), target: '≥ 0.90×', met: gwSdkModern >= 0.9 });
  const hot = ratios['raw warm: gateway / C'];
  out.push({ name: 'Gateway hot path (raw echo upstream, warm session) ≥ 0.25 C', value: x(hot, 3, ' C'), target: '≥ 0.25 C', met: hot === undefined ? null : hot >= 0.25 });
  const hotModern = ratios['raw modern: gateway / C'];
  if (hotModern !== undefined) out.push({ name: 'Gateway hot path (raw echo upstream, 2026-07-28 stateless) ≥ 0.25 C', value: x(hotModern, 3, ' C'), target: '≥ 0.25 C', met: hotModern >= 0.25 });
  for (const up of ['sdk', 'raw'] as const) {
    const d = find(up, 'direct', 'warm', 'open');
    const g = find(up, 'gateway', 'warm', 'open');
    if (!d || !g) continue;
    const p50 = g.stats.p50 - d.stats.p50;
    const p99 = g.stats.p99 - d.stats.p99;
    const label = `${up === 'sdk' ? 'SDK' : 'Raw echo'} upstream at half the direct saturation load (${Math.round(d.stats.targetRate ?? 0)}/s)`;
    const kept = g.stats.errors + g.stats.dropped === 0 && g.stats.rps >= 0.95 * (g.stats.targetRate ?? 0);
    out.push({ name: `${label}: added p50 ≤ 0.5 ms${kept ? '' : ' (gateway could not keep the rate)'}`, value: `${p50.toFixed(3)} ms`, target: '≤ 0.5 ms', met: kept && p50 <= 0.5 });
    out.push({ name: `${label}: added p99 ≤ 2 ms${kept ? '' : ' (gateway could not keep the rate)'}`, value: `${p99.toFixed(3)} ms`, target: '≤ 2 ms', met: kept && p99 <= 2 });
  }
  if (mem) {
    out.push({ name: `Heap after GC across ${mem.calls} calls on one session grows by at most a few MB`, value: `${mem.growthMB.toFixed(2)} MB (${mem.bytesPerCallSecondHalf} B/call)`, target: `≤ ${GROWTH_TARGET_MB} MB`, met: mem.growthMB <= GROWTH_TARGET_MB });
    if (mem.settledGrowthMB !== undefined) out.push({ name: '… the same heap 65 s after the last call', value: `${mem.settledGrowthMB.toFixed(2)} MB`, target: `≤ ${GROWTH_TARGET_MB} MB`, met: mem.settledGrowthMB <= GROWTH_TARGET_MB });
    out.push({ name: `Idle session cost (${mem.idleSessions} sessions, heap delta / N after GC)`, value: `${(mem.idleBytesPerSession / 1024).toFixed(2)} KB`, target: '≤ 10 KB', met: mem.idleBytesPerSession <= 10240 });
  }
  return { checks: out, ratios, detail };
}

function machine() {
  let model = 'unknown';
  const git = spawnSync('git', ['describe', '--always', '--dirty', '--abbrev=10'], { cwd: ROOT, encoding: 'utf8' });
  try { model = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? model; } catch { /* not Linux */ }
  const version = (p: string) => {
    try { return (JSON.parse(readFileSync(join(ROOT, 'node_modules', p, 'package.json'), 'utf8')) as { version: string }).version; } catch { return 'unknown'; }
  };
  return {
    nproc: cpus().length, cpu: model, node: process.version, kernel: release(), commit: git.status === 0 ? git.stdout.trim() : 'unknown',
    undici: version('undici'), sdk: version('@modelcontextprotocol/server'), mcpProxy: version('mcp-proxy'),
  };
}

function markdown(m: ReturnType<typeof machine>, mem: MemoryResult | undefined, e: ReturnType<typeof evaluate>): string {
  const C = find('ceiling', 'bare', 'echo');
  const L: string[] = [];
  L.push(`Run ${new Date().toISOString()}${QUICK ? ' (--quick)' : ''} at ${m.commit}: ${m.nproc} × ${m.cpu}, Node ${m.node}, Linux ${m.kernel}; undici ${m.undici}, SDK ${m.sdk}, mcp-proxy ${m.mcpProxy}; gateway storage ${STORAGE}; targets ${argv.tsx ? 'through tsx' : 'compiled by tsc'}.`);
  L.push(`Each row: an unrecorded warm-up (at least ${WARMUP_MS / 1000} s, extended in 0.5 s steps until throughput stops rising, at most ${WARMUP_MAX_MS / 1000} s), then ${ROUNDS} × ${DURATION_MS / 1000} s measured rounds interleaved with the rows it is compared with. Closed loop at concurrency ${CONC} (new-session cycle ${CYCLE_CONC}). Upstreams on cpu${UP}; gateway / mcp-proxy on cpu${FRONT}, load generator on cpu${LOADGEN_CPU}${HAVE_TASKSET ? '' : ' (taskset missing: NOT pinned)'}.`);
  L.push('');
  L.push(`| upstream | via | workload | req/s | per round | × C | p50 ms | p99 ms | errors | cpu${UP} % | cpu${FRONT} % (load gen) | CPU µs/op upstream | CPU µs/op proxy |`);
  L.push('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    const wl = r.mode === 'open' ? `${r.kind}, open loop @ ${Math.round(r.stats.targetRate ?? 0)}/s` : r.kind;
    const xc = C && r.mode === 'closed' ? (r.stats.rps / C.stats.rps).toFixed(3) : '';
    const up = r.upstream === 'ceiling' ? 'node:http echo (C)' : r.upstream === 'raw' ? 'raw JSON-RPC echo' : 'SDK McpServer';
    const us = cpuPerOp(r);
    L.push(`| ${up} | ${r.via} | ${wl} | ${fmt(r.stats.rps, 0)} | ${r.roundRps.join(' / ')} | ${xc} | ${fmt(r.stats.p50, 2)} | ${fmt(r.stats.p99, 2)} | ${r.stats.errors + r.stats.dropped} | ${r.cpu.cores[`cpu${UP}`] ?? ''} | ${r.cpu.cores[`cpu${FRONT}`] ?? ''} (${r.cpu.loadgen}) | ${us.upstream ?? ''} | ${us.proxy ?? ''} |`);
  }
  L.push('');
  L.push('| ratio (throughput) | all rounds | median of per-round ratios (min – max) |');
  L.push('| --- | ---: | ---: |');
  for (const [k, v] of Object.entries(e.detail)) {
    const rr = v.rounds && ROUNDS > 1 ? `${v.rounds.median.toFixed(3)} (${v.rounds.min.toFixed(3)} – ${v.rounds.max.toFixed(3)})` : '';
    L.push(`| ${k} | ${v.value.toFixed(3)} | ${rr} |`);
  }
  L.push('');
  L.push('| target | measured | required | met |');
  L.push('| --- | ---: | ---: | :---: |');
  for (const k of e.checks) L.push(`| ${k.name} | ${k.value} | ${k.target} | ${k.met === null ? '—' : k.met ? 'yes' : '**no**'} |`);
  if (mem) {
    L.push('');
    L.push(`Memory (fresh gateway process, raw echo upstream, \`heapUsed\` after \`gc()\`): ${mem.calls} calls on one session at ${mem.callsPerSecond}/s: ${mem.heapMB.warm} → ${mem.heapMB.mid} → ${mem.heapMB.end} MB${mem.heapMB.settled !== undefined ? `, ${mem.heapMB.settled} MB 65 s after the last call` : ''}; RSS ${mem.rssMB.before} → ${mem.rssMB.after} MB. ${mem.idleSessions} idle sessions: ${mem.idleHeapMB.before} → ${mem.idleHeapMB.after} MB.`);
  }
  return L.join('\n') + '\n';
}

// ── main ───────────────────────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  if (!pinSelf(LOADGEN_CPU)) log('warning: could not pin the load generator (taskset missing?)');
  const m = machine();
  log(`Portcullis bench: ${m.nproc} × ${m.cpu}, Node ${m.node}; ${QUICK ? 'quick' : 'full'} run; upstreams on cpu${UP}, gateway / mcp-proxy / load generator on cpu${FRONT}`);
  build();

  const echo = await startTarget('echo-http', UP, script('echo-http'));
  const raw = await startTarget('raw-mcp-echo', UP, script('raw-mcp-echo'));
  const sdk = await startTarget('sdk-server', UP, script('sdk-server'));
  const cfg = join(tmp, 'portcullis.yaml');
  writeFileSync(cfg, gatewayYaml(raw.url!, sdk.url!, join(tmp, 'data')));
  const gw = await startGatewayProc('gateway', cfg);
  const bare = await startTarget('bare-proxy', FRONT, [...script('bare-proxy'), raw.url!]);
  if (argv.profile) {
    profiled = { gw, dir: join(OUT, 'profiles') };
    mkdirSync(profiled.dir, { recursive: true });
  }
  const proxy = argv['no-mcp-proxy'] ? undefined : await startMcpProxy();
  const G = (ep: string) => `${gw.url}/servers/${ep}/mcp`;
  log(`targets up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // The load generator's own code gets optimised before anything is recorded.
  const lgWarm = await workload('echo', echo.url!, CONC);
  await closedPhase(lgWarm, { concurrency: CONC, durationMs: QUICK ? 500 : 1500 });
  await lgWarm.close();
  log('');

  const closed = { closed: CONC };
  const cycle = { closed: CYCLE_CONC };
  const row = (id: string, upstream: Upstream, via: Via, kind: WorkloadKind, url: string, mode: Row['mode']): Row => ({ id, upstream, via, kind, url, mode });

  await measureGroup([
    row('C: node:http echo', 'ceiling', 'bare', 'echo', echo.url!, closed),
    row('raw direct, warm', 'raw', 'direct', 'warm', raw.url!, closed),
    row('raw bare proxy, warm', 'raw', 'bare proxy', 'warm', bare.url!, closed),
    row('raw gateway, warm', 'raw', 'gateway', 'warm', G('raw'), closed),
  ]);
  await measureGroup([
    row('raw direct, modern', 'raw', 'direct', 'modern', raw.url!, closed),
    row('raw bare proxy, modern', 'raw', 'bare proxy', 'modern', bare.url!, closed),
    row('raw gateway, modern', 'raw', 'gateway', 'modern', G('raw-modern'), closed),
  ]);
  await measureGroup([
    row('raw direct, cycle', 'raw', 'direct', 'cycle', raw.url!, cycle),
    row('raw gateway, cycle', 'raw', 'gateway', 'cycle', G('raw'), cycle),
  ]);
  await measureGroup([
    row('sdk direct, warm', 'sdk', 'direct', 'warm', sdk.url!, closed),
    row('sdk gateway, warm', 'sdk', 'gateway', 'warm', G('sdk'), closed),
    row('sdk gateway stdio, warm', 'sdk', 'gateway (stdio)', 'warm', G('sdk-stdio'), closed),
    ...(proxy ? [row('sdk mcp-proxy stdio, warm', 'sdk', 'mcp-proxy (stdio)', 'warm', proxy.url!, closed)] : []),
  ]);
  await measureGroup([
    row('sdk direct, modern', 'sdk', 'direct', 'modern', sdk.url!, closed),
    row('sdk gateway, modern', 'sdk', 'gateway', 'modern', G('sdk-modern'), closed),
  ]);
  await measureGroup([
    row('sdk direct, cycle', 'sdk', 'direct', 'cycle', sdk.url!, cycle),
    row('sdk gateway, cycle', 'sdk', 'gateway', 'cycle', G('sdk'), cycle),
    row('sdk gateway stdio, cycle', 'sdk', 'gateway (stdio)', 'cycle', G('sdk-stdio'), cycle),
    ...(proxy ? [row('sdk mcp-proxy stdio, cycle', 'sdk', 'mcp-proxy (stdio)', 'cycle', proxy.url!, cycle)] : []),
  ]);
  // Added latency at half the direct saturation load: open loop, the same rate for direct and gateway.
  for (const up of ['sdk', 'raw'] as const) {
    const sat = find(up, 'direct', 'warm');
    if (!sat || !(sat.stats.rps > 0)) continue;
    const rate = Math.round(sat.stats.rps / 2);
    const url = up === 'sdk' ? sdk.url! : raw.url!;
    await measureGroup([
      row(`${up} direct, warm @ ${rate}/s`, up, 'direct', 'warm', url, { rate }),
      row(`${up} gateway, warm @ ${rate}/s`, up, 'gateway', 'warm', G(up), { rate }),
    ]);
  }
  await current.stopAll();
  current.dispose();

  // Memory: a fresh gateway process (and upstream), so nothing from the throughput rows is still held.
  let mem: MemoryResult | undefined;
  if (!ONLY || ONLY.test('memory')) {
    current = new ProcessSet();
    names.clear();
    const raw2 = await startTarget('raw-mcp-echo', UP, script('raw-mcp-echo'));
    const cfg2 = join(tmp, 'portcullis-memory.yaml');
    writeFileSync(cfg2, gatewayYaml(raw2.url!, undefined, join(tmp, 'data2')));
    const gw2 = await startGatewayProc('gateway (memory)', cfg2);
    log('');
    mem = await memoryChecks(gw2);
    await current.stopAll();
    current.dispose();
  }

  const e = evaluate(mem);
  const md = markdown(m, mem, e);
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'latest.json'), JSON.stringify({
    when: new Date().toISOString(), quick: QUICK, machine: m,
    settings: { rounds: ROUNDS, roundMs: DURATION_MS, warmupMs: WARMUP_MS, concurrency: CONC, cycleConcurrency: CYCLE_CONC, upstreamCpu: UP, frontCpu: FRONT, pinned: HAVE_TASKSET, storage: STORAGE, compiled: !argv.tsx },
    scenarios: results, memory: mem, ratios: e.detail, checks: e.checks,
  }, null, 2));
  writeFileSync(join(OUT, 'latest.md'), md);
  log(`\n${md}`);
  log(`wrote ${join(OUT, 'latest.json')} and latest.md in ${((performance.now() - t0) / 1000).toFixed(0)} s${profiles.length ? `\ngateway CPU profiles (summarise with: npx tsx bench/profile-top.ts FILE):\n  ${profiles.join('\n  ')}` : ''}`);
}

let failed = false;
const interrupted = () => { current.killAllSync(); process.exit(130); };
process.once('SIGINT', interrupted);
process.once('SIGTERM', interrupted);
try {
  await main();
} catch (err) {
  failed = true;
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
} finally {
  await current.stopAll().catch(() => current.killAllSync());
  current.dispose();
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
