/**
 * The deprecated HTTP+SSE transport (2024-11-05), kept for old clients: GET `…/sse` opens the stream and
 * names a message endpoint in its first `endpoint` event; the client POSTs every message there and every
 * answer comes back on the stream.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JsonRpcMessage, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../../core/jsonrpc.js';
import { classify, failure, isObject, success } from '../../core/jsonrpc.js';
import { GatewayError } from '../../core/errors.js';
import { ErrorCode, negotiateLegacy } from '../../core/protocol.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import type { Gateway } from '../../gateway.js';
import type { LegacySession } from '../session.js';
import { checkLimits, parseJson, readBody } from './body.js';
import { toFailure } from './errors.js';
import { newContext, requestPrincipal } from './context.js';
import type { Principal } from '../../pipeline/context.js';
import { SseStream } from './sse.js';
import { Cancellation, NEVER } from '../../core/cancel.js';

interface Connection {
  stream: SseStream;
  endpoint: Endpoint;
  /** Who opened the stream: every message POSTed to it must come from the same principal. */
  principal: Principal;
  session: LegacySession | undefined;
}

export class LegacySseTransport {
  private readonly connections = new Map<string, Connection>();

  constructor(private readonly gw: Gateway) {}

  get size(): number { return this.connections.size; }

  open(req: IncomingMessage, res: ServerResponse, ep: Endpoint, messagesPath: string): void {
    if (req.method !== 'GET') { res.setHeader('Allow', 'GET'); throw new GatewayError('PC_METHOD_NOT_ALLOWED'); }
    if (this.connections.size >= this.gw.config.sessions.max) throw new GatewayError('PC_SESSION_CAP');
    const id = randomBytes(24).toString('base64url');
    const stream = new SseStream(res, {
      maxBufferedBytes: this.gw.config.limits.sseBufferBytes,
      keepAliveMs: 15_000,
      onClose: () => {
        const c = this.connections.get(id);
        this.connections.delete(id);
        if (c?.session) void this.gw.sessions.end(c.session.id);
      },
    });
    this.connections.set(id, { stream, endpoint: ep, principal: requestPrincipal(req), session: undefined });
    res.write(`event: endpoint\ndata: ${messagesPath}?sessionId=${id}\n\n`);
  }

  async message(req: IncomingMessage, res: ServerResponse, ep: Endpoint): Promise<void> {
    if (req.method !== 'POST') { res.setHeader('Allow', 'POST'); throw new GatewayError('PC_METHOD_NOT_ALLOWED'); }
    const id = new URL(req.url ?? '/', 'http://x').searchParams.get('sessionId') ?? '';
    const conn = this.connections.get(id);
    // Another principal's stream id answers exactly like an unknown one.
    if (!conn || conn.endpoint !== ep || conn.principal.key !== requestPrincipal(req).key) throw new GatewayError('PC_SESSION_UNKNOWN');
    const limits = this.gw.config.limits;
    const body = parseJson(await readBody(req, limits.maxBodyBytes));
    if (Array.isArray(body)) throw new GatewayError('PC_BATCH');
    checkLimits(body, limits);
    if (classify(body) === 'invalid') throw new GatewayError('PC_INVALID_REQUEST');
    res.writeHead(202).end('Accepted');
    void this.dispatch(conn, body as JsonRpcMessage).catch((e: Error) => this.gw.log.warn({ err: e.message }, 'HTTP+SSE message failed'));
  }

  private send(conn: Connection, m: JsonRpcMessage): boolean {
    return conn.stream.send(JSON.stringify(m));
  }

  private async dispatch(conn: Connection, msg: JsonRpcMessage): Promise<void> {
    const s = conn.session;
    if (!('method' in msg)) { s?.resolveResponse(msg as JsonRpcResponse); return; }
    if (!('id' in msg)) {
      const n = msg as JsonRpcNotification;
      if (n.method === 'notifications/cancelled' && n.params?.requestId !== undefined) s?.inflight.get(String(n.params.requestId))?.abort();
      if (n.method === 'notifications/initialized' && s) s.initialized = true;
      return;
    }
    const request = msg as JsonRpcRequest;
    if (request.method === 'initialize') return this.initialize(conn, request);
    if (!s) { this.send(conn, failure(request.id, ErrorCode.InvalidRequest, 'Session not initialized')); return; }
    const abort = new Cancellation();
    s.inflight.set(String(request.id), abort);
    const sink = (m: JsonRpcMessage) => this.send(conn, m);
    const ctx = newContext(this.gw, {
      request, endpoint: conn.endpoint, era: 'legacy', protocolVersion: s.protocolVersion,
      clientCapabilities: s.clientCapabilities, clientInfo: s.clientInfo, logLevel: s.logLevel, session: s,
      transport: 'http+sse', signal: abort.signal, principal: conn.principal,
      channel: { notify: (n) => { sink(n); }, request: (method, params, signal) => s.request(method, params, signal, sink) },
    });
    try {
      this.send(conn, success(request.id, await this.gw.run(ctx)));
    } catch (e) {
      if (!abort.signal.aborted) this.send(conn, toFailure(e, request.id, 'legacy').body);
    } finally {
      s.inflight.delete(String(request.id));
    }
  }

  private async initialize(conn: Connection, request: JsonRpcRequest): Promise<void> {
    if (conn.session) { this.send(conn, failure(request.id, ErrorCode.InvalidRequest, 'Already initialized')); return; }
    const params = request.params ?? {};
    const capabilities = isObject(params.capabilities) ? params.capabilities : {};
    const clientInfo = isObject(params.clientInfo) ? params.clientInfo : undefined;
    const ctx = newContext(this.gw, {
      request, endpoint: conn.endpoint, era: 'legacy', protocolVersion: negotiateLegacy(params.protocolVersion),
      clientCapabilities: capabilities, clientInfo, logLevel: undefined, session: undefined, transport: 'http+sse',
      signal: NEVER, principal: conn.principal, channel: { notify: () => {} },
    });
    try {
      const result = await this.gw.run(ctx);
      const session = await this.gw.sessions.create(conn.endpoint, conn.principal.key, String(result.protocolVersion), capabilities, clientInfo);
      conn.session = session;
      session.standalone = (m) => this.send(conn, m);
      this.send(conn, success(request.id, result));
    } catch (e) {
      this.send(conn, toFailure(e, request.id, 'legacy').body);
    }
  }

  close(): void {
    for (const c of this.connections.values()) c.stream.end();
    this.connections.clear();
  }
}
