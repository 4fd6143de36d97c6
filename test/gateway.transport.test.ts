/** Transport security and input handling, checked on the wire with raw HTTP. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { fixtureArgs, modern, MODERN, post, startTestGateway } from './support/gateway.js';
import type { RunningGateway } from '../src/gateway.js';

let gw: RunningGateway;
let url: string;
before(async () => {
  gw = await startTestGateway(`
limits: { maxBodyBytes: 65536, maxDepth: 16, maxStringLength: 4096, maxArrayLength: 100, maxIdLength: 64 }
sessions: { max: 3, idleTimeoutSeconds: 1 }
upstreams:
  chaos: { transport: stdio, command: ${JSON.stringify(process.execPath)}, args: ${fixtureArgs('fixtures/chaos-server.ts')} }
`);
  url = `${gw.url}/servers/chaos/mcp`;
});
after(async () => { await gw?.close(); });

const init = (id = 1) => ({ jsonrpc: '2.0', id, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });

function rawPost(path: string, headers: Record<string, string>, body: string | Buffer): Promise<{ status: number; body: string }> {
  const u = new URL(gw.url + path);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers }, (res) => {
      let b = '';
      res.on('data', (c) => { b += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('DNS rebinding protection', () => {
  test('a foreign Host is refused with 403', async () => {
    const r = await rawPost('/servers/chaos/mcp', { host: 'evil.example:80', 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, JSON.stringify(init()));
    assert.equal(r.status, 403);
  });
  test('a foreign Origin is refused with 403; a loopback Origin is fine', async () => {
    const bad = await post(url, init(), { origin: 'https://evil.example' });
    assert.equal(bad.status, 403);
    const good = await post(url, init(), { origin: 'http://localhost:1234' });
    assert.equal(good.status, 200);
    await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': good.headers.get('mcp-session-id')! } });
  });
});

describe('malformed and oversized input', () => {
  test('malformed JSON → 400 with JSON-RPC parse error (-32700) and id null', async () => {
    const r = await post(url, '{"jsonrpc":"2.0",');
    assert.equal(r.status, 400);
    assert.equal(r.json().error.code, -32700);
    assert.equal(r.json().id, null);
  });
  test('not JSON-RPC → 400 with -32600', async () => {
    const r = await post(url, { hello: 'world' });
    assert.equal(r.status, 400);
    assert.equal(r.json().error.code, -32600);
  });
  test('a body over the cap → 413, even without Content-Length (chunked)', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping', params: { pad: 'x'.repeat(70_000) } });
    const r = await rawPost('/servers/chaos/mcp', { host: new URL(gw.url).host, 'content-type': 'application/json', accept: 'application/json', 'transfer-encoding': 'chunked' }, big);
    assert.equal(r.status, 413);
  });
  test('nesting, string, array and id limits → 400 -32600', async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    for (const body of [
      { jsonrpc: '2.0', id: 1, method: 'ping', params: { deep } },
      { jsonrpc: '2.0', id: 1, method: 'ping', params: { s: 'y'.repeat(5000) } },
      { jsonrpc: '2.0', id: 1, method: 'ping', params: { a: Array(101).fill(0) } },
      { jsonrpc: '2.0', id: 'i'.repeat(65), method: 'ping' },
    ]) {
      const r = await post(url, body);
      assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(r.json().error.code, -32600);
    }
  });
  test('a 100k-deep document within the size cap is rejected, not a crash', async () => {
    const r = await post(url, `${'['.repeat(30_000)}${']'.repeat(30_000)}`);
    assert.equal(r.status, 400);
    const ok = await post(url, init());
    assert.equal(ok.status, 200, 'still serving');
  });
  test('wrong Content-Type → 415; Accept without JSON → 406; batch → 400', async () => {
    assert.equal((await post(url, init(), { 'content-type': 'text/plain' })).status, 415);
    assert.equal((await post(url, init(), { 'content-type': 'application/jsonx' })).status, 415);
    assert.equal((await post(url, init(), { accept: 'text/html' })).status, 406);
    assert.equal((await post(url, [init()])).status, 400, 'a batch without a 2025-03-26 session');
  });
  test('unknown paths → 404, unsupported HTTP methods → 405', async () => {
    assert.equal((await fetch(`${gw.url}/nope`)).status, 404);
    assert.equal((await fetch(url, { method: 'PUT' })).status, 405);
  });
});

describe('sessions (2025-11-25)', () => {
  test('requests need a session; unknown sessions are 404; DELETE ends one', async () => {
    const ping = { jsonrpc: '2.0', id: 2, method: 'ping' };
    assert.equal((await post(url, ping)).status, 400);
    assert.equal((await post(url, ping, { 'mcp-session-id': 'nope' })).status, 404);
    const r = await post(url, init());
    const sid = r.headers.get('mcp-session-id')!;
    assert.ok(sid && sid.length >= 32, 'session ids are long and random');
    assert.equal((await post(url, ping, { 'mcp-session-id': sid })).status, 200);
    assert.equal((await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sid } })).status, 200);
    assert.equal((await post(url, ping, { 'mcp-session-id': sid })).status, 404);
  });
  test('the session cap refuses new sessions (503) and idle sessions expire', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await post(url, init())).headers.get('mcp-session-id')!);
    const over = await post(url, init());
    assert.equal(over.status, 503);
    // idleTimeoutSeconds: 1 — after expiry the sweep frees the slots.
    await new Promise((r) => setTimeout(r, 2300));
    assert.equal((await post(url, { jsonrpc: '2.0', id: 3, method: 'ping' }, { 'mcp-session-id': ids[0]! })).status, 404);
    const again = await post(url, init());
    assert.equal(again.status, 200);
    await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': again.headers.get('mcp-session-id')! } });
  });
  test('version negotiation: an unknown version is answered with the latest legacy one; old ones are echoed', async () => {
    for (const [asked, got] of [['2025-06-18', '2025-06-18'], ['2025-03-26', '2025-03-26'], ['1999-01-01', '2025-11-25']]) {
      const r = await post(url, { ...init(), params: { ...init().params, protocolVersion: asked } });
      assert.equal(r.json().result.protocolVersion, got);
      await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': r.headers.get('mcp-session-id')! } });
    }
  });
});

describe('modern era (2026-07-28) on the same endpoint', () => {
  test('server/discover without a handshake', async () => {
    const { body, headers } = modern('server/discover');
    const r = await post(url, body, headers);
    assert.equal(r.status, 200);
    const res = r.json().result;
    assert.equal(res.resultType, 'complete');
    assert.ok(res.supportedVersions.includes(MODERN) && res.supportedVersions.includes('2025-11-25'));
    assert.ok(res.capabilities.tools);
    assert.ok(res._meta['io.modelcontextprotocol/serverInfo']);
  });
  test('unsupported version → 400 -32022 with the supported list', async () => {
    const { body, headers } = modern('tools/list');
    body.params._meta['io.modelcontextprotocol/protocolVersion'] = '1900-01-01';
    const r = await post(url, body, { ...headers, 'mcp-protocol-version': '1900-01-01' });
    assert.equal(r.status, 400);
    assert.equal(r.json().error.code, -32022);
    assert.deepEqual(r.json().error.data.requested, '1900-01-01');
    assert.ok(r.json().error.data.supported.includes(MODERN));
  });
  test('header/body mismatches → 400 -32020', async () => {
    const { body, headers } = modern('tools/call', { name: 'echo', arguments: { text: 'x' } });
    for (const h of [{ 'mcp-method': 'tools/list' }, { 'mcp-name': 'other' }, { 'mcp-protocol-version': '2025-11-25' }] as Array<Record<string, string>>) {
      const r = await post(url, body, { ...headers, ...h });
      assert.equal(r.status, 400, JSON.stringify(h));
      assert.equal(r.json().error.code, -32020);
      assert.equal(r.json().id, 1);
    }
    const noName = { ...headers };
    delete noName['mcp-name'];
    assert.equal((await post(url, body, noName)).json().error.code, -32020);
    const b64 = await post(url, body, { ...headers, 'mcp-name': `=?base64?${Buffer.from('echo').toString('base64')}?=` });
    assert.equal(b64.status, 200, 'Base64 sentinel names are decoded before comparing');
  });
  test('missing clientCapabilities → 400 -32602; legacy-only methods → 404 -32601', async () => {
    const { body, headers } = modern('tools/list');
    delete (body.params._meta as Record<string, unknown>)['io.modelcontextprotocol/clientCapabilities'];
    const r = await post(url, body, headers);
    assert.equal(r.status, 400);
    assert.equal(r.json().error.code, -32602);
    const p = modern('ping');
    const r2 = await post(url, p.body, p.headers);
    assert.equal(r2.status, 404);
    assert.equal(r2.json().error.code, -32601);
    assert.equal(r2.json().id, 1, 'a refusal before the pipeline still echoes the request id');
  });
  test('results carry resultType and caching hints; no session id is minted', async () => {
    const { body, headers } = modern('tools/list');
    const r = await post(url, body, headers);
    const res = r.json().result;
    assert.equal(res.resultType, 'complete');
    assert.equal(typeof res.ttlMs, 'number');
    assert.equal(res.cacheScope, 'private');
    assert.equal(r.headers.get('mcp-session-id'), null);
    const call = modern('tools/call', { name: 'echo', arguments: { text: 'modern' } }, 2);
    const c = await post(url, call.body, call.headers);
    assert.deepEqual(c.json().result.content, [{ type: 'text', text: 'modern' }]);
    assert.equal(c.json().result.resultType, 'complete');
  });
  test('GET without a session in the modern era is 405', async () => {
    const r = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-protocol-version': MODERN } });
    assert.equal(r.status, 405);
  });
});

describe('SSE resumability (2025-11-25)', () => {
  test('a slow call moves to a primed stream; after a dropped connection, GET with Last-Event-ID delivers the result', async () => {
    const r = await post(url, init());
    const sid = r.headers.get('mcp-session-id')!;
    const ac = new AbortController();
    const res = await fetch(url, {
      method: 'POST', signal: ac.signal,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 42, method: 'tools/call', params: { name: 'slow', arguments: { ms: 1800 } } }),
    });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    while (!/id: [^\n]+\n/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    const lastId = /id: ([^\n]+)\n/.exec(text)![1]!;
    assert.match(text, /retry: \d+/);
    ac.abort(); // the connection drops mid-call
    const resumed = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25', 'last-event-id': lastId } });
    assert.equal(resumed.status, 200, resumed.status === 200 ? '' : `resuming after ${lastId}: ${await resumed.text()}`);
    const body = await resumed.text();
    const result = body.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6))).find((m) => m.id === 42);
    assert.deepEqual(result.result.content, [{ type: 'text', text: 'slept 1800' }]);
    const unknown = await fetch(url, { headers: { accept: 'text/event-stream', 'mcp-session-id': sid, 'last-event-id': '999999' } });
    assert.equal(unknown.status, 404);
    await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
  });
});

describe('many clients on one upstream connection', () => {
  test('clients reusing the same request ids and progress tokens each get their own answers', async () => {
    const big = await startTestGateway(`
upstreams:
  chaos: { transport: stdio, command: ${JSON.stringify(process.execPath)}, args: ${fixtureArgs('fixtures/chaos-server.ts')} }
`);
    const url = `${big.url}/servers/chaos/mcp`;
    try {
    const sessions = await Promise.all(Array.from({ length: 8 }, async () => (await post(url, init())).headers.get('mcp-session-id')!));
    const calls = sessions.flatMap((sid, i) => [
      post(url, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'slow', arguments: { ms: 20 + ((i * 37) % 90) }, _meta: { progressToken: 1 } } }, { 'mcp-session-id': sid })
        .then((r) => ({ want: `slept ${20 + ((i * 37) % 90)}`, got: r.json() })),
      post(url, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: `session ${i}` } } }, { 'mcp-session-id': sid })
        .then((r) => ({ want: `session ${i}`, got: r.json() })),
    ]);
    const modernCalls = Array.from({ length: 8 }, (_, i) => {
      const m = modern('tools/call', { name: 'echo', arguments: { text: `modern ${i}` } }, 7);
      return post(url, m.body, m.headers).then((r) => ({ want: `modern ${i}`, got: r.json() }));
    });
    for (const { want, got } of await Promise.all([...calls, ...modernCalls])) {
      assert.equal(got.id, 7);
      assert.equal(got.result.content[0].text, want);
    }
    await Promise.all(sessions.map((sid) => fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sid } })));
    } finally { await big.close(); }
  });

  test('concurrent initializes cannot overshoot the session cap', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => post(url, init())));
    const ok = results.filter((r) => r.status === 200);
    assert.ok(ok.length <= 3, `${ok.length} sessions for a cap of 3`);
    assert.ok(results.some((r) => r.status === 503));
    await Promise.all(ok.map((r) => fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': r.headers.get('mcp-session-id')! } })));
  });
});

describe('JSON-RPC batches (2025-03-26 only)', () => {
  test('a 2025-03-26 session may batch requests and notifications; newer sessions may not', async () => {
    const r = await post(url, { ...init(), params: { ...init().params, protocolVersion: '2025-03-26' } });
    const sid = r.headers.get('mcp-session-id')!;
    const batch = [
      { jsonrpc: '2.0', id: 'a', method: 'tools/call', params: { name: 'echo', arguments: { text: 'one' } } },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 'b', method: 'tools/call', params: { name: 'echo', arguments: { text: 'two' } } },
      { jsonrpc: '2.0', id: 'c', method: 'initialize', params: {} },
    ];
    const json = await post(url, batch, { 'mcp-session-id': sid, accept: 'application/json' });
    assert.equal(json.status, 200);
    const byId = new Map((JSON.parse(json.text) as Array<{ id: string }>).map((m) => [m.id, m]));
    assert.deepEqual((byId.get('a') as any).result.content, [{ type: 'text', text: 'one' }]);
    assert.deepEqual((byId.get('b') as any).result.content, [{ type: 'text', text: 'two' }]);
    assert.equal((byId.get('c') as any).error.code, -32600);
    const sse = await post(url, batch.slice(0, 3), { 'mcp-session-id': sid });
    assert.equal(sse.headers.get('content-type'), 'text/event-stream');
    assert.equal(sse.text.split('\n').filter((l) => l.startsWith('data: {')).length, 2);
    const only = await post(url, [{ jsonrpc: '2.0', method: 'notifications/initialized' }], { 'mcp-session-id': sid });
    assert.equal(only.status, 202);
    await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sid } });
    const modernSession = await post(url, init());
    const refused = await post(url, batch.slice(0, 1), { 'mcp-session-id': modernSession.headers.get('mcp-session-id')! });
    assert.equal(refused.status, 400);
    await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': modernSession.headers.get('mcp-session-id')! } });
  });
});
