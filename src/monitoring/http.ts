/**
 * The monitoring routes of the HTTP edge.
 *
 *   /metrics   Prometheus text. With monitoring.metrics.bearerToken set, only a request carrying it; without, only
 *              a loopback peer: the figures name upstreams, tools and endpoints, which is no one else's business.
 *   /readyz    200 when the gateway can serve: its storage answers a read within two seconds. Upstreams are
 *              reported, not required: one broken upstream degrades only its own tools, and failing readiness for it
 *              would take every replica out of rotation at once (a whole outage instead of a partial one).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Storage } from '../storage/types.js';
import type { Metrics } from './metrics.js';

const STORAGE_PROBE_MS = 2000;

export async function serveMetrics(metrics: Metrics, bearerToken: string | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (bearerToken !== undefined ? !bearerMatches(req.headers.authorization, bearerToken) : !isLoopbackPeer(req.socket.remoteAddress)) {
    const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
    if (bearerToken !== undefined) headers['www-authenticate'] = 'Bearer realm="metrics"';
    res.writeHead(bearerToken !== undefined ? 401 : 403, headers).end(bearerToken !== undefined ? 'metrics need a bearer token\n' : 'metrics are served to loopback peers only (set monitoring.metrics.bearerToken)\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  const body = await metrics.text();
  res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
}

/** The TCP peer, not a header: a proxy on this machine makes every client loopback (then set a bearer token). */
export function isLoopbackPeer(address: string | undefined): boolean {
  const a = (address ?? '').replace(/^::ffff:/i, '');
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/** Compared as digests, in constant time whatever the lengths. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return false;
  const a = createHash('sha256').update(m[1]!).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

export interface Readiness {
  ready: boolean;
  storage: { driver: string; ok: boolean; error?: string; ms: number };
  upstreams: { name: string; health: string; error?: string | undefined }[];
}

export async function readiness(storage: Storage, upstreams: Iterable<{ name: string; health: string; error?: string | undefined }>): Promise<Readiness> {
  const t0 = performance.now();
  let error: string | undefined;
  try {
    await withTimeout(storage.records.get('monitoring.ready', 'probe'), STORAGE_PROBE_MS);
  } catch (e) {
    error = (e as Error).message;
  }
  const ms = Math.round(performance.now() - t0);
  return {
    ready: error === undefined,
    storage: { driver: storage.driver, ok: error === undefined, ...(error !== undefined ? { error } : {}), ms },
    upstreams: [...upstreams].map((u) => ({ name: u.name, health: u.health, ...(u.error ? { error: u.error } : {}) })),
  };
}

export async function serveReady(storage: Storage, upstreams: Iterable<{ name: string; health: string; error?: string | undefined }>, res: ServerResponse): Promise<void> {
  const r = await readiness(storage, upstreams);
  res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(r));
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`storage did not answer within ${ms} ms`)), ms); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
