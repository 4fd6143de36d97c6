/**
 * Upstream wires against real servers: server-everything over stdio and HTTP+SSE, SDK v2 servers over
 * Streamable HTTP (legacy sessionful and modern per-request), plus raw node:http servers for edge cases.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { pino } from 'pino';
import * as z from 'zod/v4';
import { createMcpHandler, McpServer, type EventStore, type JSONRPCMessage } from '@modelcontextprotocol/server';
import { NodeStreamableHTTPServerTransport, toNodeHandler } from '@modelcontextprotocol/node';
import type { JsonRpcFailure, JsonRpcId, JsonRpcMessage } from '../src/core/jsonrpc.js';
import type { UpstreamWire, WireContext } from '../src/upstream/wire.js';
import { SseParser, type SseEvent } from '../src/upstream/wires/sseParser.js';
import { StdioWire } from '../src/upstream/wires/stdio.js';
import { encodeHeaderValue, HttpWire } from '../src/upstream/wires/http.js';
import { SseWire } from '../src/upstream/wires/sse.js';

// ---------------------------------------------------------------------------------------------- helpers

class Inbox {
  readonly messages: Array<{ m: JsonRpcMessage; ctx: WireContext }> = [];
  readonly errors: Error[] = [];
  readonly closes: Array<Error | undefined> = [];
  private readonly waiters = new Set<() => void>();

  constructor(wire: UpstreamWire) {
    wire.onmessage = (m, ctx) => this.push(() => this.messages.push({ m, ctx }));
    wire.onerror = (e) => this.push(() => this.errors.push(e));
    wire.onclose = (r) => this.push(() => this.closes.push(r));
  }

  private push(f: () => void): void {
    f();
    for (const w of [...this.waiters]) w();
  }

  until<T>(probe: () => T | undefined | false, what = 'condition', ms = 10_000): Promise<T> {
    const first = probe();
    if (first) return Promise.resolve(first);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const v = probe();
        if (v) {
          cleanup();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}`));
      }, ms);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  response(id: JsonRpcId): Promise<{ m: JsonRpcMessage; ctx: WireContext }> {
    return this.until(() => this.messages.find((x) => !('method' in x.m) && x.m.id === id), `response ${id}`);
  }

  responsesTo(id: JsonRpcId): number {
    return this.messages.filter((x) => !('method' in x.m) && x.m.id === id).length;
  }
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function poll(probe: () => boolean, what: string, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !probe(); await delay(20)) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}
const req = (id: JsonRpcId, method: string, params?: Record<string, unknown>): JsonRpcMessage =>
  (params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
const initialize = (id: JsonRpcId, protocolVersion = '2025-11-25'): JsonRpcMessage =>
  req(id, 'initialize', { protocolVersion, capabilities: {}, clientInfo: { name: 'portcullis-test', version: '0' } });
const initialized: JsonRpcMessage = { jsonrpc: '2.0', method: 'notifications/initialized' };

function result(x: { m: JsonRpcMessage }): Record<string, unknown> {
  assert.ok('result' in x.m, `expected a result, got ${JSON.stringify(x.m)}`);
  return x.m.result;
}
function failureOf(x: { m: JsonRpcMessage }): JsonRpcFailure['error'] {
  assert.ok('error' in x.m, `expected an error, got ${JSON.stringify(x.m)}`);
  return x.m.error;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Resolves when the server has closed; rejects if lingering connections keep it open. */
function closesCleanly(server: Server, ms = 2000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      server.closeAllConnections();
      reject(new Error('server still had open connections'));
    }, ms);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function forceClose(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

const require = createRequire(import.meta.url);
function everythingEntry(): string {
  const pkgPath = require.resolve('@modelcontextprotocol/server-everything/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { bin: Record<string, string> };
  return join(dirname(pkgPath), pkg.bin['mcp-server-everything']!);
}

function captureLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

const nodeWire = (script: string, extra: Partial<ConstructorParameters<typeof StdioWire>[0]> = {}): StdioWire =>
  new StdioWire({ command: process.execPath, args: ['-e', script], name: 'node-e', ...extra });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------- SSE parser

function parseAll(chunks: Array<string | Uint8Array>): { events: SseEvent[]; retries: number[]; lastId: string } {
  const events: SseEvent[] = [];
  const retries: number[] = [];
  const p = new SseParser({ onEvent: (e) => events.push(e), onRetry: (ms) => retries.push(ms) });
  for (const c of chunks) p.push(c);
  p.end();
  return { events, retries, lastId: p.lastEventId };
}

describe('SseParser', () => {
  test('joins multi-line data, keeps event type and id, ignores comments and unknown fields', () => {
    const { events } = parseAll([': hello\nevent: ping\nid: 7\ndata: a\ndata:b\ndata:  c\nfoo: bar\n\n']);
    assert.deepEqual(events, [{ type: 'ping', data: 'a\nb\n c', id: '7' }]);
  });

  test('CRLF, CR and LF line endings all work, also mixed', () => {
    const { events } = parseAll(['data: 1\r\n\r\ndata: 2\r\rdata: 3\n\ndata: 4\r\n\n']);
    assert.deepEqual(events.map((e) => e.data), ['1', '2', '3', '4']);
  });

  test('id persists across events; an id with NUL is ignored; id-only events do not dispatch', () => {
    const { events, lastId } = parseAll(['id: a\ndata: x\n\ndata: y\n\nid: b\0c\ndata: z\n\nid: prime\ndata\n\nid: last\n\n']);
    assert.deepEqual(events.map((e) => [e.data, e.id]), [['x', 'a'], ['y', 'a'], ['z', 'a'], ['', 'prime']]);
    assert.equal(lastId, 'last');
  });

  test('retry accepts digits only; a field without colon has an empty value; BOM is stripped', () => {
    const { events, retries } = parseAll(['\ufeffretry: 1500\nretry: 12a\nretry\ndata\n\n']);
    assert.deepEqual(retries, [1500]);
    assert.deepEqual(events, [{ type: 'message', data: '', id: '' }]);
  });

  test('an unterminated trailing event is discarded', () => {
    const { events } = parseAll(['data: complete\n\ndata: partial']);
    assert.deepEqual(events.map((e) => e.data), ['complete']);
  });

  test('split at every byte boundary gives the same events (CRLF, multi-byte UTF-8)', () => {
    const text = '\ufeff: c\r\nevent: e1\r\nid: 1\r\ndata: héllo 世界 🎉\r\ndata: two\r\n\r\nretry: 10\rdata: {"a":1}\r\rdata: x\n\n';
    const bytes = new TextEncoder().encode(text);
    const whole = parseAll([bytes]);
    assert.equal(whole.events.length, 3);
    assert.equal(whole.events[0]!.data, 'héllo 世界 🎉\ntwo');
    for (let i = 0; i <= bytes.length; i++) {
      assert.deepEqual(parseAll([bytes.subarray(0, i), bytes.subarray(i)]), whole, `split at ${i}`);
    }
    for (let i = 0; i < bytes.length; i++) {
      for (let j = i; j <= bytes.length; j += 7) {
        assert.deepEqual(parseAll([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]), whole, `split at ${i},${j}`);
      }
    }
    const oneByOne = parseAll(Array.from(bytes, (_b, k) => bytes.subarray(k, k + 1)));
    assert.deepEqual(oneByOne, whole);
  });

  test('an oversized event is dropped with an error and parsing resumes after it', () => {
    const events: SseEvent[] = [];
    const errors: Error[] = [];
    const p = new SseParser({ maxEventChars: 16, onEvent: (e) => events.push(e), onError: (e) => errors.push(e) });
    p.push('data: ok\n\ndata: 0123456789');
    p.push('0123456789\ndata: more\n\ndata: fine\n\n');
    p.end();
    assert.deepEqual(events.map((e) => e.data), ['ok', 'fine']);
    assert.equal(errors.length, 1);
  });
});

describe('encodeHeaderValue (2026-07-28 Value Encoding)', () => {
  test('matches the specification examples', () => {
    assert.equal(encodeHeaderValue('us-west1'), 'us-west1');
    assert.equal(encodeHeaderValue('Hello, 世界'), '=?base64?SGVsbG8sIOS4lueVjA==?=');
    assert.equal(encodeHeaderValue(' padded '), '=?base64?IHBhZGRlZCA=?=');
    assert.equal(encodeHeaderValue('line1\nline2'), '=?base64?bGluZTEKbGluZTI=?=');
    assert.equal(encodeHeaderValue('=?base64?literal?='), '=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=');
    assert.equal(encodeHeaderValue('file:///a b/c.json'), 'file:///a b/c.json');
  });
});

// ---------------------------------------------------------------------------------------------- stdio

describe('StdioWire', () => {
  test('raw initialize / initialized / tools/list round trip with server-everything', async () => {
    const wire = new StdioWire({ command: process.execPath, args: [everythingEntry(), 'stdio'], name: 'everything' });
    const inbox = new Inbox(wire);
    await wire.start();
    await wire.send(initialize(1));
    const init = result(await inbox.response(1));
    assert.equal((init.serverInfo as { name: string }).name.length > 0, true);
    assert.equal(typeof init.protocolVersion, 'string');
    await wire.send(initialized);
    await wire.send(req(2, 'tools/list'));
    const tools = result(await inbox.response(2)).tools as Array<{ name: string }>;
    assert.ok(tools.some((t) => t.name === 'echo'), 'server-everything lists echo');
    assert.deepEqual(inbox.messages[0]!.ctx, {});
    await wire.close();
    assert.equal(inbox.closes.length, 0, 'no onclose after close()');
  });

  test('the child sees only PATH, HOME and the configured env (no gateway secrets)', async () => {
    process.env.PORTCULLIS_TEST_SECRET = 'hunter2';
    try {
      const wire = nodeWire(
        "process.stdout.write(JSON.stringify({jsonrpc:'2.0',method:'env',params:{keys:Object.keys(process.env),v:process.env.CONFIGURED}})+'\\n')",
        { env: { CONFIGURED: 'yes' } },
      );
      const inbox = new Inbox(wire);
      await wire.start();
      const { m } = await inbox.until(() => inbox.messages[0], 'env message');
      const params = (m as unknown as { params: { keys: string[]; v: string } }).params;
      const expected = ['PATH', 'HOME'].filter((k) => process.env[k] !== undefined).concat('CONFIGURED');
      assert.deepEqual(params.keys.sort(), expected.sort());
      assert.equal(params.v, 'yes');
      assert.ok(!params.keys.includes('PORTCULLIS_TEST_SECRET'));
      await wire.close();
    } finally {
      delete process.env.PORTCULLIS_TEST_SECRET;
    }
  });

  test('junk and overlong lines are onerror, later messages still arrive, stderr is logged', async () => {
    const { logger, lines } = captureLogger();
    const script = `
      const out = (s) => new Promise((r) => process.stdout.write(s, r));
      (async () => {
        await out('Server starting...\\n');
        await out('x'.repeat(3000));
        await out('y'.repeat(3000) + '\\n');
        await out('{"jsonrpc":"2.0","method":"ok","params":{"n":1}}\\r\\n');
        process.stderr.write('warning: ' + 'z'.repeat(100) + '\\nsecond line\\n');
        await out('{"jsonrpc":"2.0","me');
        await out('thod":"ok","params":{"n":2}}\\n');
      })();
      setInterval(() => {}, 1000);`;
    const wire = nodeWire(script, { maxLineBytes: 4096, maxStderrLineBytes: 32, logger, name: 'junky' });
    const inbox = new Inbox(wire);
    await wire.start();
    await inbox.until(() => inbox.messages.length === 2, 'two ok messages');
    assert.deepEqual(inbox.messages.map((x) => (x.m as unknown as { params: { n: number } }).params.n), [1, 2]);
    assert.equal(inbox.errors.length, 2);
    assert.match(inbox.errors[0]!.message, /non-JSON line: Server starting/);
    assert.match(inbox.errors[1]!.message, /overlong line/);
    await poll(() => lines.filter((l) => l.msg === 'upstream stderr').length === 2, 'stderr logs');
    const logged = lines.filter((l) => l.msg === 'upstream stderr');
    assert.equal(logged[0]!.upstream, 'junky');
    assert.equal(logged[0]!.truncated, true);
    assert.equal(logged[0]!.stderr, `warning: ${'z'.repeat(23)}`);
    assert.equal(logged[1]!.stderr, 'second line');
    const pid = wire.pid!;
    const t0 = Date.now();
    await wire.close(); // the child ignores stdin EOF: SIGTERM after the default 2 s
    assert.ok(Date.now() - t0 >= 1900, 'SIGTERM came after the 2 s grace');
    assert.equal(alive(pid), false);
    assert.equal(inbox.closes.length, 0);
  });

  test('writes respect backpressure (large echo traffic)', async () => {
    const script = "require('readline').createInterface({input:process.stdin}).on('line',(l)=>process.stdout.write(l+'\\n'))";
    const wire = nodeWire(script);
    const inbox = new Inbox(wire);
    await wire.start();
    const blob = 'b'.repeat(256 * 1024);
    await Promise.all(Array.from({ length: 64 }, (_x, i) => wire.send(req(i, 'echo', { blob }))));
    await inbox.until(() => inbox.messages.length === 64, '64 echoes', 20_000);
    await wire.close();
  });

  test('an unexpected exit fires onclose once with the exit code', async () => {
    const wire = nodeWire('setTimeout(() => process.exit(3), 50)');
    const inbox = new Inbox(wire);
    await wire.start();
    const reason = await inbox.until(() => inbox.closes[0], 'onclose');
    assert.match(reason.message, /code 3/);
    await delay(300);
    assert.equal(inbox.closes.length, 1);
    await assert.rejects(wire.send(initialized), /not running/);
    await wire.close();
  });

  test('a signal death reports the signal', async () => {
    const wire = nodeWire("process.kill(process.pid, 'SIGKILL')");
    const inbox = new Inbox(wire);
    await wire.start();
    const reason = await inbox.until(() => inbox.closes[0], 'onclose');
    assert.match(reason.message, /signal SIGKILL/);
  });

  test('close() kills a child that ignores stdin EOF and SIGTERM', async () => {
    const wire = nodeWire("process.on('SIGTERM', () => {}); process.stdin.resume(); process.stdin.on('end', () => {}); setInterval(() => {}, 1000)",
      { termAfterMs: 100, killAfterMs: 400 });
    const inbox = new Inbox(wire);
    await wire.start();
    await delay(200); // let the child install its SIGTERM handler
    const pid = wire.pid!;
    const t0 = Date.now();
    await wire.close();
    assert.ok(Date.now() - t0 >= 350, 'waited for SIGKILL');
    assert.equal(alive(pid), false);
    assert.equal(inbox.closes.length, 0);
  });

  test('close() of a child that exits on EOF is quick', async () => {
    const wire = nodeWire("process.stdin.resume(); process.stdin.on('end', () => process.exit(0))");
    await wire.start();
    const t0 = Date.now();
    await wire.close();
    assert.ok(Date.now() - t0 < 1500);
  });

  test('spawn failure rejects start() with a clear error', async () => {
    const wire = new StdioWire({ command: '/nonexistent/portcullis-no-such-binary', name: 'ghost' });
    await assert.rejects(wire.start(), /Cannot start upstream "ghost".*ENOENT/);
    await wire.close();
  });
});

// ---------------------------------------------------------------------------------------------- SDK servers

/** progressTokens of 'progress' calls that saw their cancellation signal fire. */
const cancelledCalls: unknown[] = [];

function buildMcp(): McpServer {
  const mcp = new McpServer({ name: 'sdk-test', version: '1.0.0' }, { capabilities: { logging: {} } });
  mcp.registerTool('echo', { inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
  mcp.registerTool('progress', { inputSchema: z.object({ steps: z.number(), ms: z.number().optional() }) }, async ({ steps, ms }, ctx) => {
    const token = ctx.mcpReq._meta?.progressToken;
    for (let i = 1; i <= steps; i++) {
      if (ms) await delay(ms);
      if (ctx.mcpReq.signal.aborted) {
        cancelledCalls.push(token);
        break;
      }
      if (token !== undefined) await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: i, total: steps } });
    }
    return { content: [{ type: 'text', text: `did ${steps}` }] };
  });
  mcp.registerTool('poll', {}, async (ctx) => {
    const token = ctx.mcpReq._meta?.progressToken ?? 'poll';
    await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: 1 } });
    await delay(50);
    ctx.http?.closeSSE?.(); // the server drops the connection; events continue into the event store
    await delay(50);
    await ctx.mcpReq.notify({ method: 'notifications/progress', params: { progressToken: token, progress: 2 } });
    return { content: [{ type: 'text', text: 'polled' }] };
  });
  return mcp;
}

class MemoryEventStore implements EventStore {
  private readonly events: Array<{ id: string; stream: string; message: JSONRPCMessage }> = [];
  async storeEvent(stream: string, message: JSONRPCMessage): Promise<string> {
    const id = `${stream}#${this.events.length}`;
    this.events.push({ id, stream, message });
    return id;
  }
  async getStreamIdForEventId(id: string): Promise<string | undefined> {
    return this.events.find((e) => e.id === id)?.stream;
  }
  async replayEventsAfter(lastId: string, { send }: { send: (id: string, m: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const i = this.events.findIndex((e) => e.id === lastId);
    const stream = this.events[i]?.stream ?? '';
    for (const e of this.events.slice(i + 1)) if (e.stream === stream) await send(e.id, e.message);
    return stream;
  }
}

interface LegacySdk {
  url: string;
  server: Server;
  seen: Array<{ method: string; headers: IncomingHttpHeaders }>;
  sessions: Map<string, { transport: NodeStreamableHTTPServerTransport; mcp: McpServer }>;
  closedSessions: string[];
  shutdown(): Promise<void>;
}

/** The standard sessionful SDK v2 wiring: known sid → its transport; unknown sid → 404; else a new session. */
async function legacySdkServer(opts: { eventStore?: EventStore; retryInterval?: number } = {}): Promise<LegacySdk> {
  const sessions: LegacySdk['sessions'] = new Map();
  const seen: LegacySdk['seen'] = [];
  const closedSessions: string[] = [];
  const { server, url } = await listen((request, response) => {
    seen.push({ method: request.method ?? '', headers: request.headers });
    const sid = request.headers['mcp-session-id'];
    const known = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (known) return void known.transport.handleRequest(request, response);
    if (sid !== undefined) {
      response.writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
      return;
    }
    const mcp = buildMcp();
    const transport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      ...(opts.eventStore ? { eventStore: opts.eventStore } : {}),
      ...(opts.retryInterval ? { retryInterval: opts.retryInterval } : {}),
      onsessioninitialized: (id) => void sessions.set(id, { transport, mcp }),
      onsessionclosed: (id) => {
        closedSessions.push(id);
        sessions.delete(id);
      },
    });
    void mcp.connect(transport).then(() => transport.handleRequest(request, response));
  });
  return {
    url: `${url}/mcp`, server, seen, sessions, closedSessions,
    async shutdown() {
      for (const s of sessions.values()) await s.transport.close();
      await forceClose(server);
    },
  };
}

async function legacyHandshake(wire: HttpWire, inbox: Inbox): Promise<void> {
  await wire.send(initialize('init'));
  const init = result(await inbox.response('init'));
  wire.setProtocolVersion(init.protocolVersion as string);
  await wire.send(initialized);
}

describe('HttpWire, legacy era against an SDK v2 sessionful server', () => {
  test('initialize, session capture, tools/list, tools/call with SSE progress, listen stream, DELETE on close', async () => {
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const sdk = await legacySdkServer();
    const wire = new HttpWire({ url: sdk.url, name: 'sdk', headers: { 'X-Custom': 'yes' } });
    const inbox = new Inbox(wire);
    await wire.start();
    await legacyHandshake(wire, inbox);
    assert.ok(wire.sessionId && sdk.sessions.has(wire.sessionId), 'session id captured');
    assert.deepEqual(inbox.messages[0]!.ctx, { relatedRequestId: 'init' });

    await wire.send(req(2, 'tools/list'));
    const tools = result(await inbox.response(2)).tools as Array<{ name: string }>;
    assert.deepEqual(tools.map((t) => t.name).sort(), ['echo', 'poll', 'progress']);
    const listPost = sdk.seen.filter((s) => s.method === 'POST').at(-1)!.headers;
    assert.equal(listPost['mcp-session-id'], wire.sessionId);
    assert.equal(listPost['mcp-protocol-version'], '2025-11-25');
    assert.equal(listPost['x-custom'], 'yes');
    assert.equal(listPost['mcp-method'], undefined);
    assert.equal(listPost.accept, 'application/json, text/event-stream');

    await wire.send(req(3, 'tools/call', { name: 'progress', arguments: { steps: 3 }, _meta: { progressToken: 'tok' } }));
    const res = await inbox.response(3);
    assert.deepEqual(result(res).content, [{ type: 'text', text: 'did 3' }]);
    const progress = inbox.messages.filter((x) => 'method' in x.m && x.m.method === 'notifications/progress');
    assert.equal(progress.length, 3);
    for (const p of progress) assert.deepEqual(p.ctx, { relatedRequestId: 3 });

    await wire.openListenStream();
    await delay(100);
    const getReq = sdk.seen.find((s) => s.method === 'GET')!;
    assert.equal(getReq.headers.accept, 'text/event-stream');
    await sdk.sessions.get(wire.sessionId!)!.mcp.sendToolListChanged();
    const changed = await inbox.until(() => inbox.messages.find((x) => 'method' in x.m && x.m.method === 'notifications/tools/list_changed'), 'list_changed');
    assert.deepEqual(changed.ctx, {});

    const sid = wire.sessionId!;
    await wire.close();
    const del = sdk.seen.find((s) => s.method === 'DELETE');
    assert.equal(del?.headers['mcp-session-id'], sid);
    assert.deepEqual(sdk.closedSessions, [sid]);
    assert.deepEqual(inbox.errors, []);
    await closesCleanly(sdk.server);
    await delay(20);
    const timersAfter = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    assert.ok(timersAfter <= timersBefore, `timers left behind: ${timersBefore} → ${timersAfter}`);
  });

  test('close() in the middle of a streaming call aborts it; the server then closes cleanly', async () => {
    const sdk = await legacySdkServer();
    const wire = new HttpWire({ url: sdk.url });
    const inbox = new Inbox(wire);
    await legacyHandshake(wire, inbox);
    await wire.openListenStream();
    await wire.send(req(5, 'tools/call', { name: 'progress', arguments: { steps: 20, ms: 50 }, _meta: { progressToken: 'c5' } }));
    await inbox.until(() => inbox.messages.find((x) => x.ctx.relatedRequestId === 5), 'first progress');
    await wire.close();
    const delivered = inbox.messages.length;
    await delay(200);
    assert.equal(inbox.messages.length, delivered, 'nothing delivered after close()');
    assert.equal(inbox.closes.length, 0);
    await closesCleanly(sdk.server);
    for (const s of sdk.sessions.values()) await s.transport.close();
  });

  test('JSON-RPC error body of an HTTP 400 is delivered as the response', async () => {
    const sdk = await legacySdkServer();
    const wire = new HttpWire({ url: sdk.url });
    const inbox = new Inbox(wire);
    await legacyHandshake(wire, inbox);
    wire.setProtocolVersion('1999-01-01');
    await wire.send(req(7, 'tools/list'));
    const err = failureOf(await inbox.response(7));
    assert.equal(err.code, -32000);
    assert.match(err.message, /Unsupported protocol version/);
    await wire.close();
    await sdk.shutdown();
  });

  test('404 on a request carrying the session id → synthetic failure with sessionExpired', async () => {
    const sdk = await legacySdkServer();
    const wire = new HttpWire({ url: sdk.url });
    const inbox = new Inbox(wire);
    await legacyHandshake(wire, inbox);
    const sid = wire.sessionId!;
    await sdk.sessions.get(sid)!.transport.close(); // the server forgets the session
    sdk.sessions.delete(sid);
    await wire.send(req(8, 'tools/list'));
    const err = failureOf(await inbox.response(8));
    assert.deepEqual(err, { code: -32010, message: 'Upstream HTTP 404', data: { transport: true, httpStatus: 404, sessionExpired: true } });
    await wire.send(initialized); // a notification's failure is an onerror, not a message
    await inbox.until(() => inbox.errors[0], 'notification error');
    assert.equal((inbox.errors[0] as Error & { sessionExpired?: boolean }).sessionExpired, true);
    wire.resetSession();
    assert.equal(wire.sessionId, undefined);
    await legacyHandshake(wire, inbox); // a new session
    assert.ok(wire.sessionId && wire.sessionId !== sid);
    await wire.close();
    await sdk.shutdown();
  });

  test('abort cancels the stream and delivers nothing', async () => {
    const sdk = await legacySdkServer();
    const wire = new HttpWire({ url: sdk.url });
    const inbox = new Inbox(wire);
    await legacyHandshake(wire, inbox);
    const ac = new AbortController();
    await wire.send(req(9, 'tools/call', { name: 'progress', arguments: { steps: 20, ms: 50 }, _meta: { progressToken: 't9' } }), { signal: ac.signal });
    await inbox.until(() => inbox.messages.find((x) => 'method' in x.m && x.m.method === 'notifications/progress'), 'first progress');
    ac.abort();
    await delay(400);
    assert.equal(inbox.responsesTo(9), 0);
    assert.deepEqual(inbox.errors, []);
    // an already-aborted signal sends nothing at all
    const before = sdk.seen.length;
    const dead = AbortSignal.abort();
    await wire.send(req(10, 'tools/list'), { signal: dead });
    await delay(50);
    assert.equal(sdk.seen.length, before);
    assert.equal(inbox.responsesTo(10), 0);
    await wire.close();
    await sdk.shutdown();
  });

  test('a dropped stream with event ids is resumed with GET + Last-Event-ID', async () => {
    const sdk = await legacySdkServer({ eventStore: new MemoryEventStore(), retryInterval: 100 });
    const wire = new HttpWire({ url: sdk.url });
    const inbox = new Inbox(wire);
    await legacyHandshake(wire, inbox);
    await wire.send(req(11, 'tools/call', { name: 'poll', arguments: {}, _meta: { progressToken: 'p11' } }));
    const res = await inbox.response(11);
    assert.deepEqual(result(res).content, [{ type: 'text', text: 'polled' }]);
    assert.deepEqual(res.ctx, { relatedRequestId: 11 });
    const resume = sdk.seen.find((s) => s.method === 'GET' && s.headers['last-event-id']);
    assert.ok(resume, 'resumed with Last-Event-ID');
    const progress = inbox.messages.filter((x) => 'method' in x.m && x.m.method === 'notifications/progress');
    assert.equal(progress.length, 2);
    assert.equal(inbox.responsesTo(11), 1);
    await wire.close();
    await sdk.shutdown();
  });
});

describe('HttpWire, transport failures (raw servers)', () => {
  test('stream ending without ids before the response, HTTP 502, unreachable, bad notification', async () => {
    const { server, url } = await listen((request, response) => {
      let body = '';
      request.on('data', (c: Buffer) => (body += c.toString()));
      request.on('end', () => {
        const msg = JSON.parse(body) as { id?: number; method: string };
        if (msg.method === 'stream') {
          response.writeHead(200, { 'content-type': 'text/event-stream' });
          response.end(`data: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x' } })}\n\n`);
        } else if (msg.method === 'json-no-answer') {
          response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: 999, result: {} }));
        } else {
          response.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad gateway</h1>');
        }
      });
    });
    const wire = new HttpWire({ url: `${url}/mcp` });
    const inbox = new Inbox(wire);
    await wire.send(req(1, 'stream'));
    const e1 = failureOf(await inbox.response(1));
    assert.equal(e1.code, -32010);
    assert.deepEqual(e1.data, { transport: true });
    assert.equal(inbox.messages[0]!.ctx.relatedRequestId, 1); // the notification before it
    await wire.send(req(2, 'boom'));
    assert.deepEqual(failureOf(await inbox.response(2)), { code: -32010, message: 'Upstream HTTP 502', data: { transport: true, httpStatus: 502 } });
    await wire.send(req(3, 'json-no-answer'));
    assert.equal(failureOf(await inbox.response(3)).code, -32010);
    await wire.send({ jsonrpc: '2.0', method: 'boom' });
    await inbox.until(() => inbox.errors.find((e) => /HTTP 502/.test(e.message)), 'notification error');
    await wire.close();
    await closesCleanly(server);

    const gone = new HttpWire({ url: `${url}/mcp` }); // the server is closed now
    const inbox2 = new Inbox(gone);
    await gone.send(req(4, 'tools/list'));
    const e4 = failureOf(await inbox2.response(4));
    assert.equal(e4.code, -32010);
    assert.deepEqual(e4.data, { transport: true });
    await gone.close();
  });

  test('openListenStream: 405 resolves quietly; a dropped stream reconnects with Last-Event-ID', async () => {
    let gets = 0;
    const lastIds: Array<string | undefined> = [];
    const { server, url } = await listen((request, response) => {
      if (request.url === '/no-get') return void response.writeHead(405).end();
      gets++;
      lastIds.push(request.headers['last-event-id'] as string | undefined);
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const n = gets;
      response.write(`retry: 50\nid: ev${n}\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/n', params: { n } })}\n\n`);
      if (n < 3) response.end(); // drop the connection; the wire must come back
    });
    const quiet = new HttpWire({ url: `${url}/no-get` });
    await quiet.openListenStream();
    await quiet.close();

    const wire = new HttpWire({ url: `${url}/mcp` });
    const inbox = new Inbox(wire);
    await wire.openListenStream();
    await inbox.until(() => inbox.messages.length === 3, 'three listen messages');
    assert.deepEqual(lastIds, [undefined, 'ev1', 'ev2']);
    for (const x of inbox.messages) assert.deepEqual(x.ctx, {});
    await wire.close();
    await closesCleanly(server);
  });
});

describe('HttpWire, modern era (2026-07-28)', () => {
  const meta = {
    'io.modelcontextprotocol/protocolVersion': '2026-07-28',
    'io.modelcontextprotocol/clientInfo': { name: 'portcullis-test', version: '0' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };

  test('against createMcpHandler: JSON and SSE responses, 400/404 error bodies pass through', async () => {
    const handler = createMcpHandler(() => buildMcp());
    const node = toNodeHandler(handler);
    const seen: IncomingHttpHeaders[] = [];
    const { server, url } = await listen((request, response) => {
      seen.push(request.headers);
      void node(request, response);
    });
    const wire = new HttpWire({ url: `${url}/mcp` });
    const inbox = new Inbox(wire);
    await wire.send(req(1, 'tools/call', { name: 'echo', arguments: { text: 'hi' }, _meta: meta }));
    assert.deepEqual(result(await inbox.response(1)).content, [{ type: 'text', text: 'hi' }]);
    assert.equal(seen[0]!['mcp-method'], 'tools/call');
    assert.equal(seen[0]!['mcp-name'], 'echo');
    assert.equal(seen[0]!['mcp-protocol-version'], '2026-07-28');

    await wire.send(req(2, 'tools/call', { name: 'progress', arguments: { steps: 2 }, _meta: { ...meta, progressToken: 'm' } }));
    await inbox.response(2);
    assert.equal(inbox.messages.filter((x) => x.ctx.relatedRequestId === 2).length, 3);

    await wire.send(req(3, 'no/such', { _meta: meta }));
    assert.equal(failureOf(await inbox.response(3)).code, -32601); // HTTP 404 with a JSON-RPC body: not a session expiry
    await wire.send(req(4, 'tools/list', { _meta: { ...meta, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } }));
    const unsupported = failureOf(await inbox.response(4));
    assert.equal(unsupported.code, -32022);
    assert.deepEqual((unsupported.data as { supported: string[] }).supported, ['2026-07-28']);
    await wire.openListenStream(); // modern servers answer GET with 405
    await wire.close();
    await handler.close();
    await closesCleanly(server);
  });

  test('abort closes the response stream: the server sees a cancellation, the wire delivers nothing', async () => {
    const handler = createMcpHandler(() => buildMcp());
    const node = toNodeHandler(handler);
    const { server, url } = await listen((request, response) => void node(request, response));
    const wire = new HttpWire({ url: `${url}/mcp` });
    const inbox = new Inbox(wire);
    const ac = new AbortController();
    await wire.send(req(1, 'tools/call', { name: 'progress', arguments: { steps: 40, ms: 25 }, _meta: { ...meta, progressToken: 'modern-abort' } }), { signal: ac.signal });
    await inbox.until(() => inbox.messages[0], 'first progress');
    ac.abort();
    await poll(() => cancelledCalls.includes('modern-abort'), 'server-side cancellation');
    await delay(100);
    assert.equal(inbox.responsesTo(1), 0);
    assert.deepEqual(inbox.errors, []);
    await wire.close();
    await handler.close();
    await closesCleanly(server);
  });

  test('header mirroring with Base64 sentinel, never a session id in the modern era', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const { server, url } = await listen((request, response) => {
      seen.push(request.headers);
      let body = '';
      request.on('data', (c: Buffer) => (body += c.toString()));
      request.on('end', () => {
        if (request.method !== 'POST') return void response.writeHead(405).end();
        const msg = JSON.parse(body) as { id?: JsonRpcId };
        if (msg.id === undefined) return void response.writeHead(202).end();
        response.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'legacy-sid' });
        response.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: {} }));
      });
    });
    const wire = new HttpWire({ url: `${url}/mcp` });
    const inbox = new Inbox(wire);
    await wire.send(initialize(0));
    await inbox.response(0);
    assert.equal(wire.sessionId, 'legacy-sid');
    await wire.send(req(1, 'tools/call', { name: 'grüß dich', arguments: { region: 'eu' }, _meta: meta }),
      { headers: { 'Mcp-Param-Region': 'eu', 'mcp-method': 'spoofed' } });
    await wire.send(req(2, 'resources/read', { uri: 'file:///etc/hosts', _meta: meta }));
    await wire.send(req(3, 'prompts/get', { name: '=?base64?x?=', _meta: meta }));
    await wire.send(req(4, 'tools/list', { _meta: meta }));
    await wire.send({ jsonrpc: '2.0', method: 'notifications/x', params: { _meta: meta } });
    await wire.send(req(5, 'tools/list'));
    await inbox.response(5);
    const [, call, read, prompt, list, note, legacy] = seen;
    assert.equal(call!['mcp-name'], `=?base64?${Buffer.from('grüß dich').toString('base64')}?=`);
    assert.equal(call!['mcp-param-region'], 'eu');
    assert.equal(call!['mcp-method'], 'tools/call', 'per-message headers cannot replace protocol headers');
    assert.equal(read!['mcp-name'], 'file:///etc/hosts');
    assert.equal(read!['mcp-method'], 'resources/read');
    assert.equal(prompt!['mcp-name'], '=?base64?PT9iYXNlNjQ/eD89?=');
    assert.equal(list!['mcp-name'], undefined);
    assert.equal(note!['mcp-method'], 'notifications/x');
    for (const h of [call, read, prompt, list, note]) {
      assert.equal(h!['mcp-session-id'], undefined);
      assert.equal(h!['mcp-protocol-version'], '2026-07-28');
    }
    assert.equal(legacy!['mcp-session-id'], 'legacy-sid');
    assert.equal(legacy!['mcp-method'], undefined);
    await wire.close();
    await closesCleanly(server);
  });
});

// ---------------------------------------------------------------------------------------------- HTTP+SSE

async function freePort(): Promise<number> {
  const { server } = await listen(() => {});
  const port = (server.address() as AddressInfo).port;
  await forceClose(server);
  return port;
}

describe('SseWire (HTTP+SSE, 2024-11-05)', () => {
  test('initialize / tools/list against server-everything in sse mode', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [everythingEntry(), 'sse'], { env: { PATH: process.env.PATH ?? '', PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
    after(() => void child.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      let err = '';
      child.stderr.on('data', (c: Buffer) => {
        err += c.toString();
        if (/running on port/.test(err)) resolve();
      });
      child.once('exit', () => reject(new Error(`server-everything sse exited: ${err}`)));
    });
    const wire = new SseWire({ url: `http://127.0.0.1:${port}/sse`, name: 'everything-sse' });
    const inbox = new Inbox(wire);
    await wire.start();
    assert.match(wire.endpoint!, new RegExp(`^http://127\\.0\\.0\\.1:${port}/message\\?sessionId=`));
    await wire.send(initialize(1, '2024-11-05'));
    const init = await inbox.response(1);
    assert.deepEqual(init.ctx, {});
    assert.equal(result(init).protocolVersion, '2024-11-05');
    await wire.send(initialized);
    await wire.send(req(2, 'tools/list'));
    const tools = result(await inbox.response(2)).tools as Array<{ name: string }>;
    assert.ok(tools.some((t) => t.name === 'echo'));
    await wire.close();
    assert.equal(inbox.closes.length, 0);
    child.kill('SIGTERM');
    await once(child, 'exit');
  });

  test('refuses a cross-origin endpoint, times out without one, reports stream loss', async () => {
    const streams: ServerResponse[] = [];
    const { server, url } = await listen((request, response) => {
      if (request.method === 'POST') {
        request.resume();
        return void response.writeHead(500, { 'content-type': 'text/plain' }).end('nope');
      }
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      streams.push(response);
      if (request.url === '/evil') response.write('event: endpoint\ndata: http://evil.example/steal\n\n');
      if (request.url === '/good') response.write('event: endpoint\ndata: /messages?session=1\n\n');
      // '/silent' sends nothing
    });
    await assert.rejects(new SseWire({ url: `${url}/evil` }).start(), /not on the SSE origin/);
    await assert.rejects(new SseWire({ url: `${url}/silent`, endpointTimeoutMs: 200 }).start(), /no SSE endpoint event in time/);

    const wire = new SseWire({ url: `${url}/good` });
    const inbox = new Inbox(wire);
    await wire.start();
    assert.equal(wire.endpoint, `${url}/messages?session=1`);
    await wire.send(req(1, 'ping'));
    assert.deepEqual(failureOf(await inbox.response(1)), { code: -32010, message: 'Upstream HTTP 500', data: { transport: true, httpStatus: 500 } });
    streams.at(-1)!.end(); // the server drops the stream
    const reason = await inbox.until(() => inbox.closes[0], 'onclose');
    assert.match(reason.message, /SSE stream ended/);
    await assert.rejects(wire.send(req(2, 'ping')), /not open/);
    await wire.close();
    await forceClose(server);
  });
});
