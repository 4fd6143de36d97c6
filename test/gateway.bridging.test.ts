/**
 * Server-to-client requests through the gateway, in both client eras, against a real legacy upstream
 * (server-everything sends elicitation/create, sampling/createMessage and roots/list mid-call):
 *  - a legacy client receives them as ordinary server-to-client requests on its session;
 *  - a modern client receives them inside input_required results and answers by retrying (era bridging).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { modern, npmUpstream, post, startTestGateway } from './support/gateway.js';
import type { RunningGateway } from '../src/gateway.js';

let gw: RunningGateway;
before(async () => {
  gw = await startTestGateway(`upstreams:\n${npmUpstream('everything', '@modelcontextprotocol/server-everything', ['stdio'], 'connection: per-session')}`);
});
after(async () => { await gw?.close(); });

const url = () => `${gw.url}/servers/everything/mcp`;

async function connect(era: 'legacy' | 'modern'): Promise<{ c: Client; seen: string[] }> {
  const seen: string[] = [];
  const c = new Client({ name: 'bridge-test', version: '1' }, {
    capabilities: { elicitation: { form: {} }, sampling: {}, roots: { listChanged: true } },
    ...(era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}),
  });
  c.setRequestHandler('elicitation/create', async () => { seen.push('elicitation'); return { action: 'accept', content: { name: 'Ada Lovelace', check: true, email: 'ada@example.com' } }; });
  c.setRequestHandler('sampling/createMessage', async () => { seen.push('sampling'); return { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled answer' } }; });
  c.setRequestHandler('roots/list', async () => { seen.push('roots'); return { roots: [{ uri: 'file:///projects/demo', name: 'demo' }] }; });
  await c.connect(new StreamableHTTPClientTransport(new URL(url())));
  return { c, seen };
}

for (const era of ['legacy', 'modern'] as const) {
  describe(`${era} client, legacy upstream`, () => {
    test('elicitation mid-call reaches the client and its answer completes the call', async () => {
      const { c, seen } = await connect(era);
      try {
        const r = await c.callTool({ name: 'trigger-elicitation-request', arguments: {} });
        assert.ok(seen.includes('elicitation'));
        assert.match(JSON.stringify(r.content), /Ada Lovelace/);
      } finally { await c.close(); }
    });
    test('sampling mid-call reaches the client and its answer completes the call', async () => {
      const { c, seen } = await connect(era);
      try {
        const r = await c.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hello', maxTokens: 10 } });
        assert.ok(seen.includes('sampling'));
        assert.match(JSON.stringify(r.content), /sampled answer/);
      } finally { await c.close(); }
    });
  });
}

describe('roots', () => {
  test('a per-session upstream asking for roots at start-up reaches the legacy client once its GET stream opens', async () => {
    const { c, seen } = await connect('legacy');
    try {
      const r = await c.callTool({ name: 'get-roots-list', arguments: {} });
      assert.ok(seen.includes('roots'), 'the client was asked for its roots');
      assert.match(JSON.stringify(r.content), /file:\/\/\/projects\/demo/);
    } finally { await c.close(); }
  });
});

describe('roots, raw wire', () => {
  test('roots/list from a per-session upstream reaches a raw legacy client on its GET stream, and the answer reaches the upstream', async () => {
    const init = await post(url(), { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: { roots: { listChanged: true } }, clientInfo: { name: 'raw', version: '1' } } });
    const sid = init.headers.get('mcp-session-id')!;
    const h = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    await post(url(), { jsonrpc: '2.0', method: 'notifications/initialized' }, h);
    // The first request creates this session's upstream connection, which asks for roots at once: no GET stream yet.
    await post(url(), { jsonrpc: '2.0', id: 2, method: 'tools/list' }, h);
    await new Promise((r) => setTimeout(r, 300));
    const ac = new AbortController();
    const stream = await fetch(url(), { headers: { ...h, accept: 'text/event-stream' }, signal: ac.signal });
    const reader = stream.body!.getReader();
    let text = '';
    while (!/"method":"roots\/list"/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    const ask = JSON.parse(/data: (\{.*"roots\/list".*\})/.exec(text)![1]!);
    await post(url(), { jsonrpc: '2.0', id: ask.id, result: { roots: [{ uri: 'file:///late/root', name: 'late' }] } }, h);
    const r = (await post(url(), { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'get-roots-list', arguments: {} } }, h)).json();
    assert.match(JSON.stringify(r.result.content), /file:\/\/\/late\/root/);
    ac.abort();
    await fetch(url(), { method: 'DELETE', headers: h });
  });
});

describe('modern client, raw wire', () => {
  test('input_required carries the upstream request; a tampered or foreign requestState is refused', async () => {
    const caps = { elicitation: { form: {} } };
    const first = modern('tools/call', { name: 'trigger-elicitation-request', arguments: {} }, 1, caps);
    const r1 = (await post(url(), first.body, first.headers)).json().result;
    assert.equal(r1.resultType, 'input_required');
    const [key, req] = Object.entries(r1.inputRequests as Record<string, { method: string }>)[0]!;
    assert.equal(req.method, 'elicitation/create');
    assert.match(r1.requestState, /^pc1\./);

    const tampered = modern('tools/call', { name: 'trigger-elicitation-request', arguments: {}, inputResponses: {}, requestState: `${r1.requestState.slice(0, -2)}AA` }, 2, caps);
    const bad = (await post(url(), tampered.body, tampered.headers)).json();
    assert.equal(bad.error.code, -32602);

    const otherCall = modern('tools/call', { name: 'echo', arguments: { message: 'x' }, requestState: r1.requestState }, 3, caps);
    assert.equal((await post(url(), otherCall.body, otherCall.headers)).json().error.code, -32602, 'state bound to the original request');

    const invalid = modern('tools/call', { name: 'trigger-elicitation-request', arguments: {}, inputResponses: { [key]: { action: 'maybe' } }, requestState: r1.requestState }, 5, caps);
    const rejected = (await post(url(), invalid.body, invalid.headers)).json();
    assert.equal(rejected.error?.code, -32602, 'an answer that is not an ElicitResult is refused');
    assert.match(rejected.error.message, /inputResponses/);
    const notObject = modern('tools/call', { name: 'trigger-elicitation-request', arguments: {}, inputResponses: 42, requestState: r1.requestState }, 6, caps);
    assert.equal((await post(url(), notObject.body, notObject.headers)).json().error?.code, -32602);

    const retry = modern('tools/call', { name: 'trigger-elicitation-request', arguments: {}, inputResponses: { [key]: { action: 'accept', content: { name: 'Grace Hopper', check: true, email: 'g@example.com' } } }, requestState: r1.requestState }, 4, caps);
    const done = (await post(url(), retry.body, retry.headers)).json().result;
    assert.equal(done.resultType, 'complete');
    assert.match(JSON.stringify(done.content), /Grace Hopper/);

    const replay = (await post(url(), retry.body, retry.headers)).json();
    assert.equal(replay.error?.code, -32602, 'a finished held call cannot be resumed again');
  });

  test('a client that did not declare elicitation is not asked; the upstream gets a refusal', async () => {
    const first = modern('tools/call', { name: 'trigger-elicitation-request', arguments: {} }, 1, {});
    const r = (await post(url(), first.body, first.headers)).json();
    assert.notEqual(r.result?.resultType, 'input_required');
  });
});
