/**
 * Monitoring at the HTTP edge: /metrics (bounded labels, who may scrape), /readyz, /healthz, and the request id
 * echoed in X-Request-Id and bound into the request's log lines.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { startTestGateway, post, modern, ROOT } from './support/gateway.js';
import type { RunningGateway } from '../src/gateway.js';
import { memoryServer, memoryWires } from './support/memoryUpstream.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { isLoopbackPeer, serveMetrics } from '../src/monitoring/http.js';
import { Metrics } from '../src/monitoring/metrics.js';
import { parseConfig } from '../src/config/load.js';

const AWS = 'AKIAQ3EGRV5ZXJ7LKD4N';
const TOOLS = ['t1', 't2', 't3', 't4', 'leak', 'danger', 'limited', 'gated'].map((name) => ({ name, description: `Tool ${name}.`, inputSchema: { type: 'object' } }));
const POLICY = `policy:
  rules:
    - { id: everyone, effect: allow }
    - { id: no-danger, effect: deny, tools: ["up/danger"] }
    - { id: gated, effect: approval, tools: ["up/gated"] }
rateLimits:
  - { id: slow, tools: [up/limited], requests: 1, perSeconds: 60 }
approvals: { waitSeconds: 1 }
`;

function upstream() {
  return memoryServer({ tools: TOOLS, call: (name) => ({ content: [{ type: 'text', text: name === 'leak' ? `key=${AWS}` : `${name} done` }] }) });
}

async function call(gw: RunningGateway, name: string, headers: Record<string, string> = {}) {
  const m = modern('tools/call', { name, arguments: {} }, Math.floor(Math.random() * 1e9));
  return post(`${gw.url}/servers/up/mcp`, m.body, { ...m.headers, ...headers });
}

async function scrape(gw: RunningGateway, headers: Record<string, string> = {}): Promise<{ status: number; text: string; type: string | null }> {
  const res = await fetch(`${gw.url}/metrics`, { headers });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
}

/** The value of one series, e.g. value(text, 'portcullis_tool_calls_total{upstream="up",tool="t1",outcome="ok"}'). */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics, readiness and request ids over HTTP', () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l)); cb(); } });
  let gw: RunningGateway;
  before(async () => {
    gw = await startTestGateway(`${POLICY}monitoring: { metrics: { maxToolLabels: 3 } }\nupstreams:\n  up: { transport: stdio, command: unused }\n`, {}, {
      createWire: memoryWires({ up: upstream() }),
      logger: pino({ level: 'info' }, sink),
    });
  });
  after(async () => { await gw?.close(); });

  it('counts requests, decisions, tool calls, upstream calls, findings and refusals with bounded labels', async () => {
    for (const t of ['t1', 't1', 't2', 't3', 't4', 'leak']) assert.ok((await call(gw, t)).json().result, t);
    assert.equal((await call(gw, 'danger')).json().error.code, -32602, 'a denied tool reads as nonexistent');
    assert.ok((await call(gw, 'limited')).json().result);
    assert.equal((await call(gw, 'limited')).status, 429);
    const { status, text, type } = await scrape(gw);
    assert.equal(status, 200);
    assert.match(type ?? '', /^text\/plain; version=0\.0\.4/);
    // Seven allowed calls answered ok, one denied (a denied tool reads as unknown), one refused by the rate limit.
    assert.equal(value(text, 'portcullis_request_duration_seconds_count{method="tools/call",endpoint="server:up",outcome="ok"}'), 7);
    assert.equal(value(text, 'portcullis_request_duration_seconds_count{method="tools/call",endpoint="server:up",outcome="PC_UNKNOWN_TOOL"}'), 1);
    assert.equal(value(text, 'portcullis_request_duration_seconds_count{method="tools/call",endpoint="server:up",outcome="PC_RATE_LIMITED"}'), 1);
    assert.equal(value(text, 'portcullis_policy_decisions_total{action="call",outcome="deny"}'), 1);
    assert.equal(value(text, 'portcullis_policy_decisions_total{action="call",outcome="allow"}'), 8);
    assert.equal(value(text, 'portcullis_limit_refusals_total{reason="rate_limit"}'), 1);
    // maxToolLabels 3: t1, t2, t3 keep their names; t4, leak and limited are folded into "other".
    assert.equal(value(text, 'portcullis_tool_calls_total{upstream="up",tool="t1",outcome="ok"}'), 2);
    assert.equal(value(text, 'portcullis_tool_calls_total{upstream="up",tool="t3",outcome="ok"}'), 1);
    assert.equal(value(text, 'portcullis_tool_calls_total{upstream="up",tool="other",outcome="ok"}'), 3);
    assert.ok(!/tool="(t4|leak|limited|danger)"/.test(text), 'no label beyond the cap');
    assert.equal(value(text, 'portcullis_upstream_duration_seconds_count{upstream="up",outcome="ok"}'), 7, 'refused calls never reached the upstream');
    assert.equal(value(text, 'portcullis_guardrail_findings_total{guardrail="portcullis",rule="aws-access-key",action="redact",direction="result"}'), 1);
    assert.equal(value(text, 'portcullis_upstream_up{upstream="up"}'), 1);
    assert.equal(value(text, 'portcullis_sessions'), 0);
    assert.ok(!text.includes('local'), 'no principal in any label');
    assert.match(text, /^portcullis_process_cpu_seconds_total /m, 'process metrics in the same registry');
  });

  it('counts approvals: requested, pending (from storage) and decided', async () => {
    const first = (await call(gw, 'gated')).json();
    assert.equal(first.result.resultType, 'input_required');
    let text = (await scrape(gw)).text;
    assert.equal(value(text, 'portcullis_approvals_requested_total'), 1);
    assert.equal(value(text, 'portcullis_approvals_pending'), 1);
    const [pending] = await gw.gateway.approvals.store.list('pending');
    await gw.gateway.approvals.decide(pending!.id, { key: 'ops', subject: 'ops', roles: ['approver'] }, 'deny');
    text = (await scrape(gw)).text;
    assert.equal(value(text, 'portcullis_approvals_decided_total{decision="deny"}'), 1);
    assert.equal(value(text, 'portcullis_approvals_pending'), 0);
  });

  it('echoes a sane X-Request-Id, replaces anything else, and binds it into the request\'s log lines', async () => {
    const kept = await call(gw, 'danger', { 'x-request-id': 'req-42.abc:1' });
    assert.equal(kept.headers.get('x-request-id'), 'req-42.abc:1');
    const forged = await call(gw, 't1', { 'x-request-id': 'evil\tid {"level":60}' });
    assert.match(forged.headers.get('x-request-id') ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const generated = await call(gw, 't1');
    assert.notEqual(generated.headers.get('x-request-id'), forged.headers.get('x-request-id'));
    // The denied call wrote a "request failed" line (src/pipeline/stages/audit.ts) through ctx.log.
    const line = lines.find((l) => l.msg === 'request failed' && l.requestId === 'req-42.abc:1');
    assert.ok(line, `a log line with the request id: ${JSON.stringify(lines.filter((l) => l.msg === 'request failed'))}`);
    assert.equal((await fetch(`${gw.url}/healthz`)).headers.get('x-request-id')?.length, 36, 'every response has one');
  });

  it('/readyz: ready while storage answers, with the upstreams reported', async () => {
    const res = await fetch(`${gw.url}/readyz`);
    assert.equal(res.status, 200);
    const body = await res.json() as any;
    assert.equal(body.ready, true);
    assert.equal(body.storage.ok, true);
    assert.deepEqual(body.upstreams.map((u: any) => [u.name, u.health]), [['up', 'ready']]);
    const health = await fetch(`${gw.url}/healthz`);
    assert.equal(health.status, 200);
  });
});

describe('who may scrape, and readiness without storage', () => {
  let gw: RunningGateway;
  const storage = createMemoryStorage();
  before(async () => {
    gw = await startTestGateway('monitoring: { metrics: { path: /internal/metrics, bearerToken: "${METRICS_TOKEN}" } }\nupstreams:\n  broken: { transport: http, url: "http://127.0.0.1:9/mcp", timeoutMs: 500 }\n', { METRICS_TOKEN: 'a-long-enough-scrape-token' }, { storage });
  });
  after(async () => { await gw?.close(); });

  it('with a bearer token configured, /metrics needs it (even from loopback)', async () => {
    const url = `${gw.url}/internal/metrics`;
    assert.equal((await fetch(url)).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer wrong-token-of-some-length' } })).status, 401);
    const ok = await fetch(url, { headers: { authorization: 'Bearer a-long-enough-scrape-token' } });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /portcullis_request_duration_seconds/);
    assert.equal((await fetch(`${gw.url}/metrics`)).status, 404, 'only at the configured path');
  });

  it('without a token, only loopback peers may scrape', async () => {
    assert.equal(isLoopbackPeer('127.0.0.1'), true);
    assert.equal(isLoopbackPeer('::ffff:127.0.0.1'), true);
    assert.equal(isLoopbackPeer('::1'), true);
    assert.equal(isLoopbackPeer('10.0.0.5'), false);
    assert.equal(isLoopbackPeer('::ffff:192.168.1.2'), false);
    assert.equal(isLoopbackPeer(undefined), false);
    let status = 0;
    const res = { writeHead: (s: number) => { status = s; return { end: () => {} }; } };
    const req = { method: 'GET', headers: {}, socket: { remoteAddress: '10.0.0.5' } };
    await serveMetrics(gw.gateway.monitoring.metrics!, undefined, req as any, res as any);
    assert.equal(status, 403);
  });

  it('/readyz: a broken upstream is reported without failing readiness; failing storage fails it (503)', async () => {
    const ok = await fetch(`${gw.url}/readyz`);
    assert.equal(ok.status, 200);
    const body = await ok.json() as any;
    assert.equal(body.upstreams[0].name, 'broken');
    assert.notEqual(body.upstreams[0].health, 'ready');
    const get = storage.records.get.bind(storage.records);
    storage.records.get = () => Promise.reject(new Error('disk on fire'));
    try {
      const down = await fetch(`${gw.url}/readyz`);
      assert.equal(down.status, 503);
      const b = await down.json() as any;
      assert.equal(b.ready, false);
      assert.deepEqual([b.storage.driver, b.storage.ok, b.storage.error], ['memory', false, 'disk on fire']);
    } finally {
      storage.records.get = get;
    }
  });
});

describe('metrics off', () => {
  it('serves no /metrics and adds no stage', async () => {
    const gw = await startTestGateway('monitoring: { metrics: { enabled: false }, anomalies: { enabled: false } }\nupstreams:\n  up: { transport: stdio, command: unused }\n', {}, {
      createWire: memoryWires({ up: upstream() }),
    });
    try {
      assert.equal((await fetch(`${gw.url}/metrics`)).status, 404);
      assert.equal(gw.gateway.monitoring.metrics, undefined);
      assert.ok((await call(gw, 't1')).json().result);
      const probe = { name: 'upstream', run: async () => ({}) };
      assert.deepEqual(gw.gateway.monitoring.instrument([probe]), [probe], 'the pipeline is left exactly as it was');
    } finally {
      await gw.close();
    }
  });
});

it('docs/monitoring.md lists exactly the gateway\'s own metrics, with their types', async () => {
  const doc = readFileSync(join(ROOT, 'docs', 'monitoring.md'), 'utf8');
  const documented = [...doc.matchAll(/^\| `(portcullis_[a-z_]+)` \| (counter|gauge|histogram) \|/gm)].map((m) => `${m[1]} ${m[2]}`).sort();
  const m = new Metrics(1, { sessions: () => 0, upstreams: () => [], pendingApprovals: async () => 0 });
  const registered = (await m.registry.getMetricsAsJSON()).filter((x) => !/^portcullis_(process|nodejs)_/.test(x.name)).map((x) => `${x.name} ${x.type}`).sort();
  assert.deepEqual(documented, registered);
});

it('refuses a metrics path the gateway already serves, and an unknown time zone', () => {
  const load = (monitoring: string) => parseConfig(`auth: { mode: none }\nmonitoring: ${monitoring}\n`, { source: 'test.yaml' });
  assert.throws(() => load('{ metrics: { path: /mcp } }'), /monitoring\.metrics\.path.*"\/mcp" is a path the gateway already serves/s);
  assert.throws(() => load('{ metrics: { path: /servers/x/mcp } }'), /already serves/);
  assert.throws(() => load('{ anomalies: { hours: { timezone: Mars/Olympus, from: "08:00", to: "18:00" } } }'), /unknown time zone "Mars\/Olympus"/);
  assert.throws(() => load('{ anomalies: { hours: { from: "8:00", to: "18:00" } } }'), /monitoring\.anomalies\.hours\.from/);
  assert.equal(load('{ metrics: { path: /internal/metrics } }').monitoring.metrics.path, '/internal/metrics');
});
