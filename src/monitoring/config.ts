/**
 * The `monitoring:` key of portcullis.yaml: Prometheus metrics, OpenTelemetry traces, request ids and anomaly
 * alerts (docs/monitoring.md). Metrics and anomaly detection are on by default (they cost microseconds and stay in
 * the process); tracing is off until asked for, and spans leave the process only to a configured OTLP URL.
 */
import type { SchemaNode } from '../config/schema.js';
import type { PathIssue } from '../config/paths.js';
import { webhookSchema, type WebhookConfig } from '../egress/webhook.js';

export interface MonitoringConfig {
  metrics: MetricsConfig;
  tracing: TracingConfig;
  /** Accept a client's X-Request-Id (when it is short and plain) instead of always generating one. */
  acceptRequestId: boolean;
  anomalies: AnomaliesConfig;
}

export interface MetricsConfig {
  enabled: boolean;
  /** Where the Prometheus text is served, on the gateway's own listener. */
  path: string;
  /**
   * Scrapers must send `Authorization: Bearer <token>`. Without it, /metrics answers loopback peers only (the
   * figures name upstreams, tools and endpoints: not for the whole network).
   */
  bearerToken?: string;
  /** Distinct tool names kept as label values; the rest are counted under "other" (bounded cardinality). */
  maxToolLabels: number;
}

export interface TracingConfig {
  enabled: boolean;
  serviceName: string;
  /** Fraction of requests traced (a parent's decision in an incoming traceparent wins). */
  sampleRatio: number;
  /** Export spans over OTLP/HTTP (protobuf-free JSON); without it spans are kept in the process only for tests. */
  otlp?: { url: string; headers: Record<string, string> };
}

export interface AnomaliesConfig {
  enabled: boolean;
  /** The same alert (kind and subject) is raised at most once per this many seconds. */
  cooldownSeconds: number;
  rate: RateAnomalyConfig;
  denials: { enabled: boolean; count: number; windowSeconds: number };
  firstUse: { enabled: boolean };
  tools: { enabled: boolean };
  hours?: HoursConfig;
  webhook?: AlertWebhookConfig;
}

export interface RateAnomalyConfig {
  enabled: boolean;
  /** Calls are counted per window of this many seconds, per principal and per tool. */
  windowSeconds: number;
  /** A window is a spike when it exceeds factor × the baseline … */
  factor: number;
  /** … and at least this many calls (quiet principals never alert). */
  minCalls: number;
  /** Windows observed before a baseline is trusted. */
  warmupWindows: number;
  /** Weight of the newest window in the moving average (EWMA alpha). */
  smoothing: number;
}

export interface HoursConfig {
  /** IANA time zone the hours are read in. */
  timezone: string;
  /** Days calls are expected on (mon … sun). */
  days: string[];
  /** "HH:MM", inclusive. */
  from: string;
  /** "HH:MM", exclusive; earlier than `from` for a span over midnight. */
  to: string;
}

/** The alert webhook (src/egress/webhook.ts). */
export type AlertWebhookConfig = WebhookConfig;

const hhmm: SchemaNode = { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' };
const on = (description: string): SchemaNode => ({ type: 'boolean', default: true, description });

export const MONITORING_SCHEMA: SchemaNode = {
  type: 'object',
  default: {},
  additionalProperties: false,
  description: 'Metrics, traces, request ids and anomaly alerts (docs/monitoring.md).',
  properties: {
    metrics: {
      type: 'object',
      default: {},
      additionalProperties: false,
      description: 'Prometheus metrics on the gateway\'s listener.',
      properties: {
        enabled: on('Serve metrics (and count them on every request).'),
        path: { type: 'string', pattern: '^/[A-Za-z0-9/_.-]*$', default: '/metrics', description: 'Path of the Prometheus text.' },
        bearerToken: { type: 'string', minLength: 16, description: 'Scrapers must send Authorization: Bearer with this value (use ${ENV}). Without it only loopback peers may scrape.' },
        maxToolLabels: { type: 'integer', minimum: 0, maximum: 10_000, default: 200, description: 'Distinct tool names kept as label values; further tools are counted as "other".' },
      },
    },
    tracing: {
      type: 'object',
      default: {},
      additionalProperties: false,
      description: 'OpenTelemetry spans for each request, each pipeline stage and the upstream call.',
      properties: {
        enabled: { type: 'boolean', default: false, description: 'Record spans.' },
        serviceName: { type: 'string', minLength: 1, default: 'portcullis', description: 'service.name of the spans.' },
        sampleRatio: { type: 'number', minimum: 0, maximum: 1, default: 1, description: 'Fraction of requests traced (an incoming traceparent\'s sampling decision wins).' },
        otlp: {
          type: 'object',
          additionalProperties: false,
          required: ['url'],
          description: 'Export spans to an OpenTelemetry collector over OTLP/HTTP.',
          properties: {
            url: { type: 'string', format: 'uri', pattern: '^https?://', description: 'The collector\'s traces URL, e.g. http://127.0.0.1:4318/v1/traces.' },
            headers: { type: 'object', default: {}, additionalProperties: { type: 'string' }, description: 'Extra headers (e.g. an API key via ${ENV}).' },
          },
        },
      },
    },
    acceptRequestId: on('Use a client\'s X-Request-Id (up to 128 characters of letters, digits and ._:-) instead of generating one.'),
    anomalies: {
      type: 'object',
      default: {},
      additionalProperties: false,
      description: 'Alerts (log line, audit event, optional webhook) on unusual use.',
      properties: {
        enabled: on('Watch for anomalies.'),
        cooldownSeconds: { type: 'integer', minimum: 0, maximum: 86_400, default: 300, description: 'The same alert (kind and subject) is raised at most once per this many seconds.' },
        rate: {
          type: 'object',
          default: {},
          additionalProperties: false,
          description: 'Call-rate spikes per principal and per tool, against a moving average of earlier windows.',
          properties: {
            enabled: on('Alert on call-rate spikes.'),
            windowSeconds: { type: 'integer', minimum: 1, maximum: 3600, default: 60, description: 'Length of a counting window.' },
            factor: { type: 'number', minimum: 1, default: 5, description: 'A window is a spike above factor × the baseline …' },
            minCalls: { type: 'integer', minimum: 1, default: 30, description: '… and at least this many calls.' },
            warmupWindows: { type: 'integer', minimum: 1, default: 5, description: 'Windows observed before a baseline is trusted.' },
            smoothing: { type: 'number', minimum: 0.01, maximum: 1, default: 0.2, description: 'Weight of the newest window in the moving average.' },
          },
        },
        denials: {
          type: 'object',
          default: {},
          additionalProperties: false,
          description: 'Bursts of refusals (policy, integrity, guardrails, approvals) for one principal.',
          properties: {
            enabled: on('Alert on bursts of denials.'),
            count: { type: 'integer', minimum: 1, default: 10, description: 'Denials …' },
            windowSeconds: { type: 'integer', minimum: 1, maximum: 86_400, default: 60, description: '… within this many seconds.' },
          },
        },
        firstUse: { type: 'object', default: {}, additionalProperties: false, description: 'The first call of a tool by a principal (remembered in storage).', properties: { enabled: on('Alert on first use.') } },
        tools: { type: 'object', default: {}, additionalProperties: false, description: 'A tool an upstream offers for the first time, or whose definition changed (remembered in storage).', properties: { enabled: on('Alert on new and drifted tools.') } },
        hours: {
          type: 'object',
          additionalProperties: false,
          required: ['from', 'to'],
          description: 'Expected working hours: a call outside them raises an alert. Absent: no such alerts.',
          properties: {
            timezone: { type: 'string', minLength: 1, default: 'UTC', description: 'IANA time zone.' },
            days: { type: 'array', default: ['mon', 'tue', 'wed', 'thu', 'fri'], uniqueItems: true, minItems: 1, items: { type: 'string', enum: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] }, description: 'Days calls are expected on.' },
            from: { ...hhmm, description: 'Start, HH:MM (inclusive).' },
            to: { ...hhmm, description: 'End, HH:MM (exclusive); earlier than from for hours over midnight.' },
          },
        },
        webhook: webhookSchema('Each alert is also POSTed here as JSON (through the SSRF-safe fetcher).'),
      },
    },
  },
};

/** Paths the gateway serves itself (or under these prefixes): metrics must not hide one of them. */
const RESERVED = ['/mcp', '/sse', '/messages', '/healthz', '/readyz'];
const RESERVED_PREFIXES = ['/servers/', '/virtual/', '/.well-known/', '/oauth'];

/** What the schema cannot say: the metrics path is free, the time zone exists. */
export function monitoringIssues(m: MonitoringConfig): PathIssue[] {
  const issues: PathIssue[] = [];
  const path = m.metrics.path;
  if (RESERVED.includes(path) || RESERVED_PREFIXES.some((p) => path === p.replace(/\/$/, '') || path.startsWith(p.endsWith('/') ? p : `${p}/`))) {
    issues.push({ segs: ['monitoring', 'metrics', 'path'], message: `"${path}" is a path the gateway already serves; choose another (e.g. /metrics)` });
  }
  const tz = m.anomalies.hours?.timezone;
  if (tz !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
    } catch {
      issues.push({ segs: ['monitoring', 'anomalies', 'hours', 'timezone'], message: `unknown time zone "${tz}" (an IANA name such as Europe/Paris or UTC)` });
    }
  }
  return issues;
}
