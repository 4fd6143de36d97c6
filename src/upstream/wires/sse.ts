/**
 * The deprecated HTTP+SSE upstream (2024-11-05): a GET opens an SSE stream whose first `endpoint` event names
 * the URL to POST messages to; every server message arrives on that one stream. Losing it ends the wire.
 */
import type { Pool } from 'undici';
import { isRequest, type JsonRpcMessage } from '../../core/jsonrpc.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { SendOptions, UpstreamWire, WireContext } from '../wire.js';
import type { UpstreamTlsConfig } from '../../config/types.js';
import {
  createPool, discard, errorBodyOf, errText, linkedController, mediaType, normalizeHeaders, parseMessages, readText,
  transportFailure, UpstreamHttpError, type ResponseBody,
} from './httpShared.js';
import { SseParser, type SseEvent } from './sseParser.js';

export interface SseWireOptions {
  /** The SSE URL (GET). */
  url: string | URL;
  headers?: Readonly<Record<string, string>>;
  logger?: Logger;
  name?: string;
  /** Trust anchors and client certificate for an https URL (files are read when the wire is made). */
  tls?: UpstreamTlsConfig;
  /** A host name may resolve to loopback/private addresses (an internal DNS name); see src/egress. */
  allowPrivateNetworks?: boolean;
  /** start(): how long to wait for the stream and its `endpoint` event (default 10 s). */
  endpointTimeoutMs?: number;
  /** Largest SSE event or error body accepted (default 16 MiB). */
  maxBodyBytes?: number;
}

type State = 'idle' | 'starting' | 'open' | 'dead' | 'closed';

export class SseWire implements UpstreamWire {
  readonly kind = 'sse' as const;
  onmessage?: (message: JsonRpcMessage, ctx: WireContext) => void;
  onclose?: (reason?: Error) => void;
  onerror?: (err: Error) => void;

  private readonly url: URL;
  private readonly pool: Pool;
  private readonly base: Record<string, string>;
  private readonly name: string;
  private readonly log: Logger;
  private readonly maxBody: number;
  private state: State = 'idle';
  private endpointPath?: string;
  private stream?: AbortController;
  private pump?: Promise<void>;
  private waiter?: { resolve: () => void; reject: (err: Error) => void };
  private readonly inflight = new Set<AbortController>();

  constructor(private readonly opts: SseWireOptions) {
    this.url = new URL(opts.url);
    this.pool = createPool(this.url, undefined, opts.tls, opts.allowPrivateNetworks === true);
    this.base = normalizeHeaders(opts.headers);
    this.name = opts.name ?? this.url.host;
    this.log = (opts.logger ?? silentLogger).child({ upstream: this.name });
    this.maxBody = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  }

  /** The resolved POST endpoint once start() succeeded. */
  get endpoint(): string | undefined {
    return this.endpointPath === undefined ? undefined : new URL(this.endpointPath, this.url.origin).href;
  }

  async start(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`Upstream "${this.name}" SSE wire already started`);
    this.state = 'starting';
    const ctl = new AbortController();
    this.stream = ctl;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, this.opts.endpointTimeoutMs ?? 10_000);
    try {
      const res = await this.pool.request({
        path: this.url.pathname + this.url.search, method: 'GET', headers: { ...this.base, accept: 'text/event-stream' }, signal: ctl.signal,
      });
      if (res.statusCode < 200 || res.statusCode >= 300 || mediaType(res.headers) !== 'text/event-stream') {
        discard(res.body);
        throw new UpstreamHttpError(`Upstream "${this.name}" SSE GET answered HTTP ${res.statusCode} (${mediaType(res.headers) || 'no content type'})`, res.statusCode);
      }
      await new Promise<void>((resolve, reject) => {
        this.waiter = { resolve, reject };
        this.pump = this.read(res.body, ctl.signal);
      });
      this.state = 'open';
    } catch (err) {
      if (this.state === 'starting') this.state = 'dead';
      ctl.abort();
      await this.pump;
      if (!this.pool.destroyed) await this.pool.destroy();
      if (timedOut) throw new Error(`Upstream "${this.name}" sent no SSE endpoint event in time`, { cause: err });
      throw err instanceof UpstreamHttpError ? err : new Error(`Cannot open SSE stream of "${this.name}": ${errText(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  private async read(body: ResponseBody, signal: AbortSignal): Promise<void> {
    const parser = new SseParser({
      maxEventChars: this.maxBody,
      onEvent: (e) => this.onEvent(e),
      onError: (err) => this.onerror?.(err),
    });
    let failure: unknown;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) parser.push(chunk);
    } catch (err) {
      failure = err;
    } finally {
      parser.end();
    }
    const why = failure === undefined || signal.aborted ? 'ended' : `failed: ${errText(failure)}`;
    this.settle(new Error(`Upstream "${this.name}" SSE stream ${why} before the endpoint event`));
    if (this.state === 'open') {
      this.state = 'dead';
      this.onclose?.(new Error(`Upstream "${this.name}" SSE stream ${why}`));
    }
  }

  private onEvent(e: SseEvent): void {
    if (e.type === 'endpoint') {
      if (!this.waiter) return; // the endpoint is fixed for the stream's life
      let target: URL;
      try {
        target = new URL(e.data.trim(), this.url);
      } catch {
        return this.settle(new Error(`Upstream "${this.name}" sent an invalid endpoint: ${e.data.slice(0, 200)}`));
      }
      // A different origin would let the upstream redirect our traffic (and headers) elsewhere.
      if (target.origin !== this.url.origin) {
        return this.settle(new Error(`Upstream "${this.name}" endpoint ${target.origin} is not on the SSE origin ${this.url.origin}`));
      }
      this.endpointPath = target.pathname + target.search;
      return this.settle();
    }
    if (e.type !== 'message' || e.data === '') return;
    try {
      const { messages, bad } = parseMessages(e.data);
      if (bad > 0) this.onerror?.(new Error(`Upstream "${this.name}" sent an invalid JSON-RPC message`));
      for (const m of messages) {
        try {
          this.onmessage?.(m, {});
        } catch (err) {
          this.onerror?.(err as Error);
        }
      }
    } catch {
      this.onerror?.(new Error(`Upstream "${this.name}" sent non-JSON SSE data: ${e.data.slice(0, 200)}`));
    }
  }

  /** Resolves (no error) or rejects the pending start(). */
  private settle(err?: Error): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    if (err) w.reject(err);
    else w.resolve();
  }

  async send(message: JsonRpcMessage, opts?: SendOptions): Promise<void> {
    if (this.state !== 'open' || this.endpointPath === undefined) throw new Error(`Upstream "${this.name}" SSE wire is not open`);
    const id = isRequest(message) ? message.id : undefined;
    const { ctl, release } = linkedController(opts?.signal);
    this.inflight.add(ctl);
    try {
      const res = await this.pool.request({
        path: this.endpointPath, method: 'POST', headers: { ...this.base, 'content-type': 'application/json' },
        body: JSON.stringify(message), signal: ctl.signal,
      });
      if (res.statusCode >= 200 && res.statusCode < 300) {
        discard(res.body); // the answer comes on the SSE stream
        return;
      }
      const text = await readText(res.body, Math.min(this.maxBody, 1024 * 1024)).catch(() => '');
      const errBody = errorBodyOf(text);
      if (id === undefined) this.onerror?.(new UpstreamHttpError(`Upstream HTTP ${res.statusCode} for a posted message`, res.statusCode));
      else this.deliver(errBody ? { ...errBody, id } : transportFailure(id, `Upstream HTTP ${res.statusCode}`, { httpStatus: res.statusCode }));
    } catch (err) {
      if (ctl.signal.aborted || (this.state as State) === 'closed') return;
      if (id === undefined) this.onerror?.(new Error(`Upstream "${this.name}" POST failed: ${errText(err)}`));
      else this.deliver(transportFailure(id, `Upstream request failed: ${errText(err)}`));
    } finally {
      this.inflight.delete(ctl);
      release();
    }
  }

  private deliver(m: JsonRpcMessage): void {
    try {
      this.onmessage?.(m, {});
    } catch (err) {
      this.onerror?.(err as Error);
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stream?.abort();
    for (const ctl of this.inflight) ctl.abort();
    await this.pump;
    if (!this.pool.destroyed) await this.pool.destroy();
    this.log.debug('SSE wire closed');
  }
}
