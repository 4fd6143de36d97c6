/**
 * Monitoring as the gateway wires it: metrics, tracing and anomaly detection from `monitoring:`, put around the
 * pipeline by `instrument` (only what is enabled: a disabled part adds nothing to the hot path), fed by the
 * approvals' events and by admission's verdicts on tool definitions.
 */
import type { Logger } from '../core/log.js';
import type { JsonObject } from '../core/jsonrpc.js';
import { GATEWAY_INFO } from '../core/mcp.js';
import type { RecordStore } from '../storage/types.js';
import type { AuditLog } from '../audit/log.js';
import type { Approvals } from '../approvals/approvals.js';
import type { DefinitionItem } from '../integrity/definitions.js';
import type { NamedStage } from '../pipeline/pipeline.js';
import type { RequestContext } from '../pipeline/context.js';
import { monitoringStage } from '../pipeline/stages/monitoring.js';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { MonitoringConfig } from './config.js';
import { Metrics, methodLabel, refusalReason } from './metrics.js';
import { Tracing } from './tracing.js';
import { AnomalyDetector } from './anomaly.js';
import { AlertSink } from './alerts.js';
import { DENIAL_CODES, outcomeOf } from './outcome.js';

export interface MonitoringDeps {
  config: MonitoringConfig;
  log: Logger;
  records: RecordStore;
  approvals: Approvals;
  audit: () => AuditLog | undefined;
  sessions: () => number;
  upstreams: () => Iterable<{ name: string; health: string }>;
  /** Tests: a fixed clock for the anomaly detector, an in-memory span exporter. */
  now?: () => number;
  spanExporter?: SpanExporter;
}

/** Pending approvals are read from storage at most this often, unless this gateway saw one requested or decided. */
const PENDING_CACHE_MS = 5000;

export class Monitoring {
  readonly config: MonitoringConfig;
  readonly metrics: Metrics | undefined;
  readonly tracing: Tracing | undefined;
  readonly anomalies: AnomalyDetector | undefined;
  readonly alerts: AlertSink;

  constructor(deps: MonitoringDeps) {
    const c = (this.config = deps.config);
    const pending = { at: 0, count: 0 };
    this.metrics = c.metrics.enabled
      ? new Metrics(c.metrics.maxToolLabels, {
        sessions: deps.sessions,
        upstreams: deps.upstreams,
        pendingApprovals: async () => {
          if (Date.now() - pending.at > PENDING_CACHE_MS) {
            pending.at = Date.now();
            pending.count = (await deps.approvals.store.list('pending')).length;
          }
          return pending.count;
        },
      })
      : undefined;
    this.tracing = c.tracing.enabled ? new Tracing(c.tracing, GATEWAY_INFO.version, deps.spanExporter) : undefined;
    this.alerts = new AlertSink({ log: deps.log, audit: deps.audit, webhook: c.anomalies.webhook });
    this.anomalies = c.anomalies.enabled
      ? new AnomalyDetector(c.anomalies, {
        records: deps.records,
        now: deps.now ?? Date.now,
        raise: (a) => this.alerts.raise(a),
        onError: (what, e) => deps.log.warn({ err: (e as Error).message }, `anomaly detection: ${what} check failed`),
      })
      : undefined;
    const m = this.metrics;
    if (m) {
      this.alerts.on((a) => m.anomalies.inc({ kind: a.kind }));
      // A request or decision here changes the pending count: the next scrape reads it afresh.
      deps.approvals.on({
        requested: () => { m.approvalsRequested.inc(); pending.at = 0; },
        decided: (_view, d) => { m.approvalsDecided.inc({ decision: d.decision }); pending.at = 0; },
      });
    }
  }

  /** The pipeline with what is enabled around it: the monitoring stage first, spans around every stage. */
  instrument(stages: readonly NamedStage[]): readonly NamedStage[] {
    let out: readonly NamedStage[] = stages;
    if (this.metrics) out = out.map((s) => (s.name === 'upstream' ? timedUpstream(s, this.metrics!) : s));
    if (this.metrics || this.anomalies) out = [monitoringStage({ done: (ctx, result, failure) => this.requestDone(ctx, result, failure) }), ...out];
    return this.tracing ? this.tracing.instrument(out) : out;
  }

  /** Admission judged a definition (once per server, item and hash in this process); `pinned` as Admission says. */
  definitionSeen(server: string, item: DefinitionItem, pinned: string | null | undefined): void {
    if (item.kind === 'tool') this.anomalies?.toolSeen(server, item.key, item.hash, pinned);
  }

  /** Resolves when background work (first-use reads, audit appends, webhooks) started so far is done. */
  async idle(): Promise<void> {
    await this.anomalies?.idle();
    await this.alerts.idle();
  }

  async close(): Promise<void> {
    await this.idle().catch(() => {});
    await this.tracing?.close();
  }

  private requestDone(ctx: RequestContext, result: JsonObject | undefined, failure: unknown): void {
    const outcome = outcomeOf(result, failure);
    const m = this.metrics;
    if (m) {
      m.requests.observe({ method: methodLabel(ctx.request.method), endpoint: ctx.endpoint.key, outcome }, (performance.now() - ctx.startedAt) / 1000);
      const t = ctx.target;
      if (ctx.decision && t) m.decisions.inc({ action: t.action, outcome: ctx.decision.outcome });
      if (t?.action === 'call' && t.item.name !== undefined) m.toolCalls.inc({ upstream: t.upstream.name, tool: m.tools.of(t.item.name), outcome });
      if (ctx.findings) {
        for (const f of ctx.findings) m.findings.inc({ guardrail: f.guardrail, rule: m.rules.of(f.rule), action: f.action, direction: f.direction });
      }
      const refused = failure !== undefined ? refusalReason(outcome) : undefined;
      if (refused) m.refusals.inc({ reason: refused });
    }
    const p = ctx.principal;
    // Uses of an item (calls, reads, prompts) are what baselines are about; lists and handshakes are not.
    if (this.anomalies && p && (ctx.target || ctx.request.method === 'tools/call')) {
      const t = ctx.target;
      this.anomalies.observe({
        principalKey: p.key, principal: p.subject,
        tool: t?.action === 'call' && t.item.name !== undefined ? `${t.upstream.name}/${t.item.name}` : undefined,
        denied: DENIAL_CODES.has(outcome) || ctx.decision?.outcome === 'deny',
      });
    }
  }
}

/** Times the upstream stage: the call to the upstream server(s), by upstream and outcome. */
function timedUpstream(stage: NamedStage, m: Metrics): NamedStage {
  return {
    name: stage.name,
    run: (ctx, next) => {
      const t0 = performance.now();
      const record = (result: JsonObject | undefined, failure: unknown) => {
        const up = ctx.target?.upstream.name ?? (ctx.route?.kind === 'forward' ? ctx.route.upstream.name : ctx.endpoint.key);
        m.upstreamCalls.observe({ upstream: up, outcome: outcomeOf(result, failure) }, (performance.now() - t0) / 1000);
      };
      return stage.run(ctx, next).then(
        (r) => { record(r, undefined); return r; },
        (e: unknown) => { record(undefined, e); throw e; },
      );
    },
  };
}
