/**
 * The console's live charts: a small in-memory time series of the last few minutes, one bucket per second (requests,
 * errors, denials, latencies), fed by a pipeline stage. Kept apart from the Prometheus metrics on purpose: the
 * console needs per-second history and percentiles of recent requests, not cumulative counters, and must not depend
 * on another module's internals.
 */
import { isGatewayError } from '../core/errors.js';
import type { NamedStage } from '../pipeline/pipeline.js';

/** Seconds of history kept (and charted). */
export const WINDOW_SECONDS = 300;
/** Latency samples kept per second; beyond this a bucket samples (reservoir) so memory stays bounded under load. */
const SAMPLES_PER_SECOND = 256;

const DENIALS = new Set(['PC_POLICY_DENIED', 'PC_APPROVAL_DENIED']);

interface Bucket {
  second: number;
  calls: number;
  errors: number;
  denials: number;
  /** Milliseconds; at most SAMPLES_PER_SECOND of them. */
  latencies: number[];
}

export interface MetricsPoint {
  /** Epoch seconds. */
  t: number;
  calls: number;
  errors: number;
  denials: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface MetricsSnapshot {
  windowSeconds: number;
  points: MetricsPoint[];
  totals: { calls: number; errors: number; denials: number };
}

export class ConsoleMetrics {
  private readonly ring: Bucket[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** One request ended: `error` when it failed or a tool reported an error, `denied` when the policy or an approver refused it. */
  record(latencyMs: number, outcome: { error: boolean; denied: boolean }): void {
    const b = this.bucket(Math.floor(this.now() / 1000));
    b.calls++;
    if (outcome.error) b.errors++;
    if (outcome.denied) b.denials++;
    if (b.latencies.length < SAMPLES_PER_SECOND) b.latencies.push(latencyMs);
    else {
      const i = Math.floor(Math.random() * b.calls);
      if (i < SAMPLES_PER_SECOND) b.latencies[i] = latencyMs;
    }
  }

  /** The last `WINDOW_SECONDS` seconds, oldest first, one point per second (empty seconds included). */
  snapshot(): MetricsSnapshot {
    const nowS = Math.floor(this.now() / 1000);
    const points: MetricsPoint[] = [];
    const totals = { calls: 0, errors: 0, denials: 0 };
    for (let t = nowS - WINDOW_SECONDS + 1; t <= nowS; t++) {
      const b = this.ring[t % WINDOW_SECONDS];
      const live = b !== undefined && b.second === t;
      const sorted = live ? [...b.latencies].sort((x, y) => x - y) : [];
      const p = { calls: live ? b.calls : 0, errors: live ? b.errors : 0, denials: live ? b.denials : 0 };
      totals.calls += p.calls; totals.errors += p.errors; totals.denials += p.denials;
      points.push({ t, ...p, p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), p99: percentile(sorted, 0.99) });
    }
    return { windowSeconds: WINDOW_SECONDS, points, totals };
  }

  private bucket(second: number): Bucket {
    const i = second % WINDOW_SECONDS;
    let b = this.ring[i];
    if (!b || b.second !== second) this.ring[i] = b = { second, calls: 0, errors: 0, denials: 0, latencies: [] };
    return b;
  }
}

/** Nearest-rank percentile of sorted values; null for none. */
export function percentile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The pipeline stage feeding the charts; it sits outermost so latency covers the whole pipeline. */
export function consoleMetricsStage(metrics: ConsoleMetrics): NamedStage {
  return {
    name: 'console-metrics',
    run: async (ctx, next) => {
      const started = performance.now();
      try {
        const result = await next();
        metrics.record(performance.now() - started, { error: result.isError === true, denied: false });
        return result;
      } catch (e) {
        // A denied item the caller cannot see fails as unknown; the decision still says deny.
        const denied = ctx.decision?.outcome === 'deny' || (isGatewayError(e) && DENIALS.has(e.code));
        metrics.record(performance.now() - started, { error: true, denied });
        throw e;
      }
    },
  };
}
