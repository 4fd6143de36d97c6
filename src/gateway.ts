/**
 * Wiring: builds upstreams, endpoints, storage, the pipeline and the transports from a validated config.
 * Everything with a lifetime is created here and closed here, in reverse order.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { GatewayConfig, UpstreamConfig } from './config/types.js';
import type { Logger } from './core/log.js';
import type { JsonObject } from './core/jsonrpc.js';
import { openStorage } from './storage/index.js';
import type { Storage } from './storage/types.js';
import { Upstream } from './upstream/upstream.js';
import type { UpstreamWire } from './upstream/wire.js';
import { wireFactory } from './upstream/createWire.js';
import type { Endpoint } from './endpoint/endpoint.js';
import { NotificationHub } from './endpoint/notifications.js';
import { RequestStateCodec, generateStateKey } from './bridge/requestState.js';
import { HeldCallRegistry } from './bridge/heldCalls.js';
import { compose } from './pipeline/pipeline.js';
import type { RequestContext } from './pipeline/context.js';
import { audit } from './pipeline/stages/audit.js';
import { authenticate } from './pipeline/stages/authenticate.js';
import { route } from './pipeline/stages/route.js';
import { validate } from './pipeline/stages/validate.js';
import { upstreamStage } from './pipeline/stages/upstream.js';
import { SessionManager } from './transport/session.js';
import { startHttpServer, type HttpServerHandle } from './transport/http/server.js';

export interface GatewayOptions {
  logger: Logger;
  /** Tests inject storage or wires; production uses the configured ones. */
  storage?: Storage;
  createWire?: (name: string, config: UpstreamConfig) => UpstreamWire;
}

export class Gateway {
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly endpoints: readonly Endpoint[];
  readonly hub: NotificationHub;
  readonly sessions: SessionManager;
  readonly held: HeldCallRegistry;
  readonly codec: RequestStateCodec;
  readonly run: (ctx: RequestContext) => Promise<JsonObject>;

  private constructor(readonly config: GatewayConfig, readonly storage: Storage, readonly log: Logger, createWire: GatewayOptions['createWire'] & {}) {
    const upstreams = new Map<string, Upstream>();
    for (const [name, cfg] of Object.entries(config.upstreams)) upstreams.set(name, new Upstream(name, cfg, { logger: log, createWire }));
    this.upstreams = upstreams;
    const endpoints: Endpoint[] = [];
    for (const [name, u] of upstreams) {
      endpoints.push({ key: `server:${name}`, name, kind: 'server', members: [u], path: `/servers/${name}/mcp`, description: u.config.description });
    }
    for (const [name, v] of Object.entries(config.virtualServers)) {
      endpoints.push({ key: `virtual:${name}`, name, kind: 'virtual', members: v.upstreams.map((n) => upstreams.get(n)!), path: `/virtual/${name}/mcp`, description: v.description });
    }
    this.endpoints = endpoints;
    this.hub = new NotificationHub([...upstreams.values()], log);
    this.codec = new RequestStateCodec(loadStateKey(config.server.dataDir, storage.driver));
    this.held = new HeldCallRegistry(storage.kv);
    this.sessions = new SessionManager(config.sessions, storage, this.hub, log, async (s) => {
      // Per-session upstream connections end with their session.
      await Promise.allSettled(s.endpoint.members.map((m) => m.release(s.id)));
    });
    this.run = compose([audit, authenticate, route, validate, upstreamStage({ codec: this.codec, held: this.held, hub: this.hub })]);
  }

  static async create(config: GatewayConfig, opts: GatewayOptions): Promise<Gateway> {
    const storage = opts.storage ?? await openStorage(config.storage, { replayEvents: config.sessions.replayEvents });
    const gw = new Gateway(config, storage, opts.logger, opts.createWire ?? wireFactory(opts.logger));
    // Upstreams connect in the background: a slow or broken server never delays or fails the gateway's start.
    for (const u of gw.upstreams.values()) void u.start();
    return gw;
  }

  private readonly shutdownHooks = new Set<() => void>();

  /** Long-lived streams register a graceful goodbye for shutdown; the returned function unregisters it. */
  onShutdown(hook: () => void): () => void {
    this.shutdownHooks.add(hook);
    return () => this.shutdownHooks.delete(hook);
  }

  /** The endpoint `/mcp` (and `/sse`) serves: the virtual server "default", else the only upstream. */
  get defaultEndpoint(): Endpoint | undefined {
    return this.endpoints.find((e) => e.key === 'virtual:default') ?? (this.upstreams.size === 1 ? this.endpoints[0] : undefined);
  }

  async close(): Promise<void> {
    for (const hook of [...this.shutdownHooks]) { try { hook(); } catch { /* a closed stream */ } }
    this.shutdownHooks.clear();
    await this.sessions.close();
    await this.held.close();
    this.hub.close();
    await Promise.allSettled([...this.upstreams.values()].map((u) => u.close()));
    await this.storage.close();
  }
}

/**
 * The key that seals requestState. Generated once and kept in the data folder (0600), so states survive a
 * restart; replicas sharing distributed storage must share the file (or set PORTCULLIS_STATE_KEY, base64).
 */
function loadStateKey(dataDir: string, driver: string): Buffer {
  const fromEnv = process.env.PORTCULLIS_STATE_KEY;
  if (fromEnv) return Buffer.from(fromEnv, 'base64');
  if (driver === 'memory') return generateStateKey();
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'state.key');
  if (existsSync(file)) return Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  const key = generateStateKey();
  writeFileSync(file, key.toString('base64'), { mode: 0o600 });
  chmodSync(file, 0o600);
  return key;
}

export interface RunningGateway {
  url: string;
  gateway: Gateway;
  http: HttpServerHandle;
  close(): Promise<void>;
}

/** Starts the gateway and its HTTP listener; what `portcullis serve` runs. */
export async function startGateway(config: GatewayConfig, opts: GatewayOptions): Promise<RunningGateway> {
  const gateway = await Gateway.create(config, opts);
  const http = await startHttpServer(gateway);
  return {
    url: http.url,
    gateway,
    http,
    async close() {
      await http.close();
      await gateway.close();
    },
  };
}
