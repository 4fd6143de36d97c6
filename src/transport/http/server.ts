/**
 * The Node HTTP edge: Host/Origin checks first, then routing to endpoints.
 *
 *   /servers/{name}/mcp          one upstream, names unchanged (Streamable HTTP, both eras)
 *   /virtual/{name}/mcp          a virtual server (namespaced names)
 *   /mcp                         the default endpoint (virtual server "default", or the only upstream)
 *   …/sse, …/messages            the deprecated HTTP+SSE transport beside each of the above
 *   /healthz                     liveness and upstream health (JSON)
 *   /readyz, /metrics            readiness (storage answers) and Prometheus metrics (src/monitoring/http.ts)
 *   /.well-known/mcp-attestation the signed attestation document (src/attestation)
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { failure } from '../../core/jsonrpc.js';
import { isGatewayError } from '../../core/errors.js';
import { ErrorCode } from '../../core/protocol.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import type { Gateway } from '../../gateway.js';
import { createGuards, isLoopbackAddress } from './guards.js';
import { StreamableHttp, sendJson } from './streamable.js';
import { LegacySseTransport } from './legacySse.js';
import { createListener } from './listener.js';
import { setRequestPrincipal } from './context.js';
import { AUTH_SERVER_PATH, Identity } from '../../identity/identity.js';
import { normaliseBase } from '../../identity/resourceServer/resources.js';
import { ATTESTATION_PATH } from '../../attestation/document.js';
import { serveAttestation } from '../../attestation/http.js';
import { ConsoleApp } from '../../console/console.js';
import { serveMetrics, serveReady } from '../../monitoring/http.js';
import { REQUEST_ID_HEADER, chooseRequestId, setRequestId } from './requestId.js';

export interface HttpServerHandle {
  url: string;
  port: number;
  server: Server;
  /** Authentication at this edge: the resource server, and the built-in authorization server when enabled. */
  identity: Identity;
  close(): Promise<void>;
}

interface RouteMatch { endpoint: Endpoint; kind: 'mcp' | 'sse' | 'messages'; base: string }

export async function startHttpServer(gw: Gateway): Promise<HttpServerHandle> {
  const cfg = gw.config.server;
  if (!isLoopbackAddress(cfg.host) && gw.config.auth.mode === 'none') {
    throw new Error(`refusing to listen on ${cfg.host} without authentication: bind to 127.0.0.1 or configure auth`);
  }
  let port = cfg.port;
  const publicUrl = gw.config.auth.publicUrl;
  const guards = createGuards(cfg, () => port, publicUrl);
  // Requests can arrive between listen() and the identity being ready; they wait for it.
  let identity: Identity | undefined;
  let identityReady: Promise<Identity> | undefined;
  const streamable = new StreamableHttp(gw);
  const consoleApp = ConsoleApp.create(gw);
  // Connecting an upstream account is bound to the browser's console sign-in where there is one (src/credentials/connect.ts).
  if (consoleApp?.canSignIn) gw.credentials.connect.setBrowserIdentity({ signedIn: (req) => consoleApp.signedInKey(req), signInUrl: () => consoleApp.signInUrl });
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

  const monitoring = gw.config.monitoring;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = chooseRequestId(req.headers['x-request-id'], monitoring.acceptRequestId);
    res.setHeader(REQUEST_ID_HEADER, requestId);
    setRequestId(req, requestId);
    guards.checkHost(req.headers.host);
    const path = (req.url ?? '/').split('?', 1)[0]!;
    // Public by design (hashes and a public key), so a client can check the gateway before it authenticates.
    if (path === ATTESTATION_PATH && gw.attestation) return serveAttestation(gw.attestation, req, res);
    const id = identity ?? await identityReady!;
    // OAuth metadata and the authorization server's endpoints are called cross-origin by browser-based clients;
    // they carry their own protections (CORS, CSRF tokens, PKCE), so the Origin rule below is not theirs.
    if ((path.startsWith('/.well-known/') || path === AUTH_SERVER_PATH || path.startsWith(AUTH_SERVER_PATH + '/')) && await id.handle(req, res, path)) return;
    guards.checkOrigin(req.headers.origin);
    if (path === '/healthz') return health(gw, res);
    if (consoleApp?.owns(path)) return consoleApp.handle(req, res, path, id);
    if (gw.credentials.owns(path)) return gw.credentials.handle(req, res, path);
    if (path === '/readyz') return serveReady(gw.storage, gw.upstreams.values(), res);
    if (path === monitoring.metrics.path && gw.monitoring.metrics) return serveMetrics(gw.monitoring.metrics, monitoring.metrics.bearerToken, req, res);
    const match = routes.get(path.endsWith('/') && path.length > 1 ? path.slice(0, -1) : path);
    if (!match) {
      sendJson(res, 404, failure(null, ErrorCode.InvalidRequest, `Not found: ${path}`));
      return;
    }
    setRequestPrincipal(req, await id.authenticate(req, `${match.base}/mcp`));
    switch (match.kind) {
      case 'mcp':
        return streamable.handle(req, res, match.endpoint);
      case 'sse':
        return legacy.open(req, res, match.endpoint, `${match.base}/messages`);
      case 'messages':
        return legacy.message(req, res, match.endpoint);
    }
  };

  const listener = createListener(cfg, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (res.headersSent) { res.destroy(); return; }
      if (isGatewayError(e)) {
        if (e.headers) for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
        const body = failure(null, e.rpc, e.publicMessage, e.data);
        sendJson(res, e.http === 200 ? 400 : e.http, body);
        if (e.http === 413) res.once('finish', () => req.destroy());
        return;
      }
      gw.log.error({ err: (e as Error).stack }, 'unhandled HTTP error');
      sendJson(res, 500, failure(null, ErrorCode.InternalError, 'Internal error'));
    });
  }, { log: gw.log });
  const server = listener.server;
  server.on('clientError', (_err, socket) => { if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'); else socket.destroy(); });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => { server.off('error', reject); resolve(); });
  });
  port = (server.address() as AddressInfo).port;
  const hostForUrl = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  const url = `${listener.scheme}://${hostForUrl}:${port}`;
  consoleApp?.setBase(normaliseBase(publicUrl ?? url));
  gw.credentials.setBase(normaliseBase(publicUrl ?? url));
  identityReady = Identity.create({
    config: consoleApp?.identityConfig(gw.identityConfig()) ?? gw.identityConfig(),
    base: normaliseBase(publicUrl ?? url),
    routes: [...[...routes.values()].filter((r) => r.kind === 'mcp').map((r) => ({ mcpPath: `${r.base}/mcp`, name: r.endpoint.name })), ...(consoleApp?.resourceRoutes() ?? [])],
    records: gw.storage.records,
    secret: gw.secret('auth'),
    log: gw.log,
    mayUse: (principal, mcpPath) => {
      // The console's own token grants nothing by itself: console roles decide (src/console).
      if (consoleApp?.isResource(mcpPath)) return true;
      const ep = routes.get(mcpPath)?.endpoint;
      if (!ep) return false;
      const context = { time: new Date(), era: 'modern' as const, endpoint: ep.name };
      return ep.members.some((m) => gw.rules.policy.decide(principal, 'list', { kind: 'server', server: m.name }, context).outcome !== 'deny');
    },
  });
  try {
    identity = await identityReady;
  } catch (e) {
    server.close();
    server.closeAllConnections();
    listener.dispose();
    throw e;
  }
  return {
    url,
    port,
    server,
    identity,
    async close() {
      legacy.close();
      listener.dispose();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
      await identity!.close();
    },
  };
}

function health(gw: Gateway, res: ServerResponse): void {
  const upstreams = [...gw.upstreams.values()].map((u) => ({ name: u.name, health: u.health, error: u.error }));
  const ok = upstreams.every((u) => u.health === 'ready');
  sendJson(res, 200, { status: ok ? 'ok' : 'degraded', sessions: gw.sessions.size, upstreams });
}
