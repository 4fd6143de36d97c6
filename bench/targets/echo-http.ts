/**
 * The machine's ceiling C: a bare node:http server that reads a JSON body and answers a JSON-RPC result echoing it.
 * No MCP, no sessions, no validation beyond JSON.parse. Loopback only.
 * Run: node --import tsx bench/targets/echo-http.ts   (prints "READY <url>" on stdout)
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exitWithParent } from './orphan.js';

exitWithParent();

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let id: unknown = null;
    let params: unknown;
    try {
      const msg = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown; params?: { arguments?: unknown } };
      id = msg.id ?? null;
      params = msg.params?.arguments;
    } catch {
      res.writeHead(400).end();
      return;
    }
    const body = JSON.stringify({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: JSON.stringify(params ?? null) }] } });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
