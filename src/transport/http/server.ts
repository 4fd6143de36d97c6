/**
 * The Node HTTP edge: Host/Origin checks first, then routing to endpoints.
 *
 *   /servers/{name}/mcp          one upstream, names unchanged (Streamable HTTP, both eras)
 *   /virtual/{name}/mcp          a virtual server (namespaced names)
 *   /mcp                         the default endpoint (virtual server "default", or the only upstream)
 *   …/sse, …/messages            the deprecated HTTP+SSE transport beside each of the above
 *   /healthz                     liveness and upstream health (JSON)
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { failure } from '../../core/jsonrpc.js';
import { isGatewayError } from '../../core/errors.js';
import { ErrorCode } from '../../core/protocol.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import type { Gateway } from '../../gateway.js';
import { createGuards, isLoopbackAddress } from './guards.js';
import { StreamableHttp, sendJson } from './streamable.js';
import { LegacySseTransport } from './legacySse.js';

export interface HttpServerHandle {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

interface RouteMatch { endpoint: Endpoint; kind: 'mcp' | 'sse' | 'messages'; base: string }

export async function startHttpServer(gw: Gateway): Promise<HttpServerHandle> {
  const cfg = gw.config.server;
  if (!isLoopbackAddress(cfg.host) && gw.config.auth.mode === 'none') {
    throw new Error(`refusing to listen on ${cfg.host} without authentication: bind to 127.0.0.1 or configure auth`);
  }
  let port = cfg.port;
  const guards = createGuards(cfg, () => port);
  const streamable = new StreamableHttp(gw);
  const legacy = new LegacySseTransport(gw);
  const routes = new Map<string, RouteMatch>();
  const addRoutes = (base: string, endpoint: Endpoint) => {
    routes.set(`${base}/mcp`, { endpoint, kind: 'mcp', base });
    if (cfg.legacySse) {
      routes.set(`${base}/sse`, { endpoint, kind: 'sse', base });
      routes.set(`${base}/messages`, { endpoint, kind: 'messages', base });
    }
  };
  for (const ep of gw.endpoints) addRoutes(ep.path.replace(/\/mcp$/, ''), ep);
  const dflt = gw.defaultEndpoint;
  if (dflt) addRoutes('', dflt);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    guards.checkHost(req.headers.host);
    guards.checkOrigin(req.headers.origin);
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (path === '/healthz') return health(gw, res);
    const match = routes.get(path.endsWith('/') && path.length > 1 ? path.slice(0, -1) : path);
    if (!match) {
      sendJson(res, 404, failure(null, ErrorCode.InvalidRequest, `Not found: ${path}`));
      return;
    }
    switch (match.kind) {
      case 'mcp':
        return streamable.handle(req, res, match.endpoint);
      case 'sse':
        return legacy.open(req, res, match.endpoint, `${match.base}/messages`);
      case 'messages':
        return legacy.message(req, res, match.endpoint);
    }
  };

  const server = createServer({ requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 65_000 }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) { res.destroy(); return; }
      if (isGatewayError(e)) {
        const body = failure(null, e.rpc, e.publicMessage, e.data);
        sendJson(res, e.http === 200 ? 400 : e.http, body);
        if (e.http === 413) res.once('finish', () => req.destroy());
        return;
      }
      gw.log.error({ err: (e as Error).stack }, 'unhandled HTTP error');
      sendJson(res, 500, failure(null, ErrorCode.InternalError, 'Internal error'));
    });
  });
  server.on('clientError', (_err, socket) => { if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'); else socket.destroy(); });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => { server.off('error', reject); resolve(); });
  });
  port = (server.address() as AddressInfo).port;
  const hostForUrl = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  const url = `http://${hostForUrl}:${port}`;
  return {
    url,
    port,
    server,
    async close() {
      legacy.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
    },
  };
}

function health(gw: Gateway, res: ServerResponse): void {
  const upstreams = [...gw.upstreams.values()].map((u) => ({ name: u.name, health: u.health, error: u.error }));
  const ok = upstreams.every((u) => u.health === 'ready');
  sendJson(res, 200, { status: ok ? 'ok' : 'degraded', sessions: gw.sessions.size, upstreams });
}
