/**
 * Rate limits, concurrency limits, quotas and the upstream concurrency cap: each breach gets its proper error
 * (HTTP 429 with Retry-After on HTTP in both eras, a JSON-RPC error on stdio; 503 for a full upstream queue), the
 * upstream never sees the refused call, quotas survive a restart, and interactive calls are served before bulk ones.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Cancellation } from '../src/core/cancel.js';
import { isGatewayError } from '../src/core/errors.js';
import { UpstreamGate } from '../src/limits/upstreamGate.js';
import { windowEnd } from '../src/limits/windows.js';
import { compileLimits, Limiter } from '../src/limits/limiter.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { createSqliteStorage } from '../src/storage/sqlite.js';
import { parseConfig } from '../src/config/load.js';
import { serveStdio } from '../src/transport/stdio/serve.js';
import { createLogger } from '../src/core/log.js';
import { ALLOW_ALL_POLICY, fixtureArgs, modern, post, startTestGateway } from './support/gateway.js';
import { memoryServer, memoryWires } from './support/memoryUpstream.js';
import { principal } from './support/pipeline.js';
import type { RunningGateway } from '../src/gateway.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('units', () => {
  test('the upstream gate: a bounded queue, interactive before bulk, busy when full or too slow, cancellable', async () => {
    const gate = new UpstreamGate('up', { max: 1, queue: 3, queueTimeoutMs: 200 });
    const never = new Cancellation().signal;
    const first = await gate.enter('interactive', never);
    const order: string[] = [];
    const wait = (name: string, p: 'interactive' | 'bulk') => Promise.resolve(gate.enter(p, never)).then((leave) => { order.push(name); return leave; });
    const b1 = wait('bulk-1', 'bulk');
    const i1 = wait('interactive-1', 'interactive');
    const b2 = wait('bulk-2', 'bulk');
    await assert.rejects(Promise.resolve(gate.enter('interactive', never)), (e) => isGatewayError(e) && e.code === 'PC_UPSTREAM_BUSY' && e.headers?.['Retry-After'] === '1');
    assert.equal(gate.waiting, 3);
    first();
    (await i1)();
    (await b1)();
    (await b2)();
    assert.deepEqual(order, ['interactive-1', 'bulk-1', 'bulk-2']);
    assert.equal(gate.inFlight, 0);

    const held = await gate.enter('interactive', never);
    const started = Date.now();
    await assert.rejects(Promise.resolve(gate.enter('bulk', never)), (e) => isGatewayError(e) && e.code === 'PC_UPSTREAM_BUSY' && /no slot within 200 ms/.test(e.message));
    assert.ok(Date.now() - started >= 190);
    const c = new Cancellation();
    const cancelled = Promise.resolve(gate.enter('interactive', c.signal));
    c.abort();
    await assert.rejects(cancelled, (e) => isGatewayError(e) && e.code === 'PC_CANCELLED');
    assert.equal(gate.waiting, 0);
    held();
    held();
    assert.equal(gate.inFlight, 0, 'releasing twice frees one slot');
  });

  test('quota windows end at local midnight and at the first of the month', () => {
    const t = Date.parse('2025-03-30T00:30:00Z');
    assert.equal(new Date(windowEnd(t, 'daily', 'UTC')).toISOString(), '2025-03-31T00:00:00.000Z');
    assert.equal(new Date(windowEnd(t, 'daily', 'Europe/Paris')).toISOString(), '2025-03-30T22:00:00.000Z', 'across the switch to summer time');
    assert.equal(new Date(windowEnd(t, 'monthly', 'America/New_York')).toISOString(), '2025-04-01T04:00:00.000Z');
    assert.equal(new Date(windowEnd(Date.parse('2025-12-31T23:59:59Z'), 'monthly', 'UTC')).toISOString(), '2026-01-01T00:00:00.000Z');
  });

  test('the limiter counts per the rule\'s dimensions, refuses with the wait, and holds no slot after a refusal', async () => {
    const storage = createMemoryStorage();
    let now = Date.parse('2025-06-01T12:00:00Z');
    const limiter = new Limiter(storage.counters, 600_000, () => {}, () => now);
    const limits = compileLimits({
      rateLimits: [
        { id: 'per-user', per: ['principal'], requests: 2, perSeconds: 10 },
        { id: 'writes', per: ['principal', 'tool'], tools: ['fs/write_*'], requests: 1, perSeconds: 60, concurrency: 1 },
      ],
      quotas: [{ id: 'daily', per: ['principal'], daily: 3, timezone: 'UTC' }],
      priorities: [],
    });
    const alice = principal({ subject: 'alice' });
    const bob = principal({ subject: 'bob' });
    const use = (p: typeof alice, name: string) => limiter.admit(limits, { principal: p, action: 'call', server: 'fs', kind: 'tool', name });
    (await use(alice, 'read'))();
    (await use(alice, 'read'))();
    await assert.rejects(use(alice, 'read'), (e) => isGatewayError(e) && e.code === 'PC_RATE_LIMITED' && e.headers?.['Retry-After'] === '5' && (e.data as { limit: string }).limit === 'per-user');
    (await use(bob, 'read'))();
    now += 5000;
    const w = await use(alice, 'write_file');
    now += 60_000;
    await assert.rejects(use(alice, 'write_file'), (e) => isGatewayError(e) && e.code === 'PC_RATE_LIMITED' && /1 concurrent/.test(e.message), 'the first write is still in flight');
    w();
    const q = await use(alice, 'write_file').catch((e: unknown) => e);
    assert.ok(isGatewayError(q) && q.code === 'PC_QUOTA_EXCEEDED', String(q));
    assert.equal(q.headers?.['Retry-After'], String(Math.ceil((Date.parse('2025-06-02T00:00:00Z') - now) / 1000)));
    assert.deepEqual((q.data as Record<string, unknown>).resetAt, '2025-06-02T00:00:00.000Z');
    now = Date.parse('2025-06-02T00:00:01Z');
    (await use(alice, 'write_file'))();
    await storage.close();
  });
});

describe('HTTP: limits answer 429 with Retry-After, in both eras; the upstream never sees the refused call', () => {
  let release: () => void = () => {};
  const up = memoryServer({
    tools: [{ name: 'fast', inputSchema: { type: 'object' } }, { name: 'slow', inputSchema: { type: 'object' } }, { name: 'other', inputSchema: { type: 'object' } }],
    call: async (name) => {
      if (name === 'slow') await new Promise<void>((r) => { release = r; });
      return { content: [{ type: 'text', text: name }] };
    },
  });
  let gw: RunningGateway;
  before(async () => {
    gw = await startTestGateway(`upstreams:
  up: { transport: stdio, command: unused }
rateLimits:
  - id: fast-per-user
    tools: [up/fast]
    requests: 2
    perSeconds: 60
  - id: one-slow
    tools: [up/slow]
    concurrency: 1
`, {}, { createWire: memoryWires({ up }) });
  });
  after(async () => { release(); await gw?.close(); });

  for (const era of ['modern', 'legacy'] as const) {
    test(`${era}: rate limit`, async () => {
      const url = `${gw.url}/servers/up/mcp`;
      let headers: Record<string, string> = {};
      if (era === 'legacy') {
        const init = await post(url, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'l', version: '1' } } });
        headers = { 'mcp-session-id': init.headers.get('mcp-session-id')! };
      }
      const call = (name: string, id: number) => {
        if (era === 'modern') { const m = modern('tools/call', { name, arguments: {} }, id); return post(url, m.body, m.headers); }
        return post(url, { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } }, headers);
      };
      // Limits count per principal: the modern and the legacy tests share the local principal's bucket.
      const before = up.uses().length;
      const results = [];
      for (let i = 1; i <= 3; i++) results.push(await call('fast', i));
      const refused = results.filter((r) => r.status === 429);
      assert.ok(refused.length >= 1, results.map((r) => r.status).join(','));
      const r = refused[0]!;
      assert.ok(Number(r.headers.get('retry-after')) >= 1 && Number(r.headers.get('retry-after')) <= 30, r.headers.get('retry-after') ?? 'no Retry-After');
      const body = r.json();
      assert.equal(body.error.code, -32013);
      assert.match(body.error.message, /^Too many requests: rate limit fast-per-user exceeded/);
      assert.equal(body.error.data.limit, 'fast-per-user');
      assert.ok(body.error.data.retryAfterSeconds >= 1);
      assert.equal(up.uses().length - before, results.filter((x) => x.status === 200).length, 'refused calls never reached the upstream');
      assert.equal((await call('other', 9)).status, 200, 'a rule on one tool leaves the others alone');
      if (era === 'modern') {
        // A retry carrying requestState continues a counted use: not counted again (and a forged state is refused).
        const m = modern('tools/call', { name: 'fast', arguments: {}, requestState: 'forged' }, 10);
        const retry = await post(url, m.body, m.headers);
        assert.equal(retry.status, 200);
        assert.equal(retry.json().error.code, -32602);
      }
    });
  }

  test('concurrency limit: a second call while the first is in flight is refused', async () => {
    const url = `${gw.url}/servers/up/mcp`;
    const m1 = modern('tools/call', { name: 'slow', arguments: {} }, 1);
    const first = post(url, m1.body, m1.headers);
    for (let i = 0; i < 100 && !up.requests.some((r) => r.params?.name === 'slow'); i++) await sleep(10);
    const m2 = modern('tools/call', { name: 'slow', arguments: {} }, 2);
    const second = await post(url, m2.body, m2.headers);
    assert.equal(second.status, 429);
    assert.match(second.json().error.message, /1 concurrent requests allowed \(one-slow\)/);
    release();
    assert.equal((await first).status, 200);
    const m3 = modern('tools/call', { name: 'slow', arguments: {} }, 3);
    const third = post(url, m3.body, m3.headers);
    for (let i = 0; i < 100 && up.requests.filter((r) => r.params?.name === 'slow').length < 2; i++) await sleep(10);
    release();
    assert.equal((await third).status, 200, 'the slot was freed when the first call ended');
  });
});

describe('the upstream concurrency cap', () => {
  const pending: Array<() => void> = [];
  const up = memoryServer({
    tools: [{ name: 'work', inputSchema: { type: 'object' } }],
    call: async (_name, args) => {
      await new Promise<void>((r) => pending.push(r));
      return { content: [{ type: 'text', text: String(args.tag) }] };
    },
  });
  let gw: RunningGateway;
  before(async () => {
    gw = await startTestGateway(`upstreams:
  up: { transport: stdio, command: unused, concurrency: { max: 1, queue: 2, queueTimeoutMs: 5000 } }
priorities:
  - class: bulk
    principals: { methods: [local] }
    tools: [up/work]
    actions: [call]
`, {}, { createWire: memoryWires({ up }) });
  });
  after(async () => { for (const p of pending) p(); await gw?.close(); });

  test('interactive calls are served before bulk ones; a full queue fails fast with 503', async () => {
    const url = `${gw.url}/servers/up/mcp`;
    const call = (tag: string, meta: Record<string, unknown> = {}) => {
      const m = modern('tools/call', { name: 'work', arguments: { tag } }, tag);
      Object.assign(m.body.params._meta, meta);
      return post(url, m.body, m.headers);
    };
    const calls = up.requests.filter.bind(up.requests);
    const inUpstream = () => calls((r) => r.method === 'tools/call').map((r) => (r.params!.arguments as { tag: string }).tag);
    // The priorities rule makes the local principal's calls bulk; _meta cannot raise that, only lower.
    const a = call('a');
    for (let i = 0; i < 100 && inUpstream().length < 1; i++) await sleep(10);
    const b = call('b', { 'dev.portcullis/priority': 'interactive' });
    await sleep(50);
    // Reload a policy set where the local principal is interactive: the next call jumps the queue.
    const next = parseConfig(`server: { port: 0 }\nauth: { mode: none }\n${ALLOW_ALL_POLICY}upstreams:\n  up: { transport: stdio, command: unused, concurrency: { max: 1, queue: 2, queueTimeoutMs: 5000 } }\n`);
    gw.gateway.reload(next);
    const c = call('c');
    await sleep(50);
    const full = await call('d');
    assert.equal(full.status, 503);
    assert.equal(full.headers.get('retry-after'), '1');
    assert.equal(full.json().error.code, -32014);
    assert.deepEqual(inUpstream(), ['a']);
    pending.shift()!();
    for (let i = 0; i < 100 && inUpstream().length < 2; i++) await sleep(10);
    assert.deepEqual(inUpstream(), ['a', 'c'], 'the interactive call went first');
    pending.shift()!();
    for (let i = 0; i < 100 && inUpstream().length < 3; i++) await sleep(10);
    pending.shift()!();
    assert.deepEqual(inUpstream(), ['a', 'c', 'b']);
    for (const r of await Promise.all([a, b, c])) assert.equal(r.status, 200);
  });
});

describe('quotas persist across a restart (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-quota-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const up = memoryServer({ tools: [{ name: 'q', inputSchema: { type: 'object' } }] });
  const start = () => startTestGateway(`upstreams:
  up: { transport: stdio, command: unused }
quotas:
  - id: daily-calls
    per: [principal, tool]
    daily: 2
`, {}, { createWire: memoryWires({ up }), storage: createSqliteStorage({ path: join(dir, 'state.db') }) });

  test('the count of a first gateway holds in the next one', async () => {
    const call = async (gw: RunningGateway, id: number) => {
      const m = modern('tools/call', { name: 'q', arguments: {} }, id);
      return post(`${gw.url}/servers/up/mcp`, m.body, m.headers);
    };
    const first = await start();
    try {
      assert.equal((await call(first, 1)).status, 200);
      assert.equal((await call(first, 2)).status, 200);
      const third = await call(first, 3);
      assert.equal(third.status, 429);
      assert.match(third.json().error.message, /^Quota exceeded: daily quota of 2 reached \(daily-calls\)/);
    } finally {
      await first.close();
    }
    const second = await start();
    try {
      const again = await call(second, 4);
      assert.equal(again.status, 429, 'the quota survived the restart');
      const retry = Number(again.headers.get('retry-after'));
      const midnight = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() + 1);
      assert.ok(Math.abs(retry - (midnight - Date.now()) / 1000) < 5, `Retry-After ${retry} is the time to midnight UTC`);
      assert.equal(up.uses().length, 2, 'the upstream saw only the two calls within the quota');
    } finally {
      await second.close();
    }
  });
});

describe('stdio: a limit is a JSON-RPC error', () => {
  test('the third call within the rate limit is refused with -32013', async () => {
    const config = parseConfig(`auth: { mode: none }
storage: { driver: memory }
${ALLOW_ALL_POLICY}upstreams:
  paged: { transport: stdio, command: ${JSON.stringify(process.execPath)}, args: ${fixtureArgs('fixtures/paged-server.ts')}, integrity: { unapproved: warn } }
rateLimits:
  - requests: 2
    perSeconds: 3600
`, { source: 'test' });
    const input = new PassThrough();
    const output = new PassThrough();
    const lines: any[] = [];
    let buf = '';
    output.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) { lines.push(JSON.parse(buf.slice(0, i))); buf = buf.slice(i + 1); }
    });
    const done = serveStdio(config, { logger: createLogger('silent'), target: { kind: 'server', name: 'paged' }, input, output });
    const send = (m: unknown) => input.write(`${JSON.stringify(m)}\n`);
    const meta = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
    for (let id = 1; id <= 3; id++) send({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'tool_1', arguments: {}, _meta: meta } });
    for (let i = 0; i < 300 && lines.length < 3; i++) await sleep(20);
    input.end();
    await done;
    const byId = new Map(lines.map((l) => [l.id, l]));
    assert.equal(byId.get(1).result.content[0].text, 'called tool_1');
    assert.equal(byId.get(2).result.content[0].text, 'called tool_1');
    assert.equal(byId.get(3).error.code, -32013);
    assert.ok(byId.get(3).error.data.retryAfterSeconds > 0);
  });
});
