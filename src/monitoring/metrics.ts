/**
 * Prometheus metrics (prom-client) in a registry of the gateway's own, so two gateways in one process (tests,
 * benchmarks) never mix their figures. Every label has a bounded set of values: methods outside the MCP catalogue
 * read "other", outcomes are the error catalogue's codes, endpoints and upstreams come from the configuration, and
 * tool names (only of tools that exist in an upstream's catalogue) are capped at `maxToolLabels`, the rest "other".
 * Never a principal, session, argument or request id.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const MCP_METHODS = new Set([
  'initialize', 'ping', 'tools/list', 'tools/call', 'prompts/list', 'prompts/get', 'resources/list', 'resources/read',
  'resources/templates/list', 'resources/subscribe', 'resources/unsubscribe', 'logging/setLevel', 'completion/complete',
  'server/discover', 'subscriptions/listen',
]);

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The first `max` distinct values pass; later ones are folded into "other" (a scrape stays small whatever arrives). */
export class BoundedLabel {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}
  of(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(value);
    return value;
  }
}

export function methodLabel(method: string): string {
  return MCP_METHODS.has(method) ? method : 'other';
}

/** What the gauges read when Prometheus scrapes. */
export interface MetricsSources {
  sessions(): number;
  upstreams(): Iterable<{ name: string; health: string }>;
  pendingApprovals(): Promise<number>;
}

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Histogram<'method' | 'endpoint' | 'outcome'>;
  readonly decisions: Counter<'action' | 'outcome'>;
  readonly upstreamCalls: Histogram<'upstream' | 'outcome'>;
  readonly toolCalls: Counter<'upstream' | 'tool' | 'outcome'>;
  readonly findings: Counter<'guardrail' | 'rule' | 'action' | 'direction'>;
  readonly refusals: Counter<'reason'>;
  readonly approvalsRequested: Counter;
  readonly approvalsDecided: Counter<'decision'>;
  readonly anomalies: Counter<'kind'>;
  readonly tools: BoundedLabel;
  /** Custom guardrails name their own rules: capped like tools. */
  readonly rules = new BoundedLabel(500);

  constructor(maxToolLabels: number, sources: MetricsSources) {
    const registers = [this.registry];
    this.tools = new BoundedLabel(maxToolLabels);
    collectDefaultMetrics({ register: this.registry, prefix: 'portcullis_' });
    this.requests = new Histogram({
      name: 'portcullis_request_duration_seconds', help: 'Requests through the pipeline, by MCP method, endpoint and outcome (ok, tool_error, input_required or the error code).',
      labelNames: ['method', 'endpoint', 'outcome'], buckets: LATENCY_BUCKETS, registers,
    });
    this.decisions = new Counter({ name: 'portcullis_policy_decisions_total', help: 'Policy decisions on uses of an item, by action and outcome (allow, deny, approval).', labelNames: ['action', 'outcome'], registers });
    this.upstreamCalls = new Histogram({
      name: 'portcullis_upstream_duration_seconds', help: 'Calls to upstream servers (the upstream stage), by upstream and outcome.',
      labelNames: ['upstream', 'outcome'], buckets: LATENCY_BUCKETS, registers,
    });
    this.toolCalls = new Counter({ name: 'portcullis_tool_calls_total', help: 'tools/call of catalogued tools, by upstream, tool (capped, then "other") and outcome.', labelNames: ['upstream', 'tool', 'outcome'], registers });
    this.findings = new Counter({ name: 'portcullis_guardrail_findings_total', help: 'Content guardrail findings, by guardrail, rule, action and direction (argument, result or server-request).', labelNames: ['guardrail', 'rule', 'action', 'direction'], registers });
    this.refusals = new Counter({ name: 'portcullis_limit_refusals_total', help: 'Requests refused by rate limits, quotas or a saturated upstream queue.', labelNames: ['reason'], registers });
    this.approvalsRequested = new Counter({ name: 'portcullis_approvals_requested_total', help: 'Calls parked for a human approval.', registers });
    this.approvalsDecided = new Counter({ name: 'portcullis_approvals_decided_total', help: 'Approval decisions made through this gateway, by decision.', labelNames: ['decision'], registers });
    this.anomalies = new Counter({ name: 'portcullis_anomalies_total', help: 'Anomaly alerts raised, by kind.', labelNames: ['kind'], registers });
    new Gauge({ name: 'portcullis_sessions', help: 'Open legacy (2025-era) sessions.', registers, collect() { this.set(sources.sessions()); } });
    new Gauge({
      name: 'portcullis_upstream_up', help: '1 when the upstream is ready, 0 otherwise.', labelNames: ['upstream'], registers,
      collect() { for (const u of sources.upstreams()) this.set({ upstream: u.name }, u.health === 'ready' ? 1 : 0); },
    });
    new Gauge({
      name: 'portcullis_approvals_pending', help: 'Approvals waiting for a decision (read from storage at scrape time).', registers,
      async collect() { this.set(await sources.pendingApprovals()); },
    });
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** The reason label of a limits refusal, or undefined for any other outcome. */
export function refusalReason(code: string): string | undefined {
  switch (code) {
    case 'PC_RATE_LIMITED': return 'rate_limit';
    case 'PC_QUOTA_EXCEEDED': return 'quota';
    case 'PC_UPSTREAM_BUSY': return 'upstream_busy';
    default: return undefined;
  }
}
