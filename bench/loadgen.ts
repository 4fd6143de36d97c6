/**
 * The benchmark's one load generator: raw JSON-RPC POSTs over an undici Pool (HTTP/1.1, keep-alive, no pipelining).
 *
 *   closed loop   N workers, each sends its next request when the previous one answered (throughput at saturation)
 *   open loop     requests fired on a fixed schedule at R/s whatever the answers do; latency is measured from the
 *                 scheduled send time, so a stall is not hidden (no coordinated omission)
 *
 * Every phase is bounded by a duration (and optionally a request cap); a phase without a Recorder is a warm-up.
 * Several phases can record into one Recorder (the runner interleaves rounds of different targets). Latencies
 * are kept exactly (one float per operation) and percentiles come from sorting them.
 *
 * Workloads (what one "operation" is):
 *   echo      POST a tools/call body to a plain JSON endpoint (the node:http ceiling)
 *   warm      tools/call on one legacy-era session opened once (initialize 2025-11-25, Mcp-Session-Id kept)
 *   modern    stateless 2026-07-28 tools/call: `_meta` envelope + MCP-Protocol-Version / Mcp-Method / Mcp-Name headers
 *   cycle     a whole new session: initialize → notifications/initialized → tools/call → DELETE
 */
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export type WorkloadKind = 'echo' | 'warm' | 'modern' | 'cycle';

export interface RunStats {
  /** Successful operations recorded. */
  ok: number;
  errors: number;
  /** Open loop: scheduled sends skipped because maxInflight operations were already outstanding. */
  dropped: number;
  elapsedMs: number;
  /** Successful operations per second. */
  rps: number;
  /** Milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
  /** Open loop only: the rate asked for. */
  targetRate?: number;
  firstError?: string;
}

const LEGACY_VERSION = '2025-11-25';
const MODERN_VERSION = '2026-07-28';
const ACCEPT = 'application/json, text/event-stream';
const TEXT = 'hello portcullis';

/** A client for one MCP endpoint URL. */
export class Client {
  readonly pool: Pool;
  readonly path: string;
  private seq = 0;

  constructor(readonly url: string, connections: number) {
    const u = new URL(url);
    this.path = u.pathname + u.search;
    this.pool = new Pool(u.origin, { connections, pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000, bodyTimeout: 30_000, headersTimeout: 30_000 });
  }

  nextId(): number { return ++this.seq; }

  /** One POST; resolves with status, session header and body text. Never leaves a body unread. */
  async post(body: string, headers: Record<string, string>): Promise<{ status: number; sessionId?: string; text: string }> {
    const res = await this.pool.request({
      path: this.path, method: 'POST', body,
      headers: { 'content-type': 'application/json', accept: ACCEPT, ...headers },
    });
    const text = await res.body.text();
    const sid = res.headers['mcp-session-id'];
    return { status: res.statusCode, sessionId: Array.isArray(sid) ? sid[0] : sid, text };
  }

  async delete(sessionId: string): Promise<number> {
    const res = await this.pool.request({ path: this.path, method: 'DELETE', headers: { 'mcp-session-id': sessionId, 'mcp-protocol-version': LEGACY_VERSION } });
    await res.body.dump();
    return res.statusCode;
  }

  close(): Promise<void> { return this.pool.close(); }
}

const toolsCall = (id: number, extra = '') =>
  `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"${TEXT}"}${extra}}}`;
const MODERN_META = `,"_meta":{"io.modelcontextprotocol/protocolVersion":"${MODERN_VERSION}","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"portcullis-bench","version":"1"}}`;
const MODERN_HEADERS = { 'mcp-protocol-version': MODERN_VERSION, 'mcp-method': 'tools/call', 'mcp-name': 'echo' };

/** A JSON or SSE answer carrying a JSON-RPC result (not an error). */
function isResult(r: { status: number; text: string }): boolean {
  return r.status === 200 && r.text.includes('"result"') && !r.text.includes('"error":{');
}

function describe(r: { status: number; text: string }): string {
  return `HTTP ${r.status}: ${r.text.slice(0, 200)}`;
}

/** Opens a legacy-era session: initialize + notifications/initialized. */
export async function openSession(c: Client): Promise<string> {
  const init = await c.post(JSON.stringify({
    jsonrpc: '2.0', id: c.nextId(), method: 'initialize',
    params: { protocolVersion: LEGACY_VERSION, capabilities: {}, clientInfo: { name: 'portcullis-bench', version: '1' } },
  }), {});
  if (!isResult(init) || !init.sessionId) throw new Error(`initialize failed: ${describe(init)}`);
  const n = await c.post('{"jsonrpc":"2.0","method":"notifications/initialized"}', { 'mcp-session-id': init.sessionId, 'mcp-protocol-version': LEGACY_VERSION });
  if (n.status !== 202 && n.status !== 200) throw new Error(`notifications/initialized failed: ${describe(n)}`);
  return init.sessionId;
}

/** One operation: resolves true on success, or throws / resolves a string describing the failure. */
type Op = () => Promise<true | string>;

export interface Workload {
  kind: WorkloadKind;
  op: Op;
  close(): Promise<void>;
}

/** Builds a workload against `url`; `warm` opens its session here (not timed). */
export async function workload(kind: WorkloadKind, url: string, connections: number): Promise<Workload> {
  const c = new Client(url, connections);
  switch (kind) {
    case 'echo':
      return {
        kind, op: async () => { const r = await c.post(toolsCall(c.nextId()), {}); return isResult(r) || describe(r); },
        close: () => c.close(),
      };
    case 'modern':
      return {
        kind, op: async () => { const r = await c.post(toolsCall(c.nextId(), MODERN_META), MODERN_HEADERS); return isResult(r) || describe(r); },
        close: () => c.close(),
      };
    case 'warm': {
      const sid = await openSession(c);
      const headers = { 'mcp-session-id': sid, 'mcp-protocol-version': LEGACY_VERSION };
      return {
        kind, op: async () => { const r = await c.post(toolsCall(c.nextId()), headers); return isResult(r) || describe(r); },
        close: async () => { await c.delete(sid).catch(() => 0); await c.close(); },
      };
    }
    case 'cycle':
      return {
        kind,
        op: async () => {
          const sid = await openSession(c);
          const r = await c.post(toolsCall(c.nextId()), { 'mcp-session-id': sid, 'mcp-protocol-version': LEGACY_VERSION })
            .catch(async (e: unknown) => { await c.delete(sid).catch(() => 0); throw e; });
          const status = await c.delete(sid);
          if (!isResult(r)) return describe(r);
          return status === 200 || status === 204 || `DELETE answered HTTP ${status}`;
        },
        close: () => c.close(),
      };
  }
}

/** Exact latencies (one float per operation), grown as needed; several phases may record into one. */
export class Recorder {
  private buf = new Float64Array(1 << 16);
  n = 0;
  errors = 0;
  dropped = 0;
  elapsedMs = 0;
  firstError: string | undefined;

  add(ms: number): void {
    if (this.n === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.n++] = ms;
  }

  fail(why: unknown): void {
    this.errors++;
    this.firstError ??= why instanceof Error ? why.message : String(why);
  }

  stats(targetRate?: number): RunStats {
    const sorted = this.buf.slice(0, this.n).sort();
    const q = (p: number) => (this.n === 0 ? NaN : sorted[Math.min(this.n - 1, Math.max(0, Math.ceil(p * this.n) - 1))]!);
    let sum = 0;
    for (let i = 0; i < this.n; i++) sum += sorted[i]!;
    return {
      ok: this.n, errors: this.errors, dropped: this.dropped, elapsedMs: this.elapsedMs,
      rps: this.n / (this.elapsedMs / 1000),
      p50: q(0.5), p90: q(0.9), p99: q(0.99), max: this.n ? sorted[this.n - 1]! : NaN, mean: this.n ? sum / this.n : NaN,
      ...(targetRate !== undefined ? { targetRate } : {}),
      ...(this.firstError !== undefined ? { firstError: this.firstError } : {}),
    };
  }
}

async function runOp(op: Op, rec: Recorder | undefined, startedAt: number): Promise<void> {
  try {
    const r = await op();
    if (r === true) rec?.add(performance.now() - startedAt);
    else rec?.fail(r);
  } catch (e) {
    rec?.fail(e);
  }
}

export interface ClosedOptions {
  concurrency: number;
  durationMs: number;
  /** Stop after this many operations even if the duration has not passed. */
  maxRequests?: number;
}

/** Closed loop: `concurrency` operations always outstanding. Records into `rec` (if any); returns the elapsed ms. */
export async function closedPhase(w: Workload, o: ClosedOptions, rec?: Recorder): Promise<number> {
  const start = performance.now();
  const end = start + o.durationMs;
  const max = o.maxRequests ?? Infinity;
  let issued = 0;
  const worker = async () => {
    while (issued < max && performance.now() < end) {
      issued++;
      await runOp(w.op, rec, performance.now());
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  const elapsed = performance.now() - start;
  if (rec) rec.elapsedMs += elapsed;
  return elapsed;
}

export interface OpenOptions {
  rate: number;
  durationMs: number;
  /** Scheduled sends beyond this many outstanding operations are dropped (and counted). */
  maxInflight?: number;
}

/** Open loop at a fixed rate; latency counted from each operation's scheduled time. Returns the elapsed ms. */
export function openPhase(w: Workload, o: OpenOptions, rec?: Recorder): Promise<number> {
  const interval = 1000 / o.rate;
  const total = Math.max(1, Math.floor((o.durationMs / 1000) * o.rate));
  const maxInflight = o.maxInflight ?? 1024;
  const start = performance.now();
  let i = 0;
  let inflight = 0;
  return new Promise((resolve) => {
    const finish = () => {
      const elapsed = performance.now() - start;
      if (rec) rec.elapsedMs += elapsed;
      resolve(elapsed);
    };
    const done = () => {
      inflight--;
      if (i >= total && inflight === 0) finish();
    };
    const tick = () => {
      const now = performance.now();
      // Fire everything due (timers fire at ~1 ms granularity, so sends leave in small bursts, on schedule).
      while (i < total && start + i * interval <= now) {
        const scheduled = start + i * interval;
        i++;
        if (inflight >= maxInflight) { if (rec) rec.dropped++; continue; }
        inflight++;
        void runOp(w.op, rec, scheduled).then(done);
      }
      if (i < total) setTimeout(tick, Math.max(0, start + i * interval - performance.now() - 0.5));
      else if (inflight === 0) finish();
    };
    tick();
  });
}
