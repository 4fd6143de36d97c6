/**
 * Anomaly detection over the gateway's own traffic, with baselines per principal and per tool:
 *
 *   rate_spike     calls in the current window > factor × the moving average (EWMA) of earlier windows, and at
 *                  least minCalls; only once warmupWindows have been seen (a baseline needs history)
 *   denial_burst   `count` refusals (policy, integrity, guardrails, approvers) of one principal within the window
 *   first_use      a principal calls a tool it never called before (remembered in the RecordStore: survives restarts,
 *                  shared by replicas)
 *   off_hours      a call outside the configured days and hours
 *   tool_new       an approved server (one with pins) offers a tool the operator did not approve. A server without
 *                  pins has no baseline of what it offers (the gateway judges tools lazily, as they are listed or
 *                  called), so its tools are recorded silently and only their changes alert
 *   tool_drift     a tool's definition differs from its pin, or (no pins) from the definition seen before
 *
 * Counting is in memory, per process (a replica sees its share of the traffic), with a bounded number of keys. The
 * clock is injected, so tests drive hours of synthetic traffic in milliseconds.
 */
import { createHash } from 'node:crypto';
import type { RecordStore } from '../storage/types.js';
import type { JsonObject } from '../core/jsonrpc.js';
import type { AnomaliesConfig, HoursConfig, RateAnomalyConfig } from './config.js';

export type AnomalyKind = 'rate_spike' | 'denial_burst' | 'first_use' | 'off_hours' | 'tool_new' | 'tool_drift';

export interface Alert {
  kind: AnomalyKind;
  /** Subject of the principal concerned, if any. */
  principal?: string | undefined;
  /** "server/tool". */
  tool?: string | undefined;
  message: string;
  detail: JsonObject;
  /** Epoch ms. */
  at: number;
}

/** One use of an item, as the monitoring stage saw it end. */
export interface Use {
  /** Principal.key (issuer and subject): what baselines are kept under. */
  principalKey: string;
  principal: string;
  /** "server/tool" of a tools/call, undefined for other uses. */
  tool: string | undefined;
  denied: boolean;
}

export interface AnomalyDeps {
  records: RecordStore;
  now: () => number;
  raise: (alert: Alert) => void;
  /** Storage failures in the background checks. */
  onError: (what: string, e: unknown) => void;
}

const MAX_KEYS = 50_000;
const FIRST_USE = 'monitoring.firstUse';
const TOOLS = 'monitoring.tools';

export class AnomalyDetector {
  private readonly principalRates: RateBaselines;
  private readonly toolRates: RateBaselines;
  private readonly denials = new BoundedMap<string, number[]>();
  private readonly known = new BoundedMap<string, true>();
  private readonly checking = new Map<string, Promise<void>>();
  private readonly lastRaised = new BoundedMap<string, number>();
  private readonly hours: OfficeHours | undefined;
  private toolChain: Promise<void> = Promise.resolve();
  private readonly background = new Set<Promise<void>>();

  constructor(private readonly config: AnomaliesConfig, private readonly deps: AnomalyDeps) {
    this.principalRates = new RateBaselines(config.rate);
    this.toolRates = new RateBaselines(config.rate);
    this.hours = config.hours && new OfficeHours(config.hours);
  }

  /** Counts one use; alerts are raised synchronously except first use, which needs a storage read. */
  observe(use: Use): void {
    const now = this.deps.now();
    const c = this.config;
    if (c.rate.enabled) {
      const p = this.principalRates.add(use.principalKey, now);
      if (p) this.raise({ kind: 'rate_spike', principal: use.principal, message: `${use.principal} made ${p.count} calls in ${c.rate.windowSeconds} s (baseline ${p.baseline.toFixed(1)})`, detail: { scope: 'principal', ...p }, at: now });
      if (use.tool) {
        const t = this.toolRates.add(use.tool, now);
        if (t) this.raise({ kind: 'rate_spike', tool: use.tool, message: `${use.tool} was called ${t.count} times in ${c.rate.windowSeconds} s (baseline ${t.baseline.toFixed(1)})`, detail: { scope: 'tool', ...t }, at: now });
      }
    }
    if (use.denied && c.denials.enabled) this.denied(use, now);
    if (this.hours?.outside(now)) {
      this.raise({ kind: 'off_hours', principal: use.principal, tool: use.tool, message: `${use.principal} called ${use.tool ?? 'the gateway'} outside the configured hours`, detail: { timezone: this.hours.timezone }, at: now });
    }
    // A refused call is no use of the tool (its denials have their own alert).
    if (use.tool && !use.denied && c.firstUse.enabled) this.firstUse(use, now);
  }

  /**
   * An upstream's tool definition as admission saw it (each new hash once per process), with the hash the operator
   * pinned (undefined: not pinned; null: the server has no pins).
   */
  toolSeen(server: string, tool: string, hash: string, pinned: string | null | undefined): void {
    if (!this.config.tools.enabled) return;
    // One at a time: checks of the same tool must not race on its record.
    this.toolChain = this.toolChain.then(() => this.checkTool(server, tool, hash, pinned)).catch((e) => this.deps.onError('tool baseline', e));
    this.track(this.toolChain);
  }

  /** Resolves when the background checks started so far are done (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.background.size) await Promise.allSettled([...this.background]);
  }

  private denied(use: Use, now: number): void {
    const { count, windowSeconds } = this.config.denials;
    let times = this.denials.get(use.principalKey);
    if (!times) this.denials.set(use.principalKey, (times = []));
    times.push(now);
    if (times.length > count) times.shift();
    if (times.length === count && now - times[0]! <= windowSeconds * 1000) {
      times.length = 0; // the next alert needs a fresh burst
      this.raise({ kind: 'denial_burst', principal: use.principal, message: `${use.principal} was refused ${count} times within ${windowSeconds} s`, detail: { count, windowSeconds }, at: now });
    }
  }

  private firstUse(use: Use, now: number): void {
    const key = createHash('sha256').update(`${use.principalKey}\n${use.tool}`).digest('base64url');
    if (this.known.get(key) || this.checking.has(key)) return;
    const check = (async () => {
      const seen = await this.deps.records.get(FIRST_USE, key);
      if (!seen) {
        await this.deps.records.put(FIRST_USE, key, { principal: use.principal, tool: use.tool!, at: now });
        this.raise({ kind: 'first_use', principal: use.principal, tool: use.tool, message: `${use.principal} used ${use.tool} for the first time`, detail: {}, at: now });
      }
      this.known.set(key, true);
    })().catch((e) => this.deps.onError('first use', e)).finally(() => this.checking.delete(key));
    this.checking.set(key, check);
    this.track(check);
  }

  /** Each definition alerts once, whichever replica or restart sees it again: the last one seen is in storage. */
  private async checkTool(server: string, tool: string, hash: string, pinned: string | null | undefined): Promise<void> {
    const key = `${server}/${tool}`;
    const before = await this.deps.records.get(TOOLS, key);
    if (before?.hash === hash) return;
    const now = this.deps.now();
    await this.deps.records.put(TOOLS, key, { hash, at: now });
    if (pinned === hash) return;
    const seen = typeof before?.hash === 'string' ? before.hash : undefined;
    if (pinned === undefined && seen === undefined) {
      this.raise({ kind: 'tool_new', tool: key, message: `${server} offers a tool that was not approved: ${tool}`, detail: { hash }, at: now });
      return;
    }
    const from = pinned ?? seen;
    if (from !== undefined) this.raise({ kind: 'tool_drift', tool: key, message: `the definition of ${key} changed${pinned ? ' since it was approved' : ''}`, detail: { from, to: hash, pinned: pinned !== null }, at: now });
  }

  /** At most one alert per kind and subject per cooldown. */
  private raise(alert: Alert): void {
    const key = `${alert.kind}\n${alert.principal ?? ''}\n${alert.tool ?? ''}`;
    const last = this.lastRaised.get(key);
    if (last !== undefined && alert.at - last < this.config.cooldownSeconds * 1000) return;
    this.lastRaised.set(key, alert.at);
    this.deps.raise(alert);
  }

  private track(p: Promise<void>): void {
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }
}

/** What a spiking window looked like. */
export interface Spike extends JsonObject {
  count: number;
  baseline: number;
  windowStart: number;
}

interface RateState {
  window: number;
  count: number;
  baseline: number;
  windows: number;
  alerted: boolean;
}

/** Calls per window per key, against an exponentially weighted moving average of the windows before. */
export class RateBaselines {
  private readonly states = new BoundedMap<string, RateState>();
  private readonly windowMs: number;

  constructor(private readonly c: RateAnomalyConfig) {
    this.windowMs = c.windowSeconds * 1000;
  }

  /** Counts a call; returns the spike when this call makes the current window one (once per window). */
  add(key: string, now: number): Spike | undefined {
    const w = Math.floor(now / this.windowMs);
    let s = this.states.get(key);
    if (!s) this.states.set(key, (s = { window: w, count: 0, baseline: 0, windows: 0, alerted: false }));
    if (w !== s.window) {
      this.roll(s, s.count);
      // Quiet windows in between pull the baseline down (bounded: after ~50 the average is ~0 anyway).
      for (let gap = Math.min(w - s.window - 1, 50); gap > 0; gap--) this.roll(s, 0);
      s.window = w;
      s.count = 0;
      s.alerted = false;
    }
    s.count++;
    if (s.alerted || s.windows < this.c.warmupWindows || s.count < this.c.minCalls || s.count <= this.c.factor * s.baseline) return undefined;
    s.alerted = true;
    return { count: s.count, baseline: Math.round(s.baseline * 100) / 100, windowStart: s.window * this.windowMs };
  }

  private roll(s: RateState, count: number): void {
    s.baseline = s.windows === 0 ? count : this.c.smoothing * count + (1 - this.c.smoothing) * s.baseline;
    s.windows++;
  }
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** Whether an instant falls outside the configured days and hours, in the configured time zone. */
export class OfficeHours {
  readonly timezone: string;
  private readonly days: Set<string>;
  private readonly from: number;
  private readonly to: number;
  private readonly format: Intl.DateTimeFormat;
  /** formatToParts costs microseconds: the answer is kept for the minute it was computed in. */
  private cachedMinute = -1;
  private cached = false;

  constructor(h: HoursConfig) {
    this.timezone = h.timezone;
    this.days = new Set(h.days);
    this.from = minutesOf(h.from);
    this.to = minutesOf(h.to);
    this.format = new Intl.DateTimeFormat('en-US', { timeZone: h.timezone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  }

  outside(now: number): boolean {
    const minute = Math.floor(now / 60_000);
    if (minute === this.cachedMinute) return this.cached;
    const parts = this.format.formatToParts(new Date(now));
    const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
    const day = get('weekday').slice(0, 3).toLowerCase();
    const at = Number(get('hour')) * 60 + Number(get('minute'));
    // A span over midnight (from 22:00 to 06:00) belongs to the day it starts on.
    const overnight = this.to <= this.from;
    const inHours = overnight ? at >= this.from || at < this.to : at >= this.from && at < this.to;
    const dayOfSpan = overnight && at < this.to ? DAYS[(DAYS.indexOf(day) + 6) % 7]! : day;
    this.cachedMinute = minute;
    this.cached = !(inHours && this.days.has(dayOfSpan));
    return this.cached;
  }
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':');
  return Number(h) * 60 + Number(m);
}

/** A Map that forgets its oldest entries beyond MAX_KEYS (memory stays bounded whatever the traffic). */
class BoundedMap<K, V> extends Map<K, V> {
  override set(key: K, value: V): this {
    if (!this.has(key) && this.size >= MAX_KEYS) this.delete(this.keys().next().value as K);
    return super.set(key, value);
  }
}
