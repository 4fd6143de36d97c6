/**
 * Diagnostic: user vs system CPU per request of the gateway (or the bare proxy) in front of the raw echo upstream,
 * read from /proc. The kernel's share is the loopback TCP work a proxy cannot avoid; the user share is its own code.
 * Run: npx tsx bench/cpu-split.ts [gateway|bare] [seconds]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPhase, Recorder, workload } from './loadgen.js';

const which = process.argv[2] ?? 'gateway';
const seconds = Number(process.argv[3] ?? 6);
const TICK_US = 1e6 / 100; // USER_HZ

function start(args: string[], cpu: number): Promise<{ child: ChildProcess; url: string }> {
  return new Promise((resolve, reject) => {
    const extra = args[0]?.includes('gateway') && process.env.CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CPU_PROF_DIR}`, '--cpu-prof-interval=250'] : [];
    const child = spawn('taskset', ['-c', String(cpu), process.execPath, ...extra, '--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /READY (\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}`)));
  });
}
const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { user: Number(f[11]), sys: Number(f[12]) };
};

const up = await start(['bench/targets/raw-mcp-echo.ts'], 0);
let front: { child: ChildProcess; url: string };
if (which === 'bare') front = await start(['bench/targets/bare-proxy.ts', up.url], 1);
else {
  const dir = mkdtempSync(join(tmpdir(), 'pc-split-'));
  const cfg = join(dir, 'p.yaml');
  writeFileSync(cfg, `server: { port: 0, dataDir: ${JSON.stringify(dir)} }\nstorage: { driver: memory }\nlogging: { level: silent }\nauth: { mode: none }\npolicy: { rules: [{ id: bench-allow-all, effect: allow }] }\nupstreams:\n  raw: { transport: http, url: ${JSON.stringify(up.url)}, protocol: ${process.argv[4] === "modern" ? "modern" : "legacy"} }\n`);
  front = await start(['bench/targets/gateway.ts', cfg], 1);
  front.url = front.url.replace(/\/?$/, '') + (front.url.endsWith('/mcp') ? '' : '/servers/raw/mcp');
}
try {
  const w = await workload((process.argv[4] ?? 'warm') as 'warm' | 'modern', front.url, 32);
  await closedPhase(w, { concurrency: 32, durationMs: 4000 });
  const a = cpuTicks(front.child.pid!);
  const rec = new Recorder();
  await closedPhase(w, { concurrency: 32, durationMs: seconds * 1000 }, rec);
  const n = rec.stats().ok;
  const b = cpuTicks(front.child.pid!);
  console.log(`${which}: ${n} requests; user ${(((b.user - a.user) * TICK_US) / n).toFixed(1)} µs/req, sys ${(((b.sys - a.sys) * TICK_US) / n).toFixed(1)} µs/req`);
  await w.close?.();
} finally {
  front.child.kill('SIGTERM');
  up.child.kill('SIGTERM');
  await new Promise((r) => front.child.once('exit', r));
}
process.exit(0);
