/**
 * Rate limits, concurrency limits and quotas, counted in the storage's CounterStore (so replicas sharing
 * PostgreSQL or Redis share them). A request is admitted when every rule that applies to it admits it:
 *
 *   1. concurrency slots (per rule and key), held until the request ends;
 *   2. token buckets (rateLimits with requests/perSeconds);
 *   3. quotas (daily, monthly), which persist.
 *
 * A refusal is a GatewayError: HTTP 429 with Retry-After (a JSON-RPC error with data.retryAfterSeconds on stdio).
 * A refused request may have taken a token from an earlier bucket or counted against an earlier period; it never
 * holds a slot.
 */
import { randomUUID } from 'node:crypto';
import { digest } from '../core/canonical.js';
import { GatewayError } from '../core/errors.js';
import type { GatewayConfig, LimitDimension } from '../config/types.js';
import type { BucketSpec, CounterStore } from '../storage/types.js';
import { compileSelector, keyOf, type LimitSubject, type Matcher } from './selector.js';
import { windowEnd } from './windows.js';

interface RateRule {
  readonly id: string;
  readonly matches: Matcher;
  readonly per: readonly LimitDimension[];
  readonly bucket: BucketSpec | undefined;
  readonly concurrency: number | undefined;
}

interface QuotaRule {
  readonly id: string;
  /** The counters' key: the rule's id, or a digest of what it counts (so reordering rules keeps the counts). */
  readonly counter: string;
  readonly matches: Matcher;
  readonly per: readonly LimitDimension[];
  readonly periods: ReadonlyArray<{ period: 'daily' | 'monthly'; limit: number }>;
  readonly timezone: string;
}

interface PriorityRule {
  readonly cls: 'interactive' | 'bulk';
  readonly matches: Matcher;
}

export interface CompiledLimits {
  readonly rate: readonly RateRule[];
  readonly quota: readonly QuotaRule[];
  readonly priority: readonly PriorityRule[];
  /** No rate limit and no quota: the limits stage has nothing to count. */
  readonly empty: boolean;
}

export function compileLimits(cfg: Pick<GatewayConfig, 'rateLimits' | 'quotas' | 'priorities'>): CompiledLimits {
  const rate = cfg.rateLimits.map((r, i): RateRule => {
    const requests = r.requests;
    return {
      id: r.id ?? `rateLimits[${i}]`,
      matches: compileSelector(r),
      per: r.per,
      bucket: requests === undefined ? undefined : { capacity: r.burst ?? requests, refillPerSecond: requests / r.perSeconds },
      concurrency: r.concurrency,
    };
  });
  const quota = cfg.quotas.map((q, i): QuotaRule => {
    const periods: Array<{ period: 'daily' | 'monthly'; limit: number }> = [];
    if (q.monthly !== undefined) periods.push({ period: 'monthly', limit: q.monthly });
    if (q.daily !== undefined) periods.push({ period: 'daily', limit: q.daily });
    const { daily: _d, monthly: _m, id: _i, ...what } = q;
    return { id: q.id ?? `quotas[${i}]`, counter: q.id ?? digest(what), matches: compileSelector(q), per: q.per, periods, timezone: q.timezone };
  });
  const priority = cfg.priorities.map((p): PriorityRule => ({ cls: p.class, matches: compileSelector({ ...p, actions: p.actions ?? ['call', 'read', 'get', 'complete', 'subscribe', 'list'] }) }));
  return { rate, quota, priority, empty: rate.length === 0 && quota.length === 0 };
}

/** The request's class: the first matching priority rule's, else interactive; a client may only lower its own. */
export function priorityOf(limits: CompiledLimits, s: LimitSubject, asked: unknown): 'interactive' | 'bulk' {
  if (asked === 'bulk') return 'bulk';
  for (const p of limits.priority) if (p.matches(s)) return p.cls;
  return 'interactive';
}

const NOTHING = (): void => {};

export class Limiter {
  constructor(
    private readonly store: CounterStore,
    /** How long a concurrency slot may be held before it counts as abandoned (the longest a request can take). */
    private readonly leaseMs: number,
    private readonly onError: (e: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Admits the request or throws; the returned function ends it (frees its concurrency slots). */
  async admit(limits: CompiledLimits, s: LimitSubject): Promise<() => void> {
    if (limits.empty) return NOTHING;
    const now = this.now();
    const held: Array<{ key: string; lease: string }> = [];
    const release = () => {
      for (const h of held) this.store.release('concurrency', h.key, h.lease).catch(this.onError);
      held.length = 0;
    };
    try {
      const rates: Array<{ rule: RateRule; key: string }> = [];
      for (const rule of limits.rate) {
        if (!rule.matches(s)) continue;
        const k = keyOf(rule.per, s);
        if (k !== undefined) rates.push({ rule, key: `${rule.id} ${k}` });
      }
      for (const { rule, key } of rates) {
        if (rule.concurrency === undefined) continue;
        const lease = randomUUID();
        if (!(await this.store.acquire('concurrency', key, rule.concurrency, lease, now + this.leaseMs, now))) {
          throw refusal('PC_RATE_LIMITED', `${rule.concurrency} concurrent requests allowed (${rule.id})`, 1, { limit: rule.id, concurrency: rule.concurrency });
        }
        held.push({ key, lease });
      }
      for (const { rule, key } of rates) {
        if (!rule.bucket) continue;
        const r = await this.store.take('ratelimit', key, rule.bucket, 1, now);
        if (!r.ok) throw refusal('PC_RATE_LIMITED', `rate limit ${rule.id} exceeded`, Math.max(1, Math.ceil(r.retryAfterMs / 1000)), { limit: rule.id });
      }
      for (const rule of limits.quota) {
        if (!rule.matches(s)) continue;
        const k = keyOf(rule.per, s);
        if (k === undefined) continue;
        for (const { period, limit } of rule.periods) {
          const resetAt = windowEnd(now, period, rule.timezone);
          const r = await this.store.increment('quota', `${rule.counter}:${period} ${k}`, 1, limit, resetAt, now);
          if (!r.ok) {
            const retry = Math.max(1, Math.ceil((resetAt - now) / 1000));
            throw refusal('PC_QUOTA_EXCEEDED', `${period} quota of ${limit} reached (${rule.id})`, retry, { quota: rule.id, period, limit, resetAt: new Date(resetAt).toISOString() });
          }
        }
      }
    } catch (e) {
      release();
      throw e;
    }
    return held.length === 0 ? NOTHING : release;
  }
}

function refusal(code: 'PC_RATE_LIMITED' | 'PC_QUOTA_EXCEEDED', detail: string, retryAfterSeconds: number, data: Record<string, unknown>): GatewayError {
  return new GatewayError(code, detail, { data: { ...data, retryAfterSeconds }, headers: { 'Retry-After': String(retryAfterSeconds) } });
}
