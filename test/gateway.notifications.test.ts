/**
 * Change notifications through the gateway: list_changed and resource updates reach legacy sessions (GET stream,
 * resources/subscribe) and modern clients (subscriptions/listen), on a per-server endpoint and — namespaced — on a
 * virtual server; pagination of a long upstream list passes through intact.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { startFixture, type RunningFixture } from '../fixtures/conformance-server/index.js';
import { binOf, fixtureArgs, modern, startTestGateway } from './support/gateway.js';
import type { RunningGateway } from '../src/gateway.js';

let fixture: RunningFixture;
let gw: RunningGateway;
before(async () => {
  fixture = await startFixture();
  gw = await startTestGateway(`
upstreams:
  fx: { transport: http, url: ${JSON.stringify(fixture.url)} }
  fxs: { transport: stdio, command: ${JSON.stringify(process.execPath)}, args: ${fixtureArgs('fixtures/conformance-server/main.ts', '--stdio', '--legacy-only')} }
  everything: { transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(binOf('@modelcontextprotocol/server-everything'))}, stdio] }
virtualServers:
  both: { upstreams: [fx, fxs] }
`);
});
after(async () => { await gw?.close(); await fixture?.close(); });

const waitFor = async <T>(get: () => T | undefined, ms = 5000): Promise<T> => {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
};

async function legacyClient(path: string, seen: string[]): Promise<Client> {
  const c = new Client({ name: 'notify', version: '1' });
  c.setNotificationHandler('notifications/tools/list_changed', () => { seen.push('tools'); });
  c.setNotificationHandler('notifications/resources/updated', (n) => { seen.push(`updated:${n.params.uri}`); });
  await c.connect(new StreamableHTTPClientTransport(new URL(gw.url + path)));
  return c;
}

describe('legacy sessions', () => {
  for (const [label, path, trigger, watched] of [
    ['HTTP upstream, per-server endpoint', '/servers/fx/mcp', 'test_trigger_tool_change', 'test://watched-resource'],
    ['legacy stdio upstream, per-server endpoint', '/servers/fxs/mcp', 'test_trigger_tool_change', 'test://watched-resource'],
    ['virtual server', '/virtual/both/mcp', 'fxs__test_trigger_tool_change', 'portcullis://fxs/test://watched-resource'],
  ] as const) {
    test(`${label}: tools/list_changed on the GET stream; resources/updated only for subscribed URIs`, async () => {
      const seen: string[] = [];
      const c = await legacyClient(path, seen);
      try {
        await new Promise((r) => setTimeout(r, 200)); // the SDK opens its GET stream after initialize
        await c.callTool({ name: trigger, arguments: {} });
        await waitFor(() => (seen.includes('tools') ? true : undefined));
        await c.subscribeResource({ uri: watched });
        await c.callTool({ name: trigger.replace('tool_change', 'resource_update'), arguments: {} });
        await waitFor(() => (seen.includes(`updated:${watched}`) ? true : undefined));
        await c.unsubscribeResource({ uri: watched });
        const before = seen.length;
        await c.callTool({ name: trigger.replace('tool_change', 'resource_update'), arguments: {} });
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(seen.filter((s) => s.startsWith('updated:')).length, seen.slice(0, before).filter((s) => s.startsWith('updated:')).length, 'no update after unsubscribe');
      } finally { await c.close(); }
    });
  }
});

describe('modern subscriptions/listen', () => {
  test('acknowledged first, filtered, tagged with the subscription id, namespaced on a virtual server', async () => {
    const url = `${gw.url}/virtual/both/mcp`;
    const { body, headers } = modern('subscriptions/listen', { notifications: { toolsListChanged: true, resourceSubscriptions: ['portcullis://fx/test://watched-resource'] } }, 'listen-1');
    const ac = new AbortController();
    const res = await fetch(url, { method: 'POST', body: JSON.stringify(body), signal: ac.signal, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers } });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const messages: any[] = [];
    const reader = res.body!.getReader();
    void (async () => {
      let buf = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buf += new TextDecoder().decode(value);
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const ev = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = ev.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
            if (data) messages.push(JSON.parse(data));
          }
        }
      } catch { /* aborted */ }
    })();
    try {
      const ack = await waitFor(() => messages[0]);
      assert.equal(ack.method, 'notifications/subscriptions/acknowledged');
      assert.equal(ack.params._meta['io.modelcontextprotocol/subscriptionId'], 'listen-1');
      assert.deepEqual(ack.params.notifications.resourceSubscriptions, ['portcullis://fx/test://watched-resource']);
      const call = async (name: string) => {
        const m = modern('tools/call', { name, arguments: {} }, `c-${name}`);
        await fetch(url, { method: 'POST', body: JSON.stringify(m.body), headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...m.headers } }).then((r) => r.text());
      };
      await call('fx__test_trigger_tool_change');
      await waitFor(() => messages.find((m) => m.method === 'notifications/tools/list_changed'));
      await call('fx__test_trigger_prompt_change');
      await call('fx__test_trigger_resource_update');
      const upd = await waitFor(() => messages.find((m) => m.method === 'notifications/resources/updated'));
      assert.equal(upd.params.uri, 'portcullis://fx/test://watched-resource');
      assert.equal(upd.params._meta['io.modelcontextprotocol/subscriptionId'], 'listen-1');
      assert.ok(!messages.some((m) => m.method === 'notifications/prompts/list_changed'), 'prompts were not asked for');
    } finally { ac.abort(); }
  });
});

describe('pagination', () => {
  test('a long upstream resource list pages through a per-server endpoint and a virtual server alike', async () => {
    const everything = (await import('./support/gateway.js'));
    const vgw = await startTestGateway(`
upstreams:
  paged: { transport: stdio, command: ${JSON.stringify(process.execPath)}, args: ${fixtureArgs('fixtures/paged-server.ts')} }
  fx: { transport: http, url: ${JSON.stringify(fixture.url)} }
virtualServers:
  v: { upstreams: [paged, fx] }
`);
    try {
      const walk = async (url: string) => {
        const uris: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const { body, headers } = modern('resources/list', cursor ? { cursor } : {}, pages + 1);
          const r = (await everything.post(url, body, headers)).json().result;
          uris.push(...r.resources.map((x: { uri: string }) => x.uri));
          cursor = r.nextCursor;
          pages++;
        } while (cursor && pages < 200);
        return { uris, pages };
      };
      const direct = await walk(`${vgw.url}/servers/paged/mcp`);
      assert.equal(direct.pages, 7, 'the upstream pages pass through unchanged (25 resources, 4 a page)');
      assert.equal(direct.uris.length, 25);
      assert.equal(new Set(direct.uris).size, direct.uris.length);
      const virtual = await walk(`${vgw.url}/virtual/v/mcp`);
      const fromEverything = virtual.uris.filter((u) => u.startsWith('portcullis://paged/')).map((u) => u.slice('portcullis://paged/'.length));
      assert.deepEqual(fromEverything, direct.uris, 'every page of the upstream, in order, namespaced');
      assert.ok(virtual.uris.some((u) => u.startsWith('portcullis://fx/')), 'then the next member');
      const { body, headers } = modern('resources/list', { cursor: 'not-a-cursor' });
      assert.equal((await everything.post(`${vgw.url}/virtual/v/mcp`, body, headers)).json().error.code, -32602);
    } finally { await vgw.close(); }
  });
});
