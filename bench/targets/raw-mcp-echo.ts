/**
 * A minimal MCP server over Streamable HTTP written against the wire, without the SDK: JSON responses only,
 * legacy sessions (initialize → Mcp-Session-Id → DELETE) and stateless 2026-07-28 requests on the same endpoint.
 * It answers initialize, server/discover, ping, tools/list and tools/call (one tool, `echo`), so an upstream that
 * is faster than the gateway can be put behind it. Loopback only.
 * Run: node --import tsx bench/targets/raw-mcp-echo.ts   (prints "READY <url>" on stdout)
 */
import { randomUUID } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exitWithParent } from './orphan.js';

exitWithParent();

const MODERN = '2026-07-28';
const LEGACY = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];
const PV = 'io.modelcontextprotocol/protocolVersion';
const SERVER_INFO = { name: 'raw-mcp-echo', version: '1.0.0' };
const TOOLS = [{
  name: 'echo',
  description: 'Echoes its text',
  inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
}];

interface Msg { jsonrpc?: unknown; id?: string | number; method?: string; params?: Record<string, unknown> }

const sessions = new Set<string>();

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const ok = (id: Msg['id'], result: unknown) => ({ jsonrpc: '2.0', id, result });
const err = (id: Msg['id'] | null, code: number, message: string) => ({ jsonrpc: '2.0', id, error: { code, message } });

function answer(m: Msg): unknown {
  switch (m.method) {
    case 'ping':
      return ok(m.id, {});
    case 'tools/list':
      return ok(m.id, { tools: TOOLS });
    case 'tools/call': {
      const args = (m.params?.arguments ?? {}) as { text?: unknown };
      if (m.params?.name !== 'echo') return ok(m.id, { isError: true, content: [{ type: 'text', text: 'unknown tool' }] });
      return ok(m.id, { content: [{ type: 'text', text: String(args.text ?? '') }] });
    }
    case 'server/discover':
      return ok(m.id, { supportedVersions: [MODERN], capabilities: { tools: {} }, _meta: { 'io.modelcontextprotocol/serverInfo': SERVER_INFO } });
    default:
      return err(m.id ?? null, -32601, `Method not found: ${m.method}`);
  }
}

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.method === 'DELETE') {
    const sid = req.headers['mcp-session-id'];
    res.writeHead(typeof sid === 'string' && sessions.delete(sid) ? 200 : 404).end();
    return;
  }
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST, DELETE' }).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let m: Msg;
    try {
      m = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Msg;
    } catch {
      return send(res, 400, err(null, -32700, 'Parse error'));
    }
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return send(res, 400, err(null, -32600, 'Invalid Request'));
    const meta = m.params?._meta as Record<string, unknown> | undefined;
    if (meta && typeof meta[PV] === 'string') {
      // Modern era: stateless; a notification is accepted, a request answered.
      if (meta[PV] !== MODERN) return send(res, 400, err(m.id ?? null, -32022, 'Unsupported protocol version'));
      if (m.id === undefined) { res.writeHead(202).end(); return; }
      return send(res, 200, answer(m));
    }
    if (m.method === 'initialize') {
      const requested = m.params?.protocolVersion;
      const sid = randomUUID();
      sessions.add(sid);
      const protocolVersion = typeof requested === 'string' && LEGACY.includes(requested) ? requested : LEGACY[0];
      return send(res, 200, ok(m.id, { protocolVersion, capabilities: { tools: {} }, serverInfo: SERVER_INFO }), { 'mcp-session-id': sid });
    }
    if (m.method === 'server/discover') return send(res, 200, answer(m));
    const sid = req.headers['mcp-session-id'];
    if (typeof sid !== 'string') return send(res, 400, err(m.id ?? null, -32000, 'Bad Request: Mcp-Session-Id required'));
    if (!sessions.has(sid)) return send(res, 404, err(m.id ?? null, -32001, 'Session not found'));
    if (m.id === undefined || m.method === undefined) { res.writeHead(202).end(); return; }
    return send(res, 200, answer(m));
  });
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
