/**
 * OpenTelemetry traces: a SERVER span per request, a span per pipeline stage nested as the stages nest, a CLIENT span
 * for the upstream call, the client's traceparent honoured, errors marked, sampling, and the optional OTLP export.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { startTestGateway, post, modern } from './support/gateway.js';
import type { RunningGateway } from '../src/gateway.js';
import { memoryServer, memoryWires } from './support/memoryUpstream.js';
import { startRecordingUpstream } from './support/recordingUpstream.js';

const TOOLS = [{ name: 'echo', description: 'Echoes.', inputSchema: { type: 'object' } }, { name: 'secret', description: 'Secret.', inputSchema: { type: 'object' } }];
const POLICY = 'policy:\n  rules:\n    - { id: everyone, effect: allow }\n    - { id: no-secret, effect: deny, tools: ["up/secret"] }\n';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';

async function call(gw: RunningGateway, name: string, headers: Record<string, string> = {}) {
  const m = modern('tools/call', { name, arguments: {} }, 7);
  return (await post(`${gw.url}/servers/up/mcp`, m.body, { ...m.headers, ...headers })).json();
}

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

describe('traces of the pipeline', () => {
  const exporter = new InMemorySpanExporter();
  const seen: (string | undefined)[] = [];
  let gw: RunningGateway;
  before(async () => {
    gw = await startTestGateway(`${POLICY}monitoring: { tracing: { enabled: true } }\nupstreams:\n  up: { transport: stdio, command: unused }\n`, {}, {
      createWire: memoryWires({ up: memoryServer({ tools: TOOLS }) }),
      monitoring: { spanExporter: exporter },
      // A probe stage (wrapped like the others) that reads the traceparent an upstream HTTP request would carry.
      pipeline: (stages) => [...stages.slice(0, -1), { name: 'probe', run: (ctx, next) => { seen.push(gw.gateway.monitoring.tracing!.traceparent(ctx)); return next(); } }, stages.at(-1)!],
    });
  });
  after(async () => { await gw?.close(); });

  it('one SERVER span per request, stage spans nested in pipeline order, the upstream call a CLIENT span', async () => {
    exporter.reset();
    assert.equal((await call(gw, 'echo')).result.content[0].text.includes('echo'), true);
    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.kind === SpanKind.SERVER)!;
    assert.equal(root.name, 'tools/call');
    assert.equal(root.attributes['portcullis.endpoint'], 'server:up');
    assert.equal(root.attributes['portcullis.item'], 'up/echo');
    assert.equal(root.attributes['portcullis.decision'], 'allow');
    assert.equal(root.attributes['portcullis.outcome'], 'ok');
    assert.match(String(root.attributes['portcullis.request_id']), /^[0-9a-f-]{36}$/);
    assert.equal(parentOf(root), undefined, 'a root span without an incoming traceparent');
    // Walk down from the root: each stage span is the parent of the next one.
    const chain: string[] = [];
    let cur: ReadableSpan | undefined = root;
    for (;;) {
      const child: ReadableSpan | undefined = spans.find((s) => parentOf(s) === cur!.spanContext().spanId);
      if (!child) break;
      chain.push(child.name);
      cur = child;
    }
    // (Other engineers' stages may sit in between: the known ones must come in this order, the upstream call last.)
    const expected = [
      'stage monitoring', 'stage audit', 'stage authenticate', 'stage route', 'stage policy', 'stage integrity', 'stage validate',
      'stage guardrails', 'stage approval', 'stage limits', 'stage results', 'stage probe', 'upstream call',
    ];
    assert.deepEqual(chain.filter((n) => expected.includes(n)), expected, chain.join(' > '));
    assert.equal(chain.at(-1), 'upstream call');
    const upstream = spans.find((s) => s.name === 'upstream call')!;
    assert.equal(upstream.kind, SpanKind.CLIENT);
    assert.equal(upstream.attributes['portcullis.upstream'], 'up');
    assert.ok(spans.every((s) => s.spanContext().traceId === root.spanContext().traceId), 'one trace');
    assert.equal(spans.length, chain.length + 1, 'nothing else');
  });

  it('continues the client\'s trace (traceparent) and hands the current span to the upstream side', async () => {
    exporter.reset();
    seen.length = 0;
    await call(gw, 'echo', { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
    const root = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER)!;
    assert.equal(root.spanContext().traceId, TRACE_ID);
    assert.equal(parentOf(root), PARENT_ID);
    const probe = exporter.getFinishedSpans().find((s) => s.name === 'stage probe')!;
    assert.equal(seen[0], `00-${TRACE_ID}-${probe.spanContext().spanId}-01`);
  });

  it('marks a refused request as an error, with its code, on the root and the stage that refused it', async () => {
    exporter.reset();
    assert.equal((await call(gw, 'secret')).error.code, -32602);
    const spans = exporter.getFinishedSpans();
    const root = spans.find((s) => s.kind === SpanKind.SERVER)!;
    assert.equal(root.status.code, SpanStatusCode.ERROR);
    assert.equal(root.attributes['portcullis.outcome'], 'PC_UNKNOWN_TOOL');
    const policy = spans.find((s) => s.name === 'stage policy')!;
    assert.equal(policy.attributes['error.type'], 'PC_UNKNOWN_TOOL');
    assert.equal(spans.some((s) => s.name === 'upstream call'), false, 'never reached the upstream');
  });
});

describe('sampling and OTLP export', () => {
  let collector: Server;
  const received: { path: string; body: string }[] = [];
  before(async () => {
    collector = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => { received.push({ path: req.url ?? '', body }); res.writeHead(200, { 'content-type': 'application/json' }).end('{}'); });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  });
  after(() => { collector?.close(); });

  it('sampleRatio 0 records nothing, unless the client\'s trace is sampled', async () => {
    const exporter = new InMemorySpanExporter();
    const gw = await startTestGateway(`${POLICY}monitoring: { tracing: { enabled: true, sampleRatio: 0 } }\nupstreams:\n  up: { transport: stdio, command: unused }\n`, {}, {
      createWire: memoryWires({ up: memoryServer({ tools: TOOLS }) }), monitoring: { spanExporter: exporter },
    });
    try {
      await call(gw, 'echo');
      assert.equal(exporter.getFinishedSpans().length, 0);
      await call(gw, 'echo', { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
      assert.ok(exporter.getFinishedSpans().length > 10);
    } finally {
      await gw.close();
    }
  });

  it('exports spans over OTLP/HTTP to the configured collector (flushed on close)', async () => {
    const port = (collector.address() as AddressInfo).port;
    const gw = await startTestGateway(`${POLICY}monitoring: { tracing: { enabled: true, serviceName: gw-under-test, otlp: { url: "http://127.0.0.1:${port}/v1/traces", headers: { x-api-key: k1 } } } }\nupstreams:\n  up: { transport: stdio, command: unused }\n`, {}, {
      createWire: memoryWires({ up: memoryServer({ tools: TOOLS }) }),
    });
    await call(gw, 'echo');
    await gw.close();
    assert.ok(received.length >= 1, 'the collector was called');
    assert.equal(received[0]!.path, '/v1/traces');
    const all = received.map((r) => r.body).join('\n');
    assert.match(all, /gw-under-test/);
    assert.match(all, /upstream call/);
    assert.match(all, /stage policy/);
  });
});

describe('trace context to HTTP upstreams', () => {
  it('the upstream request carries the traceparent of the upstream call span; untraced requests carry none', async () => {
    const recorder = await startRecordingUpstream();
    const exporter = new InMemorySpanExporter();
    const yaml = (tracing: boolean) => `monitoring: { tracing: { enabled: ${tracing} } }\nupstreams:\n  rec: { transport: http, url: "${recorder.url}", protocol: legacy }\n`;
    const traced = await startTestGateway(yaml(true), {}, { monitoring: { spanExporter: exporter } });
    try {
      const m = modern('tools/call', { name: 'whoami', arguments: {} }, 1);
      const res = await post(`${traced.url}/servers/rec/mcp`, m.body, { ...m.headers, traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
      assert.equal(res.json().result.content[0].text, 'hello');
      const sent = recorder.requests.filter((r) => r.method === 'tools/call').at(-1)!;
      const span = exporter.getFinishedSpans().find((s) => s.name === 'upstream call')!;
      assert.equal(sent.headers.traceparent, `00-${TRACE_ID}-${span.spanContext().spanId}-01`, 'a 2025-era HTTP upstream continues the same trace under the upstream call span');
      assert.equal(sent.headers['mcp-session-id'], 'up-1', 'the session header is still the wire\'s own');
    } finally {
      await traced.close();
    }
    const plain = await startTestGateway(yaml(false));
    try {
      const m = modern('tools/call', { name: 'whoami', arguments: {} }, 2);
      await post(`${plain.url}/servers/rec/mcp`, m.body, { ...m.headers, traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
      const sent = recorder.requests.filter((r) => r.method === 'tools/call').at(-1)!;
      assert.equal(sent.headers.traceparent, undefined, 'tracing off: the client\'s traceparent is not passed through either');
    } finally {
      await plain.close();
      await recorder.close();
    }
  });
});
