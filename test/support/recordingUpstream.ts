/**
 * A tiny Streamable HTTP MCP server (2025-11-25, JSON responses) that records the headers of every request it
 * receives: proof of what the gateway forwards upstream (and what it must not, such as the client's token).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';

export interface RecordingUpstream {
  url: string;
  requests: Array<{ method: string; headers: IncomingHttpHeaders }>;
  close(): Promise<void>;
}

export async function startRecordingUpstream(): Promise<RecordingUpstream> {
  const requests: RecordingUpstream['requests'] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.method !== 'POST') { res.writeHead(405).end(); return; }
      const msg = JSON.parse(body) as { id?: number | string; method: string; params?: Record<string, unknown> };
      requests.push({ method: msg.method, headers: req.headers });
      if (msg.id === undefined) { res.writeHead(202).end(); return; }
      let result: unknown;
      switch (msg.method) {
        case 'initialize':
          result = { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'recorder', version: '1' } };
          break;
        case 'tools/list':
          result = { tools: [{ name: 'whoami', description: 'Says hello.', inputSchema: { type: 'object' } }] };
          break;
        case 'tools/call':
          result = { content: [{ type: 'text', text: 'hello' }] };
          break;
        default:
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } }));
          return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'up-1' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    requests,
    close: () => new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}
