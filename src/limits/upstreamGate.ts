/**
 * An upstream's concurrency cap (`upstreams.<name>.concurrency`): at most `max` calls in flight from this gateway;
 * further calls wait in one bounded queue, interactive ones served before bulk ones, and fail fast when the queue
 * is full or after `queueTimeoutMs` (PC_UPSTREAM_BUSY, HTTP 503 with Retry-After). The cap protects one upstream
 * connection, so it is per process by nature.
 */
import { GatewayError } from '../core/errors.js';
import type { CancelSignal } from '../core/cancel.js';
import type { UpstreamConcurrencyConfig } from '../config/types.js';

export type Priority = 'interactive' | 'bulk';

interface Waiter {
  resolve(release: () => void): void;
  reject(e: Error): void;
}

export class UpstreamGate {
  private active = 0;
  private readonly queues: Record<Priority, Waiter[]> = { interactive: [], bulk: [] };

  constructor(private readonly name: string, private readonly cfg: UpstreamConcurrencyConfig) {}

  get inFlight(): number { return this.active; }
  get waiting(): number { return this.queues.interactive.length + this.queues.bulk.length; }

  /** Waits for a slot; the returned function frees it (call it exactly once). */
  enter(priority: Priority, signal: CancelSignal): Promise<() => void> | (() => void) {
    if (this.active < this.cfg.max && this.waiting === 0) {
      this.active++;
      return this.releaser();
    }
    if (this.waiting >= this.cfg.queue) return Promise.reject(busy(this.name, `${this.cfg.max} calls in flight and ${this.cfg.queue} waiting`));
    return new Promise((resolve, reject) => {
      const queue = this.queues[priority];
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const i = queue.indexOf(waiter);
        if (i >= 0) queue.splice(i, 1);
      };
      const waiter: Waiter = {
        resolve: (release) => { done(); resolve(release); },
        reject: (e) => { done(); reject(e); },
      };
      const onAbort = () => waiter.reject(new GatewayError('PC_CANCELLED', 'while waiting for the upstream'));
      const timer = setTimeout(() => waiter.reject(busy(this.name, `no slot within ${this.cfg.queueTimeoutMs} ms`)), this.cfg.queueTimeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      queue.push(waiter);
    });
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.queues.interactive[0] ?? this.queues.bulk[0];
      // The slot passes straight to the next waiter: `active` stays the same.
      if (next) next.resolve(this.releaser());
      else this.active--;
    };
  }
}

function busy(name: string, detail: string): GatewayError {
  return new GatewayError('PC_UPSTREAM_BUSY', `${name}: ${detail}`, { data: { upstream: name, retryAfterSeconds: 1 }, headers: { 'Retry-After': '1' } });
}
