/**
 * Streamable HTTP, both eras on one endpoint. The era is chosen per request as the versioning spec says:
 * a request carrying `_meta["io.modelcontextprotocol/protocolVersion"]` is modern and served statelessly;
 * `initialize` opens a legacy session; a request with Mcp-Session-Id belongs to its legacy session.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JsonObject, JsonRpcMessage, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../../core/jsonrpc.js';
import { classify, failure, isObject, success } from '../../core/jsonrpc.js';
import { GatewayError, isGatewayError } from '../../core/errors.js';
import { ErrorCode, HEADER, LEGACY_ONLY_METHODS, META, MODERN_VERSIONS, SUPPORTED_VERSIONS, eraOf, negotiateLegacy } from '../../core/protocol.js';
import { metaOf } from '../../core/mcp.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import type { Gateway } from '../../gateway.js';
import type { Principal } from '../../pipeline/context.js';
import type { LegacySession } from '../session.js';
import { checkLimits, parseJson, readBody } from './body.js';
import { toFailure } from './errors.js';
import { Responder } from './responder.js';
import { checkStandardHeaders } from './modernHeaders.js';
import { newContext, requestPrincipal } from './context.js';
import { requestIdOf } from './requestId.js';
import { SseStream } from './sse.js';
import { StreamLog } from './streamLog.js';
import { openListen } from './listen.js';
import { serveGet } from './getStream.js';
import { Cancellation, NEVER } from '../../core/cancel.js';

const PRIME_RETRY_MS = 1000;
/** A legacy call still running after this long is answered on a resumable stream instead of plain JSON. */
const STREAM_AFTER_MS = 1000;

export class StreamableHttp {
  /** Live stream logs of legacy sessions, so a Last-Event-ID resume can attach to the stream it continues. */
  private readonly logs = new Map<string, StreamLog>();
  private streamSeq = 0;

  constructor(private readonly gw: Gateway) {}

  async handle(req: IncomingMessage, res: ServerResponse, ep: Endpoint): Promise<void> {
    switch (req.method) {
      case 'POST':
        return this.post(req, res, ep);
      case 'GET':
        return this.get(req, res, ep);
      case 'DELETE':
        return this.delete(req, res, ep);
      default:
        res.setHeader('Allow', 'GET, POST, DELETE');
        throw new GatewayError('PC_METHOD_NOT_ALLOWED');
    }
  }

  /** The HTTP edge authenticated the request before routing it here. */
  private principal(req: IncomingMessage): Principal {
    return requestPrincipal(req);
  }

  private async post(req: IncomingMessage, res: ServerResponse, ep: Endpoint): Promise<void> {
    const accept = acceptOf(req);
    if (!accept.json) throw new GatewayError('PC_BAD_ACCEPT');
    if (!isJsonContentType(req.headers['content-type'])) throw new GatewayError('PC_BAD_CONTENT_TYPE');
    const limits = this.gw.config.limits;
    const body = parseJson(await readBody(req, limits.maxBodyBytes));
    checkLimits(body, limits);
    if (Array.isArray(body)) return this.batch(req, res, ep, body, this.principal(req), accept.sse);
    const kind = classify(body);
    if (kind === 'invalid') {
      const id = isObject(body) && (typeof body.id === 'string' || typeof body.id === 'number') ? body.id : null;
      return sendJson(res, 400, failure(id, ErrorCode.InvalidRequest, 'Invalid Request: not a JSON-RPC 2.0 message'));
    }
    const msg = body as JsonRpcMessage;
    const principal = this.principal(req);
    const sessionId = header(req, HEADER.sessionId);
    const bodyVersion = 'method' in msg ? metaOf(msg.params)?.[META.protocolVersion] : undefined;
    const headerVersion = header(req, HEADER.protocolVersion);
    const modern = kind !== 'response' && (bodyVersion !== undefined || (sessionId === undefined && headerVersion !== undefined && eraOf(headerVersion) === 'modern'));
    try {
      if (modern && !(kind === 'request' && (msg as JsonRpcRequest).method === 'initialize' && bodyVersion === undefined)) {
        return await this.modern(req, res, ep, msg as JsonRpcRequest | JsonRpcNotification, bodyVersion, principal, accept.sse);
      }
      if (kind === 'request' && (msg as JsonRpcRequest).method === 'initialize') return await this.initialize(res, ep, msg as JsonRpcRequest, principal, requestIdOf(req));
      if (sessionId !== undefined) return await this.legacy(req, res, ep, msg, this.gw.sessions.get(sessionId, ep, principal.key), accept.sse, principal);
      throw new GatewayError('PC_SESSION_REQUIRED');
    } catch (e) {
      // A rejection before the pipeline answered still names the request it refuses.
      if (!isGatewayError(e) || res.headersSent) throw e;
      const { status, body: failureBody } = toFailure(e, 'id' in msg && msg.id !== null ? msg.id : null, modern ? 'modern' : 'legacy');
      sendJson(res, status === 200 ? 400 : status, failureBody);
    }
  }

  // ── modern era ──────────────────────────────────────────────────────────────────────────────────────────

  private async modern(req: IncomingMessage, res: ServerResponse, ep: Endpoint, msg: JsonRpcRequest | JsonRpcNotification, bodyVersion: unknown, principal: Principal, sse: boolean): Promise<void> {
    const id = 'id' in msg ? msg.id : null;
    const meta = metaOf(msg.params);
    const fail = (code: number, message: string, data?: unknown) => sendJson(res, 400, failure(id, code, message, data));
    if (typeof bodyVersion !== 'string') return fail(ErrorCode.InvalidParams, `Invalid params: _meta["${META.protocolVersion}"] is required`);
    // Header and body must agree before either is believed; only then is the (agreed) version judged.
    checkStandardHeaders(req.headers, msg, bodyVersion);
    if (!(MODERN_VERSIONS as readonly string[]).includes(bodyVersion)) {
      return fail(ErrorCode.UnsupportedProtocolVersion, 'Unsupported protocol version', { supported: SUPPORTED_VERSIONS, requested: bodyVersion });
    }
    const caps = meta?.[META.clientCapabilities];
    if (!isObject(caps)) return fail(ErrorCode.InvalidParams, `Invalid params: _meta["${META.clientCapabilities}"] is required`);
    if (!('id' in msg)) {
      res.writeHead(202).end();
      return;
    }
    if (LEGACY_ONLY_METHODS.has(msg.method)) throw new GatewayError('PC_METHOD_NOT_FOUND', `${msg.method} does not exist in protocol ${bodyVersion}`);

    const abort = new Cancellation();
    const clientInfo = isObject(meta?.[META.clientInfo]) ? (meta[META.clientInfo] as JsonObject) : undefined;
    const logLevel = typeof meta?.[META.logLevel] === 'string' ? (meta[META.logLevel] as string) : undefined;
    if (msg.method === 'subscriptions/listen') {
      if (!sse) throw new GatewayError('PC_BAD_ACCEPT', 'subscriptions/listen answers with an event stream');
      return openListen(this.gw, res, ep, msg, principal);
    }
    const responder = new Responder(res, {
      acceptsSse: sse,
      maxBufferedBytes: this.gw.config.limits.sseBufferBytes,
      headers: {},
      // Modern era: closing the response stream is the cancellation signal.
      onClientGone: () => abort.abort(),
    });
    const ctx = newContext(this.gw, {
      request: msg, endpoint: ep, era: 'modern', protocolVersion: bodyVersion,
      clientCapabilities: caps, clientInfo, logLevel, session: undefined, transport: 'http',
      signal: abort.signal, principal, httpHeaders: req.headers, requestId: requestIdOf(req),
      channel: { notify: (n) => responder.send(n) },
    });
    try {
      responder.finish(success(msg.id, await this.gw.run(ctx)));
    } catch (e) {
      const { status, body, headers } = toFailure(e, msg.id, 'modern');
      responder.finish(body, status, headers);
    }
  }

  // ── legacy era ──────────────────────────────────────────────────────────────────────────────────────────

  private async initialize(res: ServerResponse, ep: Endpoint, msg: JsonRpcRequest, principal: Principal, requestId: string | undefined): Promise<void> {
    const params = msg.params ?? {};
    const capabilities = isObject(params.capabilities) ? params.capabilities : {};
    const clientInfo = isObject(params.clientInfo) ? params.clientInfo : undefined;
    const version = negotiateLegacy(params.protocolVersion);
    const ctx = newContext(this.gw, {
      request: msg, endpoint: ep, era: 'legacy', protocolVersion: version, clientCapabilities: capabilities,
      clientInfo, logLevel: undefined, session: undefined, transport: 'http', signal: NEVER,
      principal, requestId, channel: { notify: () => {} },
    });
    let result: JsonObject;
    try {
      result = await this.gw.run(ctx);
    } catch (e) {
      const { status, body, headers } = toFailure(e, msg.id, 'legacy');
      return sendJson(res, status, body, headers);
    }
    const session = await this.gw.sessions.create(ep, principal.key, String(result.protocolVersion), capabilities, clientInfo);
    sendJson(res, 200, success(msg.id, result), { 'Mcp-Session-Id': session.id });
  }

  private async legacy(req: IncomingMessage, res: ServerResponse, ep: Endpoint, msg: JsonRpcMessage, session: LegacySession, sse: boolean, principal: Principal): Promise<void> {
    const v = header(req, HEADER.protocolVersion);
    if (v !== undefined && eraOf(v) !== 'legacy') throw new GatewayError('PC_INVALID_REQUEST', `Bad Request: unsupported MCP-Protocol-Version '${v}' (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
    if (!('method' in msg)) {
      session.resolveResponse(msg as JsonRpcResponse);
      res.writeHead(202).end();
      return;
    }
    if (!('id' in msg)) {
      this.legacyNotification(session, msg);
      res.writeHead(202).end();
      return;
    }
    const request = msg as JsonRpcRequest;
    let log: StreamLog | undefined;
    const responder = new Responder(res, {
      acceptsSse: sse,
      maxBufferedBytes: this.gw.config.limits.sseBufferBytes,
      headers: { 'Mcp-Session-Id': session.id },
      openLog: () => (log = this.newLog(session)),
      primeRetryMs: session.protocolVersion >= '2025-11-25' ? PRIME_RETRY_MS : undefined,
      streamAfterMs: STREAM_AFTER_MS,
    });
    const sink = (m: JsonRpcMessage) => { responder.send(m); return true; };
    try {
      const out = await this.runLegacy(ep, session, request, principal, (n) => responder.send(n), sse ? sink : undefined, requestIdOf(req));
      // A cancelled request gets no response (the client said it no longer wants one).
      if (!out) return responder.end();
      responder.finish(out.response, responder.streaming ? 200 : out.status, out.headers);
    } finally {
      // A streamed response stays resumable for a while after it finished.
      if (log) { const id = log.streamId; setTimeout(() => this.logs.delete(id), 60_000).unref(); }
    }
  }

  /** Runs one legacy request through the pipeline; undefined when the client cancelled it. */
  private async runLegacy(
    ep: Endpoint, session: LegacySession, request: JsonRpcRequest, principal: Principal,
    notify: (n: JsonRpcNotification) => void, sink: ((m: JsonRpcMessage) => boolean) | undefined, requestId: string | undefined,
  ): Promise<{ response: JsonRpcResponse; status: number; headers?: Readonly<Record<string, string>> | undefined } | undefined> {
    const abort = new Cancellation();
    const key = String(request.id);
    session.inflight.set(key, abort);
    const ctx = newContext(this.gw, {
      request, endpoint: ep, era: 'legacy', protocolVersion: session.protocolVersion,
      clientCapabilities: session.clientCapabilities, clientInfo: session.clientInfo, logLevel: session.logLevel,
      session, transport: 'http', signal: abort.signal, principal, requestId,
      channel: { notify, request: (method, params, signal) => session.request(method, params, signal, sink) },
    });
    try {
      return { response: success(request.id, await this.gw.run(ctx)), status: 200 };
    } catch (e) {
      if (abort.signal.aborted) return undefined;
      const { status, body, headers } = toFailure(e, request.id, 'legacy');
      return { response: body, status, headers };
    } finally {
      session.inflight.delete(key);
    }
  }

  /**
   * A JSON-RPC batch, which only 2025-03-26 allowed (and never with initialize). Requests run concurrently; with
   * SSE accepted, interim messages and responses stream as they come, otherwise one JSON array answers them all.
   */
  private async batch(req: IncomingMessage, res: ServerResponse, ep: Endpoint, items: unknown[], principal: Principal, sse: boolean): Promise<void> {
    const sessionId = header(req, HEADER.sessionId);
    if (sessionId === undefined) throw new GatewayError('PC_BATCH');
    const session = this.gw.sessions.get(sessionId, ep, principal.key);
    if (session.protocolVersion !== '2025-03-26') throw new GatewayError('PC_BATCH', `protocol ${session.protocolVersion} has no batches`);
    if (items.length === 0 || items.length > this.gw.config.limits.maxArrayLength) throw new GatewayError('PC_INVALID_REQUEST', 'empty or oversized batch');
    const responses: JsonRpcResponse[] = [];
    const requests: JsonRpcRequest[] = [];
    for (const item of items) {
      const kind = classify(item);
      if (kind === 'invalid') responses.push(failure(null, ErrorCode.InvalidRequest, 'Invalid Request: not a JSON-RPC 2.0 message'));
      else if (kind === 'response') session.resolveResponse(item as JsonRpcResponse);
      else if (kind === 'notification') this.legacyNotification(session, item as JsonRpcNotification);
      else if ((item as JsonRpcRequest).method === 'initialize') responses.push(failure((item as JsonRpcRequest).id, ErrorCode.InvalidRequest, 'initialize must not be part of a batch'));
      else requests.push(item as JsonRpcRequest);
    }
    if (requests.length === 0 && responses.length === 0) { res.writeHead(202).end(); return; }
    const stream = sse ? new SseStream(res, { maxBufferedBytes: this.gw.config.limits.sseBufferBytes }, { 'Mcp-Session-Id': session.id }) : undefined;
    const emit = (m: JsonRpcMessage) => { if (stream) return stream.send(JSON.stringify(m)); return false; };
    for (const r of responses) emit(r);
    await Promise.all(requests.map(async (r) => {
      const out = await this.runLegacy(ep, session, r, principal, (n) => { emit(n); }, stream ? emit : undefined, requestIdOf(req));
      if (!out) return;
      if (stream) emit(out.response); else responses.push(out.response);
    }));
    if (stream) stream.end();
    else sendJson(res, 200, responses, { 'Mcp-Session-Id': session.id });
  }

  private legacyNotification(session: LegacySession, n: JsonRpcNotification): void {
    switch (n.method) {
      case 'notifications/initialized':
        session.initialized = true;
        return;
      case 'notifications/cancelled': {
        const id = n.params?.requestId;
        if (id !== undefined) session.inflight.get(String(id))?.abort();
        return;
      }
      case 'notifications/roots/list_changed':
        // Only dedicated (per-session) upstream connections know this client's roots.
        for (const m of session.endpoint.members) {
          if (m.config.connection === 'per-session') void m.acquire(session.id).then((c) => c.notify(n.method)).catch(() => {});
        }
        return;
      default:
        return;
    }
  }

  private newLog(session: LegacySession): StreamLog {
    const log = new StreamLog(this.gw.storage.events, session.id, `s${++this.streamSeq}`);
    this.logs.set(log.streamId, log);
    return log;
  }

  /** GET: the legacy standalone stream, or the resumption of a stream with Last-Event-ID. */
  private async get(req: IncomingMessage, res: ServerResponse, ep: Endpoint): Promise<void> {
    if (!acceptOf(req).sse) throw new GatewayError('PC_BAD_ACCEPT', 'GET needs Accept: text/event-stream');
    const sessionId = header(req, HEADER.sessionId);
    if (sessionId === undefined) {
      res.setHeader('Allow', 'POST');
      // Modern-era servers have no GET stream (405); legacy clients must name their session.
      if (header(req, HEADER.protocolVersion) && eraOf(header(req, HEADER.protocolVersion)!) === 'modern') throw new GatewayError('PC_METHOD_NOT_ALLOWED');
      throw new GatewayError('PC_SESSION_REQUIRED');
    }
    const session = this.gw.sessions.get(sessionId, ep, this.principal(req).key);
    await serveGet(this.gw, this.logs, session, res, header(req, HEADER.lastEventId));
  }

  private async delete(req: IncomingMessage, res: ServerResponse, ep: Endpoint): Promise<void> {
    const sessionId = header(req, HEADER.sessionId);
    if (sessionId === undefined) throw new GatewayError('PC_SESSION_REQUIRED');
    this.gw.sessions.get(sessionId, ep, this.principal(req).key);
    await this.gw.sessions.end(sessionId);
    res.writeHead(200).end();
  }
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function acceptOf(req: IncomingMessage): { json: boolean; sse: boolean } {
  const a = (req.headers.accept ?? '*/*').toLowerCase();
  const types = a.split(',').map((t) => t.split(';')[0]!.trim());
  const any = types.includes('*/*');
  return { json: any || types.includes('application/json') || types.includes('application/*'), sse: types.includes('text/event-stream') };
}

/** Media type compared exactly (no substring matching: "application/jsonx" is not JSON). */
function isJsonContentType(ct: string | undefined): boolean {
  if (!ct) return false;
  return ct.split(';')[0]!.trim().toLowerCase() === 'application/json';
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
