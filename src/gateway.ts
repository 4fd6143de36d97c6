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
import { compose, type NamedStage } from './pipeline/pipeline.js';
import type { Principal, RequestContext } from './pipeline/context.js';
import { auditStage } from './pipeline/stages/audit.js';
import type { AuditLog } from './audit/log.js';
import { openAuditLog } from './audit/open.js';
import { authenticate } from './pipeline/stages/authenticate.js';
import { route } from './pipeline/stages/route.js';
import { policyStage } from './pipeline/stages/policy.js';
import { validateStage } from './pipeline/stages/validate.js';
import { integrityStage } from './pipeline/stages/integrity.js';
import { Admission } from './integrity/admission.js';
import { approvalStage } from './pipeline/stages/approval.js';
import { Approvals } from './approvals/approvals.js';
import { auditApprovals } from './approvals/audit.js';
import { configureEgress } from './egress/fetch.js';
import { Monitoring, type MonitoringDeps } from './monitoring/monitoring.js';
import { limitsStage } from './pipeline/stages/limits.js';
import { resultsStage } from './pipeline/stages/results.js';
import { guardrailsStage } from './pipeline/stages/guardrails.js';
import type { Guardrails } from './guardrails/guardrails.js';
import { loadCustomGuardrail } from './guardrails/custom.js';
import type { Guardrail } from './guardrails/guardrail.js';
import type { TaintTracker } from './guardrails/taint.js';
import { ServerRequestGuard } from './guardrails/serverRequests.js';
import { upstreamStage } from './pipeline/stages/upstream.js';
import { RuleSet, type RuleSetEnv } from './pipeline/ruleSet.js';
import { locateResource, resourceTarget, shownUri } from './pipeline/targets.js';
import { SchemaCache } from './validation/schemas.js';
import { Limiter } from './limits/limiter.js';
import { UpstreamGate } from './limits/upstreamGate.js';
import { listsMayChange, reloadableChanges, restartNeeded, withStartupCustom } from './config/reload.js';
import { SessionManager } from './transport/session.js';
import { startHttpServer, type HttpServerHandle } from './transport/http/server.js';
import { ResolvedSecrets, vaultFor } from './vault/resolve.js';
import { AttestationService, type AttestationDeps } from './attestation/service.js';
import { ConsoleMetrics, consoleMetricsStage } from './console/metrics.js';
import { Credentials } from './credentials/credentials.js';
import { credentialsStage } from './pipeline/stages/credentials.js';

export interface GatewayOptions {
  logger: Logger;
  /** Tests inject storage or wires; production uses the configured ones. */
  storage?: Storage;
  createWire?: (name: string, config: UpstreamConfig, authorization?: (rejected?: string) => Promise<string>) => UpstreamWire;
  /** Tests and benchmarks only: rearrange the pipeline (e.g. leave a stage out to measure what it costs). */
  pipeline?: (stages: readonly NamedStage[]) => readonly NamedStage[];
  /** Tests and benchmarks: this audit log instead of the configured one (the gateway closes it). */
  audit?: AuditLog;
  /** Tests only: where attestation measures code, finds configfs-tsm, keeps its key. */
  attestation?: Pick<AttestationDeps, 'code' | 'detect' | 'keyStore'>;
  /** Tests: the anomaly detector's clock, an in-memory span exporter. */
  monitoring?: Pick<MonitoringDeps, 'now' | 'spanExporter'>;
}

/** What a reload did. */
export interface ReloadOutcome {
  /** The generation of the rule set now in force. */
  generation: number;
  /** Whether anything reloadable changed. */
  changed: boolean;
  /**
   * What changed and was applied ("policy", "guardrails", "upstreams.mail.guardrails", …). Clients were told their
   * lists may have changed unless only guardrails did.
   */
  applied: string[];
  /** Changed settings that only a restart applies (they were not applied). */
  restartNeeded: string[];
}

export class Gateway {
  readonly upstreams: ReadonlyMap<string, Upstream>;
  /** Per-user upstream credentials: each user's own tokens, the connect flow, revocation (src/credentials). */
  readonly credentials: Credentials;
  readonly endpoints: readonly Endpoint[];
  readonly hub: NotificationHub;
  readonly sessions: SessionManager;
  readonly held: HeldCallRegistry;
  readonly codec: RequestStateCodec;
  readonly run: (ctx: RequestContext) => Promise<JsonObject>;
  readonly schemas = new SchemaCache();
  /** Definitions checked against the operator's pins (src/integrity/admission.ts). */
  readonly admission: Admission;
  /** Upstreams with a concurrency cap (upstreams.<name>.concurrency). */
  readonly gates = new Map<string, UpstreamGate>();
  /** The tamper-evident audit log (src/audit); undefined when audit.enabled is false. Set by create(). */
  audit: AuditLog | undefined;
  /** The attestation document's source (src/attestation); set by startGateway when attestation is enabled. */
  attestation: AttestationService | undefined;
  /** The same guardrails over upstreams' sampling and elicitation requests, wherever they reach a client. */
  readonly serverRequests: ServerRequestGuard;
  /** Calls parked for a human approval (src/approvals). */
  readonly approvals: Approvals;
  /** Metrics, traces and anomaly alerts (src/monitoring). */
  readonly monitoring: Monitoring;
  /** Per-second request, error, denial and latency series for the console's charts (src/console/metrics.ts). */
  readonly consoleMetrics = new ConsoleMetrics();
  /** Values of the configuration's ${secret:NAME} references (src/vault); only wires and the identity layer see them. */
  vaultSecrets = ResolvedSecrets.none;
  private current: RuleSet;
  /** The configuration the rule set in force was built from (the startup one until a reload). */
  private applied: GatewayConfig;
  /** What every rule set shares: the custom guardrails loaded at start, the records taint marks live in. */
  private readonly env: RuleSetEnv;

  private constructor(readonly config: GatewayConfig, readonly storage: Storage, readonly log: Logger, createWire: GatewayOptions['createWire'] & {}, arrange: GatewayOptions['pipeline'], custom: readonly Guardrail[], monitoring: GatewayOptions['monitoring'] = {}) {
    const upstreams = new Map<string, Upstream>();
    this.credentials = new Credentials({
      records: storage.records,
      vault: () => vaultFor(config, storage.records),
      upstreamConfig: (name) => (Object.hasOwn(config.upstreams, name) ? this.vaultSecrets.fillUpstream(config.upstreams[name]!) : undefined),
      log,
      onRevoked: async (name, principal) => upstreams.get(name)?.releasePrincipal(principal),
    });
    for (const [name, cfg] of Object.entries(config.upstreams)) upstreams.set(name, new Upstream(name, cfg, { logger: log, createWire, credentials: this.credentials }));
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
    this.codec = new RequestStateCodec(this.secret('state'));
    this.held = new HeldCallRegistry(storage.kv);
    this.sessions = new SessionManager(config.sessions, storage, this.hub, log, async (s) => {
      // Per-session upstream connections end with their session.
      await Promise.allSettled(s.endpoint.members.map((m) => m.release(s.id)));
    });
    this.env = { custom, records: storage.records, log };
    this.current = new RuleSet(1, config, this.env);
    this.applied = config;
    for (const [name, u] of upstreams) if (u.config.concurrency) this.gates.set(name, new UpstreamGate(name, u.config.concurrency));
    // A concurrency slot outlives its request only if the gateway dies holding it: then it frees itself after the
    // longest a request can take.
    const leaseMs = Math.max(60_000, ...[...upstreams.values()].map((u) => u.config.timeoutMs)) + 60_000;
    const limiter = new Limiter(storage.counters, leaseMs, (e) => log.warn({ err: (e as Error).message }, 'releasing a concurrency slot failed'));
    // The order of the architecture: transport → authentication → routing → policy → validation → guardrails →
    // approval → (limits) → upstream; on the way back results are checked, then the guardrails see them.
    this.admission = new Admission({ records: storage.records, log, config: (name) => upstreams.get(name)?.config.integrity, onJudged: (server, item, _v, pinned) => this.monitoring.definitionSeen(server, item, pinned) });
    this.serverRequests = new ServerRequestGuard(() => this.current, log);
    this.approvals = new Approvals(storage.records, config.approvals, log);
    auditApprovals(this.approvals, () => this.audit, log);
    this.monitoring = new Monitoring({
      config: config.monitoring, log, records: storage.records, approvals: this.approvals, audit: () => this.audit,
      sessions: () => this.sessions.size, upstreams: () => this.upstreams.values(), ...monitoring,
    });
    const stages: readonly NamedStage[] = [
      consoleMetricsStage(this.consoleMetrics),
      auditStage({ audit: () => this.audit }),
      authenticate,
      route,
      credentialsStage({ credentials: this.credentials }),
      policyStage({ rules: () => this.current }),
      integrityStage({ admission: this.admission }),
      validateStage({ limits: config.limits, schemas: this.schemas }),
      guardrailsStage({ rules: () => this.current }),
      approvalStage({ approvals: this.approvals, codec: this.codec }),
      limitsStage({ limiter, gates: this.gates }),
      resultsStage({ limits: config.limits, schemas: this.schemas }),
      upstreamStage({ codec: this.codec, held: this.held, hub: this.hub, discoverMeta: () => this.attestation?.discoverMeta() }),
    ];
    this.run = compose(this.monitoring.instrument(arrange ? arrange(stages) : stages));
  }

  /** The rule set (policy, limits, item attributes, guardrails) new requests are decided with. */
  get rules(): RuleSet {
    return this.current;
  }

  /** Content guardrails (built-in and custom) in force now (src/guardrails); a request uses those of ctx.rules. */
  get guardrails(): Guardrails {
    return this.current.guardrails;
  }

  /** Taint tracking as configured now; its marks outlive reloads. */
  get taint(): TaintTracker {
    return this.current.taint;
  }

  /** The configuration in force: the startup one, or the last one a reload applied. */
  get appliedConfig(): GatewayConfig {
    return this.applied;
  }

  /**
   * Applies a changed configuration (already loaded and validated, so its policy compiles): the new rule set replaces
   * the old one at once, requests already past the policy stage finish under the old one (policy and guardrails
   * alike), and every client is told its lists may have changed (unless only guardrails did, which change no list).
   * Settings only a restart can apply are listed, not applied (guardrails.custom among them: the rule set keeps the
   * guardrails loaded at start). Throws (and changes nothing) when the rule set cannot be built.
   */
  reload(next: GatewayConfig): ReloadOutcome {
    const applied = withStartupCustom(next, this.config);
    const changes = reloadableChanges(this.applied, applied);
    const changed = changes.length > 0;
    const restart = restartNeeded(this.config, next);
    if (changed) {
      this.current = new RuleSet(this.current.generation + 1, applied, this.env);
      this.applied = applied;
      if (listsMayChange(changes)) this.hub.listChanged();
    }
    // Not awaited: a reload is synchronous; a failed append is logged by the audit log.
    this.audit?.append({
      type: 'admin.config.reload', principal: 'local', outcome: 'ok',
      detail: { generation: this.current.generation, changed, applied: changes, restartNeeded: restart },
    }).catch(() => {});
    return { generation: this.current.generation, changed, applied: changes, restartNeeded: restart };
  }

  /**
   * Re-reads the vault for a reload: every secret `next` refers to must resolve (else a ConfigError, and the reload
   * is rejected); secrets only the running upstreams still use are refreshed when they can be, kept otherwise.
   * New upstream connections use the new values.
   */
  async refreshSecrets(next: GatewayConfig): Promise<void> {
    const vault = () => vaultFor(this.config, this.storage.records);
    const required = await ResolvedSecrets.resolve(next, vault);
    const running = await ResolvedSecrets.resolve(this.config, vault).catch((e: Error) => {
      this.log.warn({ reason: e.message }, 'a secret the running upstreams use could not be re-read; they keep the value read before');
      return ResolvedSecrets.none;
    });
    this.vaultSecrets = this.vaultSecrets.merge(running).merge(required);
  }

  /** The configuration the identity layer is built from: the authorization server's client secrets filled in. */
  identityConfig(): GatewayConfig {
    return this.vaultSecrets.fillAuth(this.config);
  }

  /**
   * For subscriptions/listen: the client-visible URI to subscribe to when the principal may subscribe to this
   * resource (normalised, declared by its server, allowed by the policy), else undefined.
   */
  async subscribable(principal: Principal, ep: Endpoint, uri: string): Promise<string | undefined> {
    const rules = this.current;
    try {
      const { upstream, uri: own } = locateResource(ep, uri);
      const found = await resourceTarget(rules, upstream, upstream.catalog(await upstream.acquire()), own, uri, 'subscribe');
      const d = rules.policy.decide(principal, 'subscribe', found.target.item, { time: new Date(), era: 'modern', endpoint: ep.name });
      return d.outcome === 'allow' ? shownUri(ep, upstream, found.uri) : undefined;
    } catch {
      return undefined;
    }
  }

  static async create(config: GatewayConfig, opts: GatewayOptions): Promise<Gateway> {
    configureEgress(config.egress);
    const storage = opts.storage ?? await openStorage(config.storage, { replayEvents: config.sessions.replayEvents });
    let gw: Gateway;
    try {
      const custom = await Promise.all(config.guardrails.custom.map(loadCustomGuardrail));
      // Read once here, before anything connects (and again on reload); the configuration keeps the references.
      const secrets = await ResolvedSecrets.resolve(config, () => vaultFor(config, storage.records));
      const wires = opts.createWire ?? wireFactory(opts.logger, config);
      gw = new Gateway(config, storage, opts.logger, (name, cfg, auth) => wires(name, gw.vaultSecrets.fillUpstream(cfg), auth), opts.pipeline, custom, opts.monitoring);
      gw.vaultSecrets = secrets;
      // Fail fast: per-user tokens and the token-exchange signing key live in the vault, so its key must be there before any user connects.
      if (Object.values(config.upstreams).some((u) => u.transport !== 'stdio' && u.credentials !== undefined && u.credentials.mode !== 'service')) await vaultFor(config, storage.records).provider.currentKekId();
    } catch (e) {
      if (!opts.storage) await storage.close();
      throw e;
    }
    try {
      gw.audit = opts.audit ?? await openAuditLog(config, opts.logger, { storageDriver: storage.driver });
    } catch (e) {
      await gw.close();
      throw e;
    }
    // Upstreams connect in the background: a slow or broken server never delays or fails the gateway's start.
    for (const u of gw.upstreams.values()) void u.start();
    return gw;
  }

  private readonly shutdownHooks = new Set<() => void>();
  private readonly secrets = new Map<string, Buffer>();

  /**
   * A 32-byte secret kept in the data folder (0600) so it survives restarts: "state" seals requestState, "auth"
   * signs the authorization server's cookies. Replicas sharing distributed storage must share the files (or set
   * PORTCULLIS_{NAME}_KEY, base64).
   */
  secret(name: 'state' | 'auth'): Buffer {
    let s = this.secrets.get(name);
    if (!s) this.secrets.set(name, (s = loadSecret(name, this.config.server.dataDir, this.storage.driver)));
    return s;
  }

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
    await this.monitoring.close();
    await this.audit?.close();
    await this.guardrails.close();
    await this.storage.close();
  }
}

function loadSecret(name: string, dataDir: string, driver: string): Buffer {
  const fromEnv = process.env[`PORTCULLIS_${name.toUpperCase()}_KEY`];
  if (fromEnv) return Buffer.from(fromEnv, 'base64');
  if (driver === 'memory') return generateStateKey();
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, `${name}.key`);
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
  if (config.attestation?.enabled) {
    try {
      gateway.attestation = await AttestationService.create({
        config: () => gateway.appliedConfig, records: gateway.storage.records, storageDriver: gateway.storage.driver,
        endpoints: gateway.endpoints, admission: gateway.admission, log: gateway.log, ...opts.attestation,
      });
    } catch (e) {
      await gateway.close();
      throw e;
    }
  }
  const http = await startHttpServer(gateway);
  gateway.attestation?.setBaseUrl(config.auth.publicUrl ?? http.url);
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
