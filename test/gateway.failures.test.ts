/**
 * Failure modes: an upstream that crashes mid-call, hangs, restarts, is missing, or loses its HTTP session;
 * cancellation in both directions; and no leaked child processes after shutdown.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { McpServer } from '@modelcontextprotocol/server';
import { NodeStreamableHTTPServerTransport } from '@modelcontextprotocol/node';
import * as z from 'zod/v4';
import { fixtureArgs, modern, post, startTestGateway } from './support/gateway.js';
import type { RunningGateway } from '../src/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-chaos-'));
const counter = join(dir, 'starts.log');
const lines = () => (existsSync(counter) ? readFileSync(counter, 'utf8').trim().split('\n') : []);
const pids = () => lines().filter((l) => /^\d+$/.test(l)).map(Number);
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const waitFor = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) { if (Date.now() > end) throw new Error('timed out waiting'); await new Promise((r) => setTimeout(r, 25)); }
};

// An in-process SDK Streamable HTTP upstream whose sessions the test can expire.
const transports = new Map<string, NodeStreamableHTTPServerTransport>();
let httpUpstream: Server;
async function startHttpUpstream(): Promise<string> {
  httpUpstream = createServer(async (req, res) => {
    const sid = req.headers['mcp-session-id'] as string | undefined;
    let t = sid ? transports.get(sid) : undefined;
    if (sid && !t) { res.writeHead(404).end(); return; }
    if (!t) {
      t = new NodeStreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => { transports.set(id, t!); } });
      const s = new McpServer({ name: 'http-upstream', version: '1' });
      s.registerTool('hello', { description: 'Says hello', inputSchema: z.object({}) }, async () => ({ content: [{ type: 'text', text: 'hello' }] }));
      await s.connect(t);
    }
    await t.handleRequest(req, res);
  });
  await new Promise<void>((r) => httpUpstream.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(httpUpstream.address() as AddressInfo).port}/mcp`;
}

let gw: RunningGateway;
before(async () => {
  const httpUrl = await startHttpUpstream();
  gw = await startTestGateway(`
upstreams:
  chaos:
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: ${fixtureArgs('fixtures/chaos-server.ts', counter)}
    timeoutMs: 800
    restart: { maxRetries: 5, initialDelayMs: 50, maxDelayMs: 200 }
  missing:
    transport: stdio
    command: /nonexistent/mcp-server
    restart: { maxRetries: 1, initialDelayMs: 50, maxDelayMs: 50 }
  web: { transport: http, url: ${JSON.stringify(httpUrl)} }
virtualServers:
  default: { upstreams: [missing, chaos, web] }
`);
});
after(async () => {
  await gw?.close();
  for (const t of transports.values()) await t.close().catch(() => {});
  await new Promise<void>((r) => httpUpstream.close(() => r()));
});

async function client(path: string): Promise<Client> {
  const c = new Client({ name: 'failures', version: '1' });
  await c.connect(new StreamableHTTPClientTransport(new URL(gw.url + path)));
  return c;
}

describe('upstream failures', () => {
  test('crash mid-call: the caller gets a clear error, the upstream restarts, later calls work', async () => {
    const c = await client('/servers/chaos/mcp');
    try {
      assert.equal((await c.callTool({ name: 'echo', arguments: { text: 'before' } })).isError, undefined);
      const before = pids().length;
      await assert.rejects(c.callTool({ name: 'crash', arguments: {} }), /unavailable|disconnected/i);
      await waitFor(() => pids().length > before);
      // The new child is up once its handshake is done (under load a tsx child takes longer than the 800 ms timeout
      // to start answering; a call sent before would only measure that).
      await waitFor(() => gw.gateway.upstreams.get('chaos')!.health === 'ready');
      const after = await c.callTool({ name: 'echo', arguments: { text: 'after' } });
      assert.deepEqual(after.content, [{ type: 'text', text: 'after' }]);
    } finally { await c.close(); }
  });

  test('a hanging upstream call times out; the gateway keeps serving', async () => {
    const c = await client('/servers/chaos/mcp');
    try {
      const t0 = Date.now();
      await assert.rejects(c.callTool({ name: 'hang', arguments: {} }), /timed out/i);
      assert.ok(Date.now() - t0 < 5000);
      assert.deepEqual((await c.callTool({ name: 'echo', arguments: { text: 'still here' } })).content, [{ type: 'text', text: 'still here' }]);
    } finally { await c.close(); }
  });

  test('a virtual server keeps serving healthy upstreams and names the degraded one', async () => {
    const { body, headers } = modern('tools/list');
    const names: string[] = [];
    const degraded: string[] = [];
    let cursor: string | undefined;
    do {
      if (cursor) (body.params as Record<string, unknown>).cursor = cursor;
      const r = (await post(`${gw.url}/mcp`, body, headers)).json().result;
      names.push(...r.tools.map((t: { name: string }) => t.name));
      degraded.push(...(r._meta?.['dev.portcullis/degraded'] ?? []).map((d: { server: string }) => d.server));
      cursor = r.nextCursor;
    } while (cursor);
    assert.ok(names.includes('chaos__echo') && names.includes('web__hello'), names.join());
    assert.deepEqual(degraded, ['missing']);
    const health = await (await fetch(`${gw.url}/healthz`)).json() as { status: string; upstreams: Array<{ name: string; health: string }> };
    assert.equal(health.status, 'degraded');
    assert.equal(health.upstreams.find((u) => u.name === 'missing')!.health, 'down');
  });

  test('an expired upstream HTTP session is re-established transparently', async () => {
    const c = await client('/servers/web/mcp');
    try {
      assert.deepEqual((await c.callTool({ name: 'hello', arguments: {} })).content, [{ type: 'text', text: 'hello' }]);
      for (const [id, t] of transports) { transports.delete(id); await t.close(); }
      assert.deepEqual((await c.callTool({ name: 'hello', arguments: {} })).content, [{ type: 'text', text: 'hello' }]);
    } finally { await c.close(); }
  });

  test('an HTTP upstream that goes away fails calls clearly and is used again when it comes back', async () => {
    const c = await client('/servers/web/mcp');
    try {
      const port = (httpUpstream.address() as AddressInfo).port;
      for (const [id, t] of transports) { transports.delete(id); await t.close(); }
      httpUpstream.closeAllConnections();
      await new Promise<void>((r) => httpUpstream.close(() => r()));
      await assert.rejects(c.callTool({ name: 'hello', arguments: {} }), /unavailable|ECONNREFUSED|Upstream/i);
      await new Promise<void>((r) => httpUpstream.listen(port, '127.0.0.1', r));
      assert.deepEqual((await c.callTool({ name: 'hello', arguments: {} })).content, [{ type: 'text', text: 'hello' }]);
    } finally { await c.close(); }
  });
});

describe('cancellation', () => {
  test('legacy client notifications/cancelled reaches the upstream', async () => {
    const c = await client('/servers/chaos/mcp');
    try {
      const ac = new AbortController();
      const p = c.callTool({ name: 'until-cancelled', arguments: {} }, { signal: ac.signal });
      await new Promise((r) => setTimeout(r, 150));
      ac.abort();
      await assert.rejects(p);
      await waitFor(() => lines().includes('cancelled'));
    } finally { await c.close(); }
  });

  test('modern client: closing the response stream cancels the upstream call', async () => {
    const before = lines().filter((l) => l === 'cancelled').length;
    const { body, headers } = modern('tools/call', { name: 'until-cancelled', arguments: {} });
    const ac = new AbortController();
    const p = fetch(`${gw.url}/servers/chaos/mcp`, { method: 'POST', body: JSON.stringify(body), signal: ac.signal, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers } });
    await new Promise((r) => setTimeout(r, 150));
    ac.abort();
    await assert.rejects(p);
    await waitFor(() => lines().filter((l) => l === 'cancelled').length > before);
  });
});

describe('shutdown', () => {
  test('closing the gateway leaves no upstream process or socket behind', async () => {
    assert.ok(pids().some(alive), 'a chaos process is running');
    await gw.close();
    await waitFor(() => !pids().some(alive), 8000);
    // …and no socket to the HTTP upstream (every connection it made, including renewed ones, is closed).
    let open = -1;
    const end = Date.now() + 3000;
    while (open !== 0 && Date.now() < end) {
      open = await new Promise<number>((r) => httpUpstream.getConnections((_e, n) => r(n)));
      if (open) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(open, 0, 'connections left open to the HTTP upstream');
  });
});
