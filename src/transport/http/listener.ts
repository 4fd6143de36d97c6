/**
 * The socket-level server: plain HTTP, or HTTPS (and mutual TLS) when server.tls is configured.
 * Everything above this sees only Node's request/response pair; with mutual TLS, whether a client certificate
 * was verified is on the request's socket (identity/tls/mtls.ts reads it).
 *
 * HTTPS: TLS 1.2 or later, AEAD ciphers with forward secrecy, HTTP/1.1. The certificate, key and client CA files
 * are watched; a change is loaded into the running server for new connections, and a change that cannot be used
 * (unreadable, malformed, key not matching) is logged while the previous certificate stays in service.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { ServerConfig } from '../../config/types.js';
import { createLogger, type Logger } from '../../core/log.js';
import {
  clientCertificatePolicy, readSecureContextOptions, sameContext, summarizeCertificate,
} from '../../identity/tls/serverTls.js';
import { watchFiles, type WatchOptions } from '../../identity/tls/watchFiles.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface Listener {
  /** An https.Server when scheme is "https" (a superset of the http.Server API used by the transport). */
  server: Server;
  scheme: 'http' | 'https';
  /** Stops watching certificate files. */
  dispose(): void;
}

export interface ListenerOptions {
  /** Certificate reloads and TLS handshake failures are logged here (default: a logger on stderr). */
  log?: Logger;
  /** Certificate file polling (tests shorten it). */
  watch?: WatchOptions;
}

const SERVER_OPTIONS = { requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 65_000 };
/** A client that connects and never finishes the handshake holds a socket for no longer than this. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export function createListener(cfg: ServerConfig, handler: RequestHandler, opts: ListenerOptions = {}): Listener {
  const tls = cfg.tls;
  if (!tls) return { server: createServer(SERVER_OPTIONS, handler), scheme: 'http', dispose: () => {} };

  const log = opts.log ?? createLogger();
  let current = readSecureContextOptions(tls);
  const server = createHttpsServer({
    ...SERVER_OPTIONS,
    ...current,
    ...clientCertificatePolicy(tls),
    ALPNProtocols: ['http/1.1'],
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  }, handler);
  server.on('tlsClientError', (err) => log.debug({ err: err.message }, 'TLS handshake failed'));
  logCertificate(log, 'TLS certificate loaded', current.cert);

  const reload = (): void => {
    try {
      const next = readSecureContextOptions(tls);
      if (sameContext(next, current)) return;
      server.setSecureContext(next);
      current = next;
      logCertificate(log, 'TLS certificate reloaded', next.cert);
    } catch (e) {
      log.error({ err: (e as Error).message }, 'TLS files changed but cannot be used; the previous certificate stays in service');
    }
  };
  const files = [tls.cert, tls.key, ...(tls.clientCa ? [tls.clientCa] : [])];
  const stop = watchFiles(files, reload, opts.watch);

  // https.Server implements everything the transport uses of http.Server (listen, close, closeIdleConnections, …).
  return { server: server as unknown as Server, scheme: 'https', dispose: stop };
}

function logCertificate(log: Logger, msg: string, cert: Parameters<typeof summarizeCertificate>[0]): void {
  const summary = summarizeCertificate(cert);
  if (summary?.expired) log.warn({ ...summary }, `${msg}: the certificate has expired`);
  else log.info({ ...summary }, msg);
}
