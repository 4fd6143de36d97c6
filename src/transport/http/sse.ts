/**
 * One Server-Sent Events response. Writes respect backpressure: while the socket is full, events queue up to
 * a byte budget; a reader too slow to stay within it is disconnected rather than allowed to grow memory.
 */
import type { ServerResponse } from 'node:http';

export interface SseOptions {
  maxBufferedBytes: number;
  /** Comment lines keep idle streams alive through proxies. */
  keepAliveMs?: number | undefined;
  onClose?: (() => void) | undefined;
}

export class SseStream {
  private queued: string[] = [];
  private queuedBytes = 0;
  private waitingDrain = false;
  private keepAlive: NodeJS.Timeout | undefined;
  private _closed = false;
  private closeHooks: Array<() => void> = [];

  constructor(private readonly res: ServerResponse, private readonly opts: SseOptions, headers: Record<string, string> = {}) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
      ...headers,
    });
    res.flushHeaders();
    res.on('close', () => this.finish());
    res.on('drain', () => this.drain());
    if (opts.keepAliveMs) {
      this.keepAlive = setInterval(() => this.writeRaw(':\n\n'), opts.keepAliveMs);
      this.keepAlive.unref();
    }
  }

  get closed(): boolean { return this._closed; }

  /** Runs fn when the stream closes (at once if it already has). */
  onClosed(fn: () => void): void {
    if (this._closed) fn();
    else this.closeHooks.push(fn);
  }

  /** Sends one event; returns false when the stream is closed (the caller decides what is lost). */
  send(data: string, id?: string, retryMs?: number): boolean {
    let frame = '';
    if (retryMs !== undefined) frame += `retry: ${retryMs}\n`;
    if (id !== undefined) frame += `id: ${id}\n`;
    frame += `event: message\ndata: ${data.replace(/\n/g, '\ndata: ')}\n\n`;
    return this.writeRaw(frame);
  }

  /** An event with an id and empty data: primes the client to resume with Last-Event-ID (2025-11-25). */
  prime(id: string, retryMs?: number): boolean {
    return this.writeRaw(`${retryMs !== undefined ? `retry: ${retryMs}\n` : ''}id: ${id}\ndata: \n\n`);
  }

  private writeRaw(frame: string): boolean {
    if (this._closed) return false;
    if (this.waitingDrain) {
      this.queuedBytes += Buffer.byteLength(frame);
      if (this.queuedBytes > this.opts.maxBufferedBytes) {
        this.destroy();
        return false;
      }
      this.queued.push(frame);
      return true;
    }
    if (!this.res.write(frame)) this.waitingDrain = true;
    return true;
  }

  private drain(): void {
    this.waitingDrain = false;
    while (this.queued.length && !this.waitingDrain) {
      const frame = this.queued.shift()!;
      this.queuedBytes -= Buffer.byteLength(frame);
      if (!this.res.write(frame)) this.waitingDrain = true;
    }
  }

  end(): void {
    if (this._closed) return;
    if (this.queued.length) {
      // Let queued frames out first; close() follows via the final drain.
      this.res.once('drain', () => this.end());
      return;
    }
    this.res.end();
    this.finish();
  }

  destroy(): void {
    this.res.destroy();
    this.finish();
  }

  private finish(): void {
    if (this._closed) return;
    this._closed = true;
    clearInterval(this.keepAlive);
    this.queued = [];
    this.queuedBytes = 0;
    this.opts.onClose?.();
    for (const fn of this.closeHooks.splice(0)) fn();
  }
}
