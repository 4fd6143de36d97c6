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
import type { UpstreamTlsConfig } from '../../config/types.js';
import type { CancelSignal } from '../../core/cancel.js';
import {
  createPool, discard, encodeHeaderValue, errorBodyOf, errText, header, mediaType, modernVersionOf,
  normalizeHeaders, parseMessages, readText, sleep, transportFailure, UpstreamHttpError, type ResponseBody,
} from './httpShared.js';
import { SseParser, type SseEvent } from './sseParser.js';

export { encodeHeaderValue, UpstreamHttpError };

export interface HttpWireOptions {
  url: string | URL;
  /** Sent on every request (e.g. Authorization); protocol headers take precedence. */
  headers?: Readonly<Record<string, string>>;
  /**
   * Per-user credentials: the Bearer token for each request, asked for per request (so a refresh applies at once).
   * On a 401 the wire asks again with the refused token and, when it gets another, resends once.
   */
  authorization?: (rejected?: string) => Promise<string>;
  logger?: Logger;
  name?: string;
  /** Trust anchors and client certificate for an https URL (files are read when the wire is made). */
  tls?: UpstreamTlsConfig;
  /** A host name may resolve to loopback/private addresses (an internal DNS name); see src/egress. */
  allowPrivateNetworks?: boolean;
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
    this.pool = createPool(url, opts.connections, opts.tls, opts.allowPrivateNetworks === true);
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
      // Extras (a traceparent) first here too, so the session headers below win.
      if (opts?.headers) for (const [k, v] of Object.entries(opts.headers)) headers[k.toLowerCase()] = v;
      ex.sentSession = this.legacyHeaders(headers);
    }
    // A token the provider cannot give (the user's account is gone) fails this request like an unreachable server.
    let token: string | undefined;
    try {
      token = await this.authorize(headers);
    } catch (err) {
      this.undeliverable(ex, `Upstream credentials: ${errText(err)}`);
      return;
    }
    // The caller's signal is used as is (one controller per call, not two); close() still ends such calls by
    // destroying the pool. Only calls without a signal get one of the wire's own.
    const own = opts?.signal ? undefined : new AbortController();
    const ctl = { signal: opts?.signal ?? own!.signal };
    if (own) this.inflight.add(own);
    const done = (): void => {
      if (own) this.inflight.delete(own);
    };
    let streaming = false;
    try {
      // undici takes any signal with `aborted` and addEventListener/removeEventListener (a Cancellation included).
      const body = JSON.stringify(message);
      let res = await this.pool.request({ path: this.path, method: 'POST', headers, body, signal: ctl.signal as AbortSignal });
      if (res.statusCode === 401 && token !== undefined) {
        // The upstream refused the token (expired early, or revoked): one fresh token, one retry.
        const fresh = await this.authorize(headers, token).catch(() => undefined);
        if (fresh !== undefined && fresh !== token) {
          discard(res.body);
          res = await this.pool.request({ path: this.path, method: 'POST', headers, body, signal: ctl.signal as AbortSignal });
        }
      }
      if (!ex.modern && ex.what === 'initialize' && res.statusCode < 300) {
        const sid = header(res.headers, HEADER.sessionId);
        if (sid) this._sessionId = sid;
      }
      streaming = await this.onPostResponse(res.statusCode, res.headers, res.body, ex, ctl.signal, done);
    } catch (err) {
      if (!ctl.signal.aborted && !this.closed) this.undeliverable(ex, `Upstream request failed: ${errText(err)}`);
    } finally {
      if (!streaming) done();
    }
  }

  /** Handles a POST's answer; returns true when an SSE stream was handed to a background pump (which calls done). */
  private async onPostResponse(
    status: number, headers: Parameters<typeof header>[0], body: ResponseBody, ex: Exchange, signal: CancelSignal, done: () => void,
  ): Promise<boolean> {
    if (status >= 200 && status < 300) {
      if (ex.id === undefined) {
        discard(body);
        return false;
      }
      const type = mediaType(headers);
      if (type === 'text/event-stream') {
        this.track(this.pumpRequest(body, ex, signal).finally(done));
        return true;
      }
      if (type !== 'application/json') {
        discard(body);
        this.undeliverable(ex, `Upstream HTTP ${status} with unexpected content type "${type}"`, status);
        return false;
      }
      const { messages, bad } = parseMessages(await readText(body, this.maxBody));
      if (bad > 0) this.onerror?.(new Error(`Upstream "${this.name}" sent ${bad} invalid JSON-RPC message(s)`));
      let answered = false;
      for (const m of messages) if (this.deliver(m, ex.id)) answered = true;
      if (!answered) this.undeliverable(ex, 'Upstream answered without a response to the request', status);
      return false;
    }
    const text = await readText(body, Math.min(this.maxBody, 1024 * 1024)).catch(() => '');
    const expired = status === 404 && ex.sentSession;
    const errBody = expired || ex.id === undefined ? undefined : errorBodyOf(text);
    if (errBody && ex.id !== undefined) this.deliver({ ...errBody, id: ex.id }, ex.id);
    else this.undeliverable(ex, `Upstream HTTP ${status}`, status, expired);
    return false;
  }

  /** Reads a request's SSE stream; in the legacy era resumes it with GET + Last-Event-ID until the response came. */
  private async pumpRequest(first: ResponseBody, ex: Exchange, signal: CancelSignal): Promise<void> {
    const id = ex.id as JsonRpcId;
    let answered = false;
    let retryMs: number | undefined;
    let failures = 0;
    const parser = this.parser((m) => { if (this.deliver(m, id)) answered = true; }, (ms) => { retryMs = ms; });
    let body: ResponseBody | undefined = first;
    for (;;) {
      const before = parser.lastEventId;
      if (body) await this.drainInto(body, parser, signal);
      if (signal.aborted || this.closed || answered) return;
      if (ex.modern || !parser.lastEventId) return this.undeliverable(ex, 'Upstream stream ended before the response');
      failures = parser.lastEventId !== before ? 0 : failures + 1;
      const max = this.opts.maxResumeAttempts ?? 3;
      if (failures >= max) return this.undeliverable(ex, `Upstream stream lost; ${max} resumption attempts made no progress`);
      if (!(await sleep(this.delay(retryMs, failures), signal))) return;
      const res = await this.get(signal, parser.lastEventId).catch((err: unknown) => {
        if (!signal.aborted) this.onerror?.(new Error(`Upstream "${this.name}" resumption failed: ${errText(err)}`));
        return undefined;
      });
      if (signal.aborted || this.closed) return;
      body = undefined;
      if (!res) continue;
      if (res.body) body = res.body;
      else return this.undeliverable(ex, `Upstream HTTP ${res.status}`, res.status, res.expired);
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
  private async pumpListen(first: ResponseBody, signal: CancelSignal): Promise<void> {
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
  private async get(signal: CancelSignal, lastEventId?: string): Promise<{ body?: ResponseBody; status: number; expired: boolean }> {
    const headers: Record<string, string> = { ...this.base, accept: 'text/event-stream' };
    const sentSession = this.legacyHeaders(headers);
    await this.authorize(headers);
    if (lastEventId) headers[HEADER.lastEventId] = lastEventId;
    const res = await this.pool.request({ path: this.path, method: 'GET', headers, signal });
    const ok = res.statusCode >= 200 && res.statusCode < 300 && mediaType(res.headers) === 'text/event-stream';
    if (ok) return { body: res.body, status: res.statusCode, expired: false };
    discard(res.body);
    return { status: res.statusCode, expired: res.statusCode === 404 && sentSession };
  }

  /** Sets the per-user Authorization header when the wire has a provider; returns the token used. */
  private async authorize(headers: Record<string, string>, rejected?: string): Promise<string | undefined> {
    if (!this.opts.authorization) return undefined;
    const token = await this.opts.authorization(rejected);
    headers.authorization = `Bearer ${token}`;
    return token;
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
  private drainInto(body: ResponseBody, parser: SseParser, signal: CancelSignal, onChunk?: () => void): Promise<void> {
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
      await this.authorize(headers);
      const res = await this.pool.request({ path: this.path, method: 'DELETE', headers, signal: ctl.signal });
      await res.body.dump();
    } catch {
      // best-effort: the server's session will time out on its own
    } finally {
      clearTimeout(timer);
    }
  }
}
