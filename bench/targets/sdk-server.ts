/**
 * An MCP server built with the official SDK v2 (`McpServer`), one tool `echo`, as a typical user would write it.
 *
 *   HTTP (default):  the standard sessionful Streamable HTTP wiring (`NodeStreamableHTTPServerTransport`, one
 *                    McpServer + transport per session, unknown session → 404, DELETE closes it), with the SDK's
 *                    default responses (an SSE stream per POST). Requests whose MCP-Protocol-Version header names
 *                    2026-07-28 go to the SDK's stateless `createMcpHandler` instead, so the same server serves both eras.
 *   --stdio:         the same server over stdin/stdout (for upstreams a proxy spawns: the gateway, mcp-proxy).
 *
 * Run: node --import tsx bench/targets/sdk-server.ts [--stdio]   (HTTP mode prints "READY <url>" on stdout)
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMcpHandler, McpServer } from '@modelcontextprotocol/server';
import { NodeStreamableHTTPServerTransport, toNodeHandler } from '@modelcontextprotocol/node';
import * as z from 'zod/v4';
import { exitWithParent } from './orphan.js';

exitWithParent();

function buildServer(): McpServer {
  const server = new McpServer({ name: 'bench-sdk-echo', version: '1.0.0' });
  server.registerTool('echo', { description: 'Echoes its text', inputSchema: z.object({ text: z.string() }) },
    async ({ text }) => ({ content: [{ type: 'text', text }] }));
  return server;
}

if (process.argv.includes('--stdio')) {
  const { StdioServerTransport } = await import('@modelcontextprotocol/server/stdio');
  await buildServer().connect(new StdioServerTransport());
} else {
  const sessions = new Map<string, NodeStreamableHTTPServerTransport>();
  const modern = toNodeHandler(createMcpHandler(() => buildServer(), { legacy: 'reject' }));
  const http = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    if (req.headers['mcp-protocol-version'] === '2026-07-28') return void modern(req, res);
    const sid = req.headers['mcp-session-id'];
    const known = typeof sid === 'string' ? sessions.get(sid) : undefined;
    if (known) return void known.handleRequest(req, res);
    if (sid !== undefined) {
      res.writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
      return;
    }
    const server = buildServer();
    const transport: NodeStreamableHTTPServerTransport = new NodeStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => void sessions.set(id, transport),
      onsessionclosed: (id) => void sessions.delete(id),
    });
    transport.onclose = () => { if (transport.sessionId) sessions.delete(transport.sessionId); };
    void server.connect(transport).then(() => transport.handleRequest(req, res));
  });
  http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
    process.stdout.write(`READY http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp\n`);
  });
  const stop = () => http.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
