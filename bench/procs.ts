/**
 * Child processes of the benchmark: started pinned to a core with `taskset`, each the leader of its own process
 * group (so a proxy's own children, e.g. a stdio upstream, go with it), all killed at the end, even on error.
 * Also: CPU accounting from /proc (per core, and per process group split by the core each process runs on).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export interface Target {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** URL announced on stdout ("READY <url>"), when the target prints one. */
  url?: string;
  stderrTail(): string;
}

export const HAVE_TASKSET = spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;

/** `taskset -c <cpu> cmd args…`, or the bare command when taskset is missing or cpu is undefined. */
export function pinned(cpu: number | undefined, cmd: string, args: string[]): [string, string[]] {
  return HAVE_TASKSET && cpu !== undefined ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
}

/** Pins every thread of this process (the load generator) to `cpu`. */
export function pinSelf(cpu: number): boolean {
  if (!HAVE_TASKSET) return false;
  return spawnSync('taskset', ['-a', '-cp', String(cpu), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export class ProcessSet {
  private readonly all: Target[] = [];
  private readonly onExit = () => this.killAllSync();

  constructor() {
    process.on('exit', this.onExit);
  }

  /** Starts a process group; with `readyLine`, waits until stdout prints "READY <url>". */
  async start(name: string, cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; ipc?: boolean; ready?: boolean; timeoutMs?: number }): Promise<Target> {
    const proc = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    });
    if (proc.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
    let stderr = '';
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr = (stderr + d).slice(-4000); });
    const target: Target = { name, proc, pid: proc.pid, stderrTail: () => stderr };
    this.all.push(target);
    // The leader is gone: take whatever it left in its group (a stdio upstream) with it.
    proc.once('exit', () => killGroup(target.pid, 'SIGKILL'));
    if (opts.ready === false) {
      proc.stdout!.resume();
      return target;
    }
    target.url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`${name} did not become ready within ${opts.timeoutMs ?? 30_000} ms; stderr: ${stderr}`)), opts.timeoutMs ?? 30_000);
      const onData = (d: string) => {
        out += d;
        const m = /READY (\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          proc.stdout!.off('data', onData);
          proc.stdout!.resume();
          resolve(m[1]!);
        }
      };
      proc.stdout!.setEncoding('utf8').on('data', onData);
      proc.once('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`${name} exited (${code ?? sig}) before it was ready; stderr: ${stderr}`)); });
    });
    return target;
  }

  /** SIGTERM each group, then SIGKILL whatever is left after `graceMs`. */
  async stopAll(graceMs = 4000): Promise<void> {
    const live = this.all.filter((t) => t.proc.exitCode === null && t.proc.signalCode === null);
    for (const t of live) killGroup(t.pid, 'SIGTERM');
    await Promise.race([
      Promise.all(live.map((t) => new Promise<void>((r) => { if (t.proc.exitCode !== null || t.proc.signalCode !== null) r(); else t.proc.once('exit', () => r()); }))),
      new Promise((r) => setTimeout(r, graceMs)),
    ]);
    this.killAllSync();
  }

  /** Last resort (also on process exit): SIGKILL every group we started. */
  killAllSync(): void {
    for (const t of this.all) if (t.proc.exitCode === null && t.proc.signalCode === null) killGroup(t.pid, 'SIGKILL');
  }

  dispose(): void {
    process.off('exit', this.onExit);
  }
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(-pid, sig); } catch { /* gone already */ }
}

// ── CPU accounting ───────────────────────────────────────────────────────────────────────────────────────────

export interface CpuSnapshot {
  at: number;
  /** Per core: [busy, total] jiffies from /proc/stat. */
  cores: Map<number, [number, number]>;
  /** Per process group: jiffies per core the process last ran on (pinned processes stay on theirs). */
  groups: Map<number, Map<number, number>>;
  self: NodeJS.CpuUsage;
}

export function cpuSnapshot(pgids: readonly number[]): CpuSnapshot {
  const cores = new Map<number, [number, number]>();
  try {
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+)\s+(.*)$/.exec(line);
      if (!m) continue;
      const v = m[2]!.trim().split(/\s+/).map(Number);
      const idle = (v[3] ?? 0) + (v[4] ?? 0);
      const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
      cores.set(Number(m[1]), [total - idle, total]);
    }
  } catch { /* not Linux */ }
  const groups = new Map<number, Map<number, number>>();
  const wanted = new Set(pgids);
  if (wanted.size) {
    let pids: string[] = [];
    try { pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)); } catch { /* not Linux */ }
    for (const pid of pids) {
      let stat: string;
      try { stat = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { continue; }
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pgrp = Number(f[2]);
      if (!wanted.has(pgrp)) continue;
      const jiffies = Number(f[11]) + Number(f[12]);
      const cpu = Number(f[36]);
      const g = groups.get(pgrp) ?? new Map<number, number>();
      g.set(cpu, (g.get(cpu) ?? 0) + jiffies);
      groups.set(pgrp, g);
    }
  }
  return { at: performance.now(), cores, groups, self: process.cpuUsage() };
}

export interface CpuUse {
  /** Busy % of each core over the interval (everything on the machine). */
  cores: Record<string, number>;
  /** % of one core used by the load generator (this process). */
  loadgen: number;
  /** Per named group, % of one core used on each core. */
  groups: Record<string, Record<string, number>>;
}

const HZ = 100; // USER_HZ on Linux

export function cpuDelta(a: CpuSnapshot, b: CpuSnapshot, names: Map<number, string>): CpuUse {
  const wallS = (b.at - a.at) / 1000;
  const cores: Record<string, number> = {};
  for (const [c, [busy, total]] of b.cores) {
    const [busy0, total0] = a.cores.get(c) ?? [0, 0];
    cores[`cpu${c}`] = total - total0 > 0 ? round1((100 * (busy - busy0)) / (total - total0)) : 0;
  }
  const groups: Record<string, Record<string, number>> = {};
  for (const [pg, perCore] of b.groups) {
    const before = a.groups.get(pg) ?? new Map<number, number>();
    const out: Record<string, number> = {};
    for (const [c, j] of perCore) {
      const d = j - (before.get(c) ?? 0);
      if (d > 0) out[`cpu${c}`] = round1((100 * d) / HZ / wallS);
    }
    groups[names.get(pg) ?? String(pg)] = out;
  }
  const selfUs = b.self.user + b.self.system - a.self.user - a.self.system;
  return { cores, loadgen: round1(selfUs / 1e4 / wallS), groups };
}

const round1 = (x: number) => Math.round(x * 10) / 10;
