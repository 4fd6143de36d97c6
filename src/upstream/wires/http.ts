/**
 * Streamable HTTP upstream. Each message is its own POST; the answer is JSON or an SSE stream scoped to the
 * request. Modern-era messages (per-request `_meta` protocol version) carry the mirrored request headers and no
 * session; legacy-era ones carry Mcp-Session-Id / MCP-Protocol-Version and may resume streams with Last-Event-ID.
 */
import type { Pool } from 'undici';
import { isRequest, type JsonRpcId, type JsonRpcMessage } from '../../core/jsonrpc.js';
import { silentLogger, type Logger } from '../../core/log.js';
import { HEADER, nameFieldOf } from '../../core/protocol.js';
import type { SendOptions, UpstreamWire, WireContext } from '../wire.js';
import {
  createPool, discard, encodeHeaderValue, errorBodyOf, errText, mediaType, modernVersionOf,
  normalizeHeaders, parseMessages, sleep, transportFailure, UpstreamHttpError, type ResponseBody,
} from './httpShared.js';
import { SseParser, type SseEvent } from './sseParser.js';

export { encodeHeaderValue, UpstreamHttpError };

export interface HttpWireOptions {
  url: string | URL;
  /** Sent on every request (e.g. Authorization); protocol headers take precedence. */
  headers?: Readonly<Record<string, string>>;
  logger?: Logger;
  name?: string;
  /** Cap on pooled connections (default unlimited: every open SSE response holds one). */
  connections?: number;
  /** Largest JSON body or SSE event accepted (default 16 MiB). */
  maxBodyBytes?: number;
  /** Legacy resumption: consecutive reconnections without progress before giving up (default 3). */
  maxResumeAttempts?: number;
  /** First reconnection delay when the server sent no `retry:` (default 1000 ms), doubling up to the max. */
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** close(): how long the best-effort session DELETE may take (default 2000 ms). */
  deleteTimeoutMs?: number;
}

/** What the wire remembers about one POST while its answer is outstanding. */
interface Exchange {
  /** Request id; undefined for notifications and responses. */
  id: JsonRpcId | undefined;
  what: string;
  modern: boolean;
  sentSession: boolean;
}

export class HttpWire implements UpstreamWire {
  readonly kind = 'http' as const;
  onmessage?: (message: JsonRpcMessage, ctx: WireContext) => void;
  onclose?: (reason?: Error) => void;
  onerror?: (err: Error) => void;

  private readonly path: string;
  private readonly pool: Pool;
  private readonly base: Record<string, string>;
  private readonly name: string;
  private readonly log: Logger;
  private readonly maxBody: number;
  private _sessionId?: string;
  private protocolVersion?: string;
  private closed = false;
  private listen?: AbortController;
  private readonly inflight = new Set<AbortController>();
  private readonly tasks = new Set<Promise<void>>();

  constructor(private readonly opts: HttpWireOptions) {
    const url = new URL(opts.url);
    this.path = url.pathname + url.search;
    this.pool = createPool(url, opts.connections);
    this.base = normalizeHeaders(opts.headers);
    this.name = opts.name ?? url.host;
    this.log = (opts.logger ?? silentLogger).child({ upstream: this.name });
    this.maxBody = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  }

  get sessionId(): string | undefined {
    return this._sessionId;
  }

  /** Nothing to open: connections are made per request. */
  async start(): Promise<void> {
    if (this.closed) throw new Error(`Upstream "${this.name}" wire is closed`);
  }

  setProtocolVersion(version: string): void {
    this.protocolVersion = version;
  }

  resetSession(): void {
    this._sessionId = undefined;
    this.listen?.abort(); // the GET stream belonged to the old session
  }

  async send(message: JsonRpcMessage, opts?: SendOptions): Promise<void> {
    if (this.closed) throw new Error(`Upstream "${this.name}" wire is closed`);
    const version = modernVersionOf(message);
    const headers: Record<string, string> = {
      ...this.base, 'content-type': 'application/json', accept: 'application/json, text/event-stream',
    };
    const ex: Exchange = {
      id: isRequest(message) ? message.id : undefined,
      what: 'method' in message ? message.method : 'response',
      modern: version !== undefined,
      sentSession: false,
    };
    if (version !== undefined && 'method' in message) {
      // Per-message extras (Mcp-Param-* mirrors) go first so they cannot replace the protocol headers below.
      if (opts?.headers) for (const [k, v] of Object.entries(opts.headers)) headers[k.toLowerCase()] = v;
      headers[HEADER.protocolVersion] = version;
      headers[HEADER.method] = message.method;
      const field = nameFieldOf(message.method);
      const value = field ? message.params?.[field] : undefined;
      if (typeof value === 'string') headers[HEADER.name] = encodeHeaderValue(value);
    } else {
      ex.sentSession = this.legacyHeaders(headers);
    }
    // The caller's signal is used as is (one controller per call, not two); close() still ends such calls by
    // destroying the pool. Only calls without a signal get one of the wire's own.
    const own = opts?.signal ? undefined : new AbortController();
    const ctl = { signal: opts?.signal ?? own!.signal };
    if (own) this.inflight.add(own);
    const done = (): void => {
      if (own) this.inflight.delete(own);
    };
    // Like pool.request, send() returns once the answer has started (headers in, or a failure); the rest of the
    // exchange (an SSE stream, a resumption) goes on in the background and is tracked for close().
    let started!: () => void;
    const headersIn = new Promise<void>((resolve) => { started = resolve; });
    const exchange = this.dispatchPost(headers, JSON.stringify(message), ex, ctl.signal, started);
    this.track(exchange.finally(done));
    await Promise.race([headersIn, exchange]);
  }

  /**
   * One POST through undici's dispatcher with a small handler: the answer is parsed as it arrives (JSON collected,
   * SSE fed straight into the parser) with no Readable stream per response, the costliest part of `pool.request`
   * on this path. Resolves when the exchange is over, including any Last-Event-ID resumption.
   */
  private dispatchPost(headers: Record<string, string>, body: string, ex: Exchange, signal: AbortSignal, started: () => void): Promise<void> {
    return new Promise<void>((resolve) => {
      let mode: 'json' | 'sse' | 'error' | 'discard' = 'discard';
      let status = 0;
      let type = '';
      const chunks: Buffer[] = [];
      let size = 0;
      let limit = this.maxBody;
      let answered = false;
      let retryMs: number | undefined;
      let parser: SseParser | undefined;
      let abortRequest: ((reason?: Error) => void) | undefined;
      let settled = false;
      const onAbort = (): void => abortRequest?.(new Error('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      const settle = (task?: Promise<void>): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (task) void task.catch((err: unknown) => this.onerror?.(err as Error)).finally(resolve);
        else resolve();
      };
      const failed = (message: string): void => {
        if (!signal.aborted && !this.closed) this.undeliverable(ex, message);
      };
      this.pool.dispatch({ path: this.path, method: 'POST', headers, body }, {
        onConnect: (abort: (reason?: Error) => void) => {
          abortRequest = abort;
          if (signal.aborted) abort(new Error('aborted'));
        },
        onHeaders: (statusCode: number, rawHeaders: Buffer[] | string[]) => {
          started();
          status = statusCode;
          let sid: string | undefined;
          for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
            const name = rawHeaders[i]!.toString().toLowerCase();
            if (name === 'content-type') type = rawHeaders[i + 1]!.toString().split(';', 1)[0]!.trim().toLowerCase();
            else if (name === HEADER.sessionId) sid = rawHeaders[i + 1]!.toString();
          }
          if (!ex.modern && ex.what === 'initialize' && statusCode < 300 && sid) this._sessionId = sid;
          if (statusCode < 200 || statusCode >= 300) { mode = 'error'; limit = Math.min(this.maxBody, 1024 * 1024); }
          else if (ex.id === undefined) mode = 'discard';
          else if (type === 'text/event-stream') {
            mode = 'sse';
            const id = ex.id;
            parser = this.parser((m) => { if (this.deliver(m, id)) answered = true; }, (ms) => { retryMs = ms; });
          } else if (type === 'application/json') mode = 'json';
          else {
            mode = 'discard';
            this.undeliverable(ex, `Upstream HTTP ${statusCode} with unexpected content type "${type}"`, statusCode);
          }
          return true;
        },
        onData: (chunk: Buffer) => {
          if (mode === 'sse') { parser!.push(chunk); return true; }
          if (mode === 'discard') return true;
          size += chunk.length;
          if (size > limit) {
            abortRequest?.(new Error(`response body exceeds ${limit} bytes`));
            return false;
          }
          chunks.push(chunk);
          return true;
        },
        onComplete: () => {
          const text = (): string => (chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8'));
          if (mode === 'json') {
            try {
              const { messages, bad } = parseMessages(text());
              if (bad > 0) this.onerror?.(new Error(`Upstream "${this.name}" sent ${bad} invalid JSON-RPC message(s)`));
              let got = false;
              for (const m of messages) if (this.deliver(m, ex.id)) got = true;
              if (!got) this.undeliverable(ex, 'Upstream answered without a response to the request', status);
            } catch (err) {
              failed(`Upstream sent invalid JSON: ${errText(err)}`);
            }
          } else if (mode === 'error') {
            const expired = status === 404 && ex.sentSession;
            const errBody = expired || ex.id === undefined ? undefined : errorBodyOf(text());
            if (errBody && ex.id !== undefined) this.deliver({ ...errBody, id: ex.id }, ex.id);
            else this.undeliverable(ex, `Upstream HTTP ${status}`, status, expired);
          } else if (mode === 'sse') {
            parser!.end();
            if (!answered) return settle(this.resumeRequest(ex, signal, parser!, () => answered, retryMs));
          }
          settle();
        },
        onError: (err: Error) => {
          if (mode === 'sse' && parser) {
            // A broken stream: legacy streams with event ids resume; anything else has lost its answer.
            parser.end();
            if (!answered && !signal.aborted && !this.closed) return settle(this.resumeRequest(ex, signal, parser, () => answered, retryMs));
            return settle();
          }
          failed(`Upstream request failed: ${errText(err)}`);
          settle();
        },
      } as unknown as Parameters<Pool['dispatch']>[1]);
    });
  }

  /**
   * A request's SSE stream ended before its response: in the legacy era, resume with GET + Last-Event-ID (bounded
   * attempts, honouring `retry:`); otherwise, or when the stream had no ids, the answer is lost.
   */
  private async resumeRequest(ex: Exchange, signal: AbortSignal, parser: SseParser, answered: () => boolean, retryMs: number | undefined): Promise<void> {
    if (signal.aborted || this.closed || answered()) return;
    if (ex.modern || !parser.lastEventId) return this.undeliverable(ex, 'Upstream stream ended before the response');
    let failures = 0;
    const max = this.opts.maxResumeAttempts ?? 3;
    for (;;) {
      const before = parser.lastEventId;
      if (!(await sleep(this.delay(retryMs, failures), signal))) return;
      const res = await this.get(signal, parser.lastEventId).catch((err: unknown) => {
        if (!signal.aborted) this.onerror?.(new Error(`Upstream "${this.name}" resumption failed: ${errText(err)}`));
        return undefined;
      });
      if (signal.aborted || this.closed) return;
      if (res && !res.body) return this.undeliverable(ex, `Upstream HTTP ${res.status}`, res.status, res.expired);
      if (res?.body) await this.drainInto(res.body, parser, signal);
      if (signal.aborted || this.closed || answered()) return;
      failures = parser.lastEventId !== before ? 0 : failures + 1;
      if (failures >= max) return this.undeliverable(ex, `Upstream stream lost; ${max} resumption attempts made no progress`);
    }
  }

  async openListenStream(): Promise<void> {
    if (this.closed || this.listen) return;
    const ctl = new AbortController();
    this.listen = ctl;
    this.inflight.add(ctl);
    const end = (): void => {
      this.inflight.delete(ctl);
      if (this.listen === ctl) this.listen = undefined;
    };
    let res: Awaited<ReturnType<HttpWire['get']>>;
    try {
      res = await this.get(ctl.signal);
    } catch (err) {
      end();
      if (ctl.signal.aborted) return;
      throw new Error(`Upstream "${this.name}" listen stream failed: ${errText(err)}`, { cause: err });
    }
    if (!res.body) {
      end();
      if (res.status === 405) return; // the server offers no GET stream
      throw new UpstreamHttpError(`Upstream HTTP ${res.status} for the listen stream`, res.status, res.expired);
    }
    this.track(this.pumpListen(res.body, ctl.signal).finally(end));
  }

  /** Delivers the GET stream's messages; reconnects with Last-Event-ID and bounded backoff while the wire is open. */
  private async pumpListen(first: ResponseBody, signal: AbortSignal): Promise<void> {
    let retryMs: number | undefined;
    let failures = 0;
    const parser = this.parser((m) => this.deliver(m), (ms) => { retryMs = ms; });
    let body: ResponseBody | undefined = first;
    for (;;) {
      const before = parser.lastEventId;
      let events = 0;
      if (body) await this.drainInto(body, parser, signal, () => events++);
      if (signal.aborted || this.closed) return;
      failures = events > 0 || parser.lastEventId !== before ? 0 : failures + 1;
      if (!(await sleep(this.delay(retryMs, failures), signal))) return;
      body = undefined;
      try {
        const res = await this.get(signal, parser.lastEventId || undefined);
        if (res.body) body = res.body;
        else if (res.status === 405) return;
        else if (res.expired) {
          this.onerror?.(new UpstreamHttpError('Upstream session expired (listen stream HTTP 404)', 404, true));
          return;
        } else if (failures === 0) this.onerror?.(new UpstreamHttpError(`Upstream HTTP ${res.status} reopening the listen stream`, res.status));
      } catch (err) {
        if (signal.aborted) return;
        if (failures === 0) this.onerror?.(new Error(`Upstream "${this.name}" listen stream reconnect failed: ${errText(err)}`));
      }
    }
  }

  /** Legacy GET for an SSE stream; `body` is set only for a 2xx event stream. */
  private async get(signal: AbortSignal, lastEventId?: string): Promise<{ body?: ResponseBody; status: number; expired: boolean }> {
    const headers: Record<string, string> = { ...this.base, accept: 'text/event-stream' };
    const sentSession = this.legacyHeaders(headers);
    if (lastEventId) headers[HEADER.lastEventId] = lastEventId;
    const res = await this.pool.request({ path: this.path, method: 'GET', headers, signal });
    const ok = res.statusCode >= 200 && res.statusCode < 300 && mediaType(res.headers) === 'text/event-stream';
    if (ok) return { body: res.body, status: res.statusCode, expired: false };
    discard(res.body);
    return { status: res.statusCode, expired: res.statusCode === 404 && sentSession };
  }

  private legacyHeaders(headers: Record<string, string>): boolean {
    if (this.protocolVersion !== undefined) headers[HEADER.protocolVersion] = this.protocolVersion;
    if (this._sessionId === undefined) return false;
    headers[HEADER.sessionId] = this._sessionId;
    return true;
  }

  private delay(retryMs: number | undefined, failures: number): number {
    const base = this.opts.reconnectDelayMs ?? 1000;
    const backoff = Math.min(base * 2 ** Math.max(0, failures - 1), this.opts.maxReconnectDelayMs ?? 30_000);
    return failures > 0 ? Math.max(retryMs ?? 0, backoff) : (retryMs ?? base);
  }

  private parser(onMessage: (m: JsonRpcMessage) => void, onRetry: (ms: number) => void): SseParser {
    return new SseParser({
      maxEventChars: this.maxBody,
      onRetry,
      onError: (err) => this.onerror?.(err),
      onEvent: (e: SseEvent) => {
        if (e.type !== 'message' || e.data === '') return; // priming events carry only an id
        try {
          const { messages, bad } = parseMessages(e.data);
          if (bad > 0) this.onerror?.(new Error(`Upstream "${this.name}" sent an invalid JSON-RPC message on SSE`));
          for (const m of messages) onMessage(m);
        } catch {
          this.onerror?.(new Error(`Upstream "${this.name}" sent non-JSON SSE data: ${e.data.slice(0, 200)}`));
        }
      },
    });
  }

  /** Feeds a stream into the parser until it ends or breaks (events, not `for await`: this runs for every SSE answer). */
  private drainInto(body: ResponseBody, parser: SseParser, signal: AbortSignal, onChunk?: () => void): Promise<void> {
    return new Promise<void>((resolve) => {
      let settled = false;
      const finish = (err?: unknown): void => {
        if (settled) return;
        settled = true;
        if (err !== undefined && !signal.aborted && !this.closed) this.log.debug({ err: errText(err) }, 'upstream SSE stream broke');
        parser.end();
        resolve();
      };
      body.on('data', (chunk: Buffer) => {
        try {
          parser.push(chunk);
          onChunk?.();
        } catch (err) {
          body.destroy();
          finish(err);
        }
      });
      body.once('end', () => finish());
      body.once('error', (err) => finish(err));
      body.once('close', () => finish());
    });
  }

  /** Hands a message to the owner; true when it is the response to `related`. */
  private deliver(m: JsonRpcMessage, related?: JsonRpcId): boolean {
    if (this.closed) return false;
    try {
      this.onmessage?.(m, related === undefined ? {} : { relatedRequestId: related });
    } catch (err) {
      this.onerror?.(err as Error);
    }
    return related !== undefined && !('method' in m) && m.id === related;
  }

  /** The contract's synthetic failure for a request; a plain onerror for notifications and responses. */
  private undeliverable(ex: Exchange, message: string, httpStatus?: number, sessionExpired = false): void {
    if (ex.id === undefined) {
      this.onerror?.(new UpstreamHttpError(`${message} (${ex.what})`, httpStatus, sessionExpired));
      return;
    }
    const extra = { ...(httpStatus !== undefined ? { httpStatus } : {}), ...(sessionExpired ? { sessionExpired } : {}) };
    this.deliver(transportFailure(ex.id, message, extra), ex.id);
  }

  private track(task: Promise<void>): void {
    const t = task.catch((err: unknown) => this.onerror?.(err as Error)).finally(() => this.tasks.delete(t));
    this.tasks.add(t);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const ctl of this.inflight) ctl.abort();
    this.listen = undefined;
    if (this._sessionId !== undefined) await this.deleteSession();
    await Promise.allSettled([...this.tasks]);
    await this.pool.destroy();
  }

  /** Best-effort DELETE of the legacy session, bounded by deleteTimeoutMs. */
  private async deleteSession(): Promise<void> {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.opts.deleteTimeoutMs ?? 2000);
    const headers: Record<string, string> = { ...this.base };
    this.legacyHeaders(headers);
    try {
      const res = await this.pool.request({ path: this.path, method: 'DELETE', headers, signal: ctl.signal });
      await res.body.dump();
    } catch {
      // best-effort: the server's session will time out on its own
    } finally {
      clearTimeout(timer);
    }
  }
}
