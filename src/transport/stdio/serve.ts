/**
 * The gateway as a stdio MCP server, for hosts that only spawn processes. Both eras: `initialize` starts the one
 * legacy session of this process; a request with modern `_meta` is served statelessly. stdout carries JSON-RPC
 * only (logs go to stderr). Returns when stdin ends, after closing everything.
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { GatewayConfig } from '../../config/types.js';
import type { Logger } from '../../core/log.js';
import type { JsonObject, JsonRpcMessage, JsonRpcNotification, JsonRpcRequest, JsonRpcResponse } from '../../core/jsonrpc.js';
import { classify, failure, isObject, success } from '../../core/jsonrpc.js';
import { GatewayError } from '../../core/errors.js';
import { ErrorCode, LEGACY_ONLY_METHODS, META, MODERN_VERSIONS, SUPPORTED_VERSIONS, negotiateLegacy } from '../../core/protocol.js';
import { metaOf } from '../../core/mcp.js';
import { Gateway } from '../../gateway.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import { subscribe } from '../../endpoint/subscription.js';
import { LOCAL_PRINCIPAL } from '../../pipeline/stages/authenticate.js';
import type { LegacySession } from '../session.js';
import { checkLimits } from '../http/body.js';
import { toFailure } from '../http/errors.js';
import { newContext } from '../http/context.js';
import { Cancellation, NEVER } from '../../core/cancel.js';

export interface StdioOptions {
  logger: Logger;
  target: { kind: 'server' | 'virtual'; name: string };
  input?: Readable;
  output?: Writable;
}

export async function serveStdio(config: GatewayConfig, opts: StdioOptions): Promise<void> {
  const gw = await Gateway.create(config, { logger: opts.logger });
  const ep = gw.endpoints.find((e) => e.key === `${opts.target.kind}:${opts.target.name}`);
  if (!ep) { await gw.close(); throw new Error(`no endpoint ${opts.target.kind}:${opts.target.name}`); }
  const server = new StdioServer(gw, ep, opts.output ?? process.stdout);
  const lines = createInterface({ input: opts.input ?? process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim()) server.receive(line);
  }
  await server.drain();
  await gw.close();
}

class StdioServer {
  private session: LegacySession | undefined;
  private readonly inflight = new Map<string, Cancellation>();
  private readonly listens = new Map<string, () => void>();
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly gw: Gateway, private readonly ep: Endpoint, private readonly out: Writable) {}

  private write(m: JsonRpcMessage): boolean {
    this.out.write(`${JSON.stringify(m)}\n`);
    return true;
  }

  receive(line: string): void {
    const limits = this.gw.config.limits;
    let msg: unknown;
    try {
      if (Buffer.byteLength(line) > limits.maxBodyBytes) throw new GatewayError('PC_BODY_TOO_LARGE');
      msg = JSON.parse(line);
      if (Array.isArray(msg)) throw new GatewayError('PC_BATCH');
      checkLimits(msg, limits);
    } catch (e) {
      const err = e instanceof SyntaxError ? new GatewayError('PC_PARSE', e.message) : e;
      this.write(toFailure(err, null, 'legacy').body);
      return;
    }
    const kind = classify(msg);
    if (kind === 'invalid') { this.write(failure(null, ErrorCode.InvalidRequest, 'Invalid Request')); return; }
    if (kind === 'response') { this.session?.resolveResponse(msg as JsonRpcResponse); return; }
    if (kind === 'notification') return this.notification(msg as JsonRpcNotification);
    const p = this.request(msg as JsonRpcRequest).catch((e: Error) => this.gw.log.error({ err: e.stack }, 'stdio request failed'));
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  async drain(): Promise<void> {
    await Promise.allSettled([...this.running]);
    for (const stop of this.listens.values()) stop();
  }

  private notification(n: JsonRpcNotification): void {
    if (n.method === 'notifications/cancelled') {
      const id = String(n.params?.requestId);
      this.inflight.get(id)?.abort();
      this.listens.get(id)?.();
    } else if (n.method === 'notifications/initialized' && this.session) {
      this.session.initialized = true;
    }
  }

  private async request(req: JsonRpcRequest): Promise<void> {
    const meta = metaOf(req.params);
    const version = meta?.[META.protocolVersion];
    try {
      if (version !== undefined && req.method !== 'initialize') return await this.modern(req, version, meta!);
      if (req.method === 'initialize') return await this.initialize(req);
      if (!this.session) throw new GatewayError('PC_NOT_INITIALIZED', 'send initialize first, or use per-request _meta (2026-07-28)');
      await this.legacy(req, this.session);
    } catch (e) {
      this.write(toFailure(e, req.id, version !== undefined ? 'modern' : 'legacy').body);
    }
  }

  private async initialize(req: JsonRpcRequest): Promise<void> {
    if (this.session) throw new GatewayError('PC_ALREADY_INITIALIZED');
    const params = req.params ?? {};
    const caps = isObject(params.capabilities) ? params.capabilities : {};
    const info = isObject(params.clientInfo) ? params.clientInfo : undefined;
    const ctx = newContext(this.gw, {
      request: req, endpoint: this.ep, era: 'legacy', protocolVersion: negotiateLegacy(params.protocolVersion),
      clientCapabilities: caps, clientInfo: info, logLevel: undefined, session: undefined, transport: 'stdio',
      signal: NEVER, principal: LOCAL_PRINCIPAL, channel: { notify: () => {} },
    });
    const result = await this.gw.run(ctx);
    this.session = await this.gw.sessions.create(this.ep, LOCAL_PRINCIPAL.key, String(result.protocolVersion), caps, info);
    this.session.standalone = (m) => this.write(m);
    this.write(success(req.id, result));
  }

  private async legacy(req: JsonRpcRequest, s: LegacySession): Promise<void> {
    const abort = new Cancellation();
    this.inflight.set(String(req.id), abort);
    const sink = (m: JsonRpcMessage) => this.write(m);
    const ctx = newContext(this.gw, {
      request: req, endpoint: this.ep, era: 'legacy', protocolVersion: s.protocolVersion, clientCapabilities: s.clientCapabilities,
      clientInfo: s.clientInfo, logLevel: s.logLevel, session: s, transport: 'stdio', signal: abort.signal, principal: LOCAL_PRINCIPAL,
      channel: { notify: (n) => { sink(n); }, request: (method, params, signal) => s.request(method, params, signal, sink) },
    });
    try {
      this.write(success(req.id, await this.gw.run(ctx)));
    } catch (e) {
      if (!abort.signal.aborted) throw e; // a cancelled request gets no response
    } finally {
      this.inflight.delete(String(req.id));
    }
  }

  private async modern(req: JsonRpcRequest, version: unknown, meta: JsonObject): Promise<void> {
    if (typeof version !== 'string') throw new GatewayError('PC_INVALID_PARAMS', `_meta["${META.protocolVersion}"] must be a string`);
    if (!(MODERN_VERSIONS as readonly string[]).includes(version)) {
      this.write(failure(req.id, ErrorCode.UnsupportedProtocolVersion, 'Unsupported protocol version', { supported: SUPPORTED_VERSIONS, requested: version }));
      return;
    }
    const caps = meta[META.clientCapabilities];
    if (!isObject(caps)) throw new GatewayError('PC_INVALID_PARAMS', `_meta["${META.clientCapabilities}"] is required`);
    if (LEGACY_ONLY_METHODS.has(req.method)) throw new GatewayError('PC_METHOD_NOT_FOUND', req.method);
    if (req.method === 'subscriptions/listen') return this.listen(req);
    const abort = new Cancellation();
    this.inflight.set(String(req.id), abort);
    const ctx = newContext(this.gw, {
      request: req, endpoint: this.ep, era: 'modern', protocolVersion: version, clientCapabilities: caps,
      clientInfo: isObject(meta[META.clientInfo]) ? (meta[META.clientInfo] as JsonObject) : undefined,
      logLevel: typeof meta[META.logLevel] === 'string' ? (meta[META.logLevel] as string) : undefined,
      session: undefined, transport: 'stdio', signal: abort.signal, principal: LOCAL_PRINCIPAL,
      channel: { notify: (n) => { this.write(n); } },
    });
    try {
      this.write(success(req.id, await this.gw.run(ctx)));
    } catch (e) {
      if (!abort.signal.aborted) throw e;
    } finally {
      this.inflight.delete(String(req.id));
    }
  }

  /** stdio listen: notifications share the channel, so each carries the subscription id; cancel ends it. */
  private async listen(req: JsonRpcRequest): Promise<void> {
    const sub = await subscribe(this.gw.hub, this.ep, req.id, req.params, (n) => { this.write(n); }, (uri) => this.gw.subscribable(LOCAL_PRINCIPAL, this.ep, uri));
    this.write(sub.acknowledgment);
    const stop = sub.start();
    this.listens.set(String(req.id), () => { stop(); this.listens.delete(String(req.id)); });
  }
}
