/**
 * The floor of any Node.js HTTP gateway, for reference: a node:http server that forwards each request's bytes to one
 * upstream through an undici Pool (as the gateway does) and relays status, body and the MCP headers back. No parsing,
 * no sessions of its own, no checks. What the gateway costs beyond this is its own logic.
 * Run: node bench/targets/bare-proxy.js <upstream-url>   (prints "READY <url>" on stdout)
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { exitWithParent } from './orphan.js';

exitWithParent();

const upstream = new URL(process.argv[2] ?? '');
const pool = new Pool(upstream.origin, { connections: null, keepAliveTimeout: 30_000 });
const path = upstream.pathname + upstream.search;
const FORWARD = ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'mcp-method', 'mcp-name'];
const BACK = ['content-type', 'mcp-session-id'];

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const headers: Record<string, string> = {};
    for (const h of FORWARD) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const method = req.method === 'DELETE' ? 'DELETE' : 'POST';
    pool.request({ path, method, headers, ...(method === 'POST' ? { body: Buffer.concat(chunks) } : {}) })
      .then(async (up) => {
        const body = await up.body.text();
        const out: Record<string, string | number> = { 'content-length': Buffer.byteLength(body) };
        for (const h of BACK) {
          const v = up.headers[h];
          if (typeof v === 'string') out[h] = v;
        }
        res.writeHead(up.statusCode, out).end(body);
      })
      .catch(() => { if (!res.headersSent) res.writeHead(502).end(); else res.destroy(); });
  });
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp\n`);
});
const stop = () => { server.close(() => process.exit(0)); void pool.close(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
