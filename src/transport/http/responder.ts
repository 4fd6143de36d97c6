/**
 * Answers one POSTed request. It starts undecided: a request whose result comes back with nothing before it
 * is answered as plain JSON (cheapest); the first notification or server-to-client request switches it to an
 * SSE stream. In legacy sessions, events get ids and are stored so a client that lost the stream can resume
 * with Last-Event-ID; a stream closed by the client is not a cancellation there (2025-11-25), while in the
 * modern era it is.
 */
import type { ServerResponse } from 'node:http';
import type { JsonRpcMessage } from '../../core/jsonrpc.js';
import { SseStream } from './sse.js';

export interface ResumableLog {
  /** Stores an event and returns its id (legacy sessions only). */
  append(data: string): Promise<string>;
  /** Writes to a stream that resumed this one after the original closed. */
  deliverResumed(data: string, id: string): void;
  endResumed(): void;
}

export interface ResponderOptions {
  acceptsSse: boolean;
  maxBufferedBytes: number;
  headers: Record<string, string>;
  /** Legacy sessions: opens the resumable event log when the response turns into a stream; undefined in the modern era. */
  openLog?: (() => ResumableLog) | undefined;
  /** Sent as the priming event's retry hint (2025-11-25 clients). */
  primeRetryMs?: number | undefined;
  /** Switch a still-unanswered request to a (resumable) stream after this long, so a dropped connection loses nothing. */
  streamAfterMs?: number | undefined;
  onClientGone?: (() => void) | undefined;
}

export class Responder {
  private sse: SseStream | undefined;
  private done = false;
  /** Serialises writes so event ids stay in order even though storage is async. */
  private chain: Promise<void> = Promise.resolve();

  private streamTimer: NodeJS.Timeout | undefined;
  private log: ResumableLog | undefined;

  constructor(private readonly res: ServerResponse, private readonly opts: ResponderOptions) {
    res.on('close', () => { if (!this.done) opts.onClientGone?.(); });
    if (opts.streamAfterMs !== undefined && opts.acceptsSse) {
      this.streamTimer = setTimeout(() => this.startStream(), opts.streamAfterMs);
      this.streamTimer.unref();
    }
  }

  private startStream(): void {
    if (this.sse || this.done || this.res.destroyed) return;
    this.sse = new SseStream(this.res, { maxBufferedBytes: this.opts.maxBufferedBytes }, this.opts.headers);
    // Only a streamed response needs an event log: plain JSON answers cost no storage.
    this.log = this.opts.openLog?.();
    const log = this.log;
    if (log) this.enqueue(async () => { const id = await log.append(''); this.sse?.prime(id, this.opts.primeRetryMs); });
  }

  get streaming(): boolean { return this.sse !== undefined; }

  /** A message before the final response (notification, or a server-to-client request). */
  send(message: JsonRpcMessage): void {
    if (this.done) return;
    if (!this.sse) {
      if (!this.opts.acceptsSse) return; // a JSON-only client cannot receive interim messages
      this.startStream();
    }
    this.write(message);
  }

  /** The final response; ends the stream. `extraHeaders` go with a plain JSON answer (e.g. Retry-After of a 429). */
  finish(message: JsonRpcMessage, httpStatus = 200, extraHeaders?: Readonly<Record<string, string>>): void {
    if (this.done) return;
    clearTimeout(this.streamTimer);
    if (!this.sse) {
      this.done = true;
      const body = JSON.stringify(message);
      if (this.res.destroyed) return;
      const headers = extraHeaders ? { ...this.opts.headers, ...extraHeaders } : this.opts.headers;
      this.res.writeHead(httpStatus, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      this.res.end(body);
      return;
    }
    this.write(message);
    this.done = true;
    this.enqueue(async () => { this.sse?.end(); this.log?.endResumed(); });
  }

  /** Ends without a response (the request was cancelled: the client expects none). */
  end(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.streamTimer);
    if (!this.sse) { if (!this.res.headersSent && !this.res.destroyed) this.res.writeHead(204).end(); return; }
    this.enqueue(async () => { this.sse?.end(); this.log?.endResumed(); });
  }

  private write(message: JsonRpcMessage): void {
    const data = JSON.stringify(message);
    const log = this.log;
    if (!log) {
      this.sse?.send(data);
      return;
    }
    this.enqueue(async () => {
      const id = await log.append(data);
      if (this.sse && !this.sse.closed) this.sse.send(data, id);
      else log.deliverResumed(data, id);
    });
  }

  private enqueue(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).catch(() => {});
  }
}
