/**
 * Fetch functions for the two OAuth libraries, so that every URL a client or the configuration chose is reached
 * through the egress path (src/egress/fetch.ts).
 *
 * GETs (discovery, JWKS, documents) and the federated login's token request (a POST) alike: public addresses only
 * (unless allowed), no redirects, bounded time and size.
 */
import { safeFetch, SafeFetchError } from '../../egress/fetch.js';

const MAX_BYTES = 256 * 1024;

const NULL_BODY = new Set([204, 205, 304]);

/** A Fetch Response (which refuses a body on 204/205/304 and statuses outside 200–599). */
function responseOf(status: number, body: Buffer | string, headers: Record<string, string | string[] | undefined>): Response {
  if (status < 200 || status > 599) throw new SafeFetchError(`unexpected HTTP status ${status}`, '');
  return new Response(NULL_BODY.has(status) ? null : body, { status, headers: toHeaders(headers) });
}

function toHeaders(h: Record<string, string | string[] | undefined>): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h)) {
    if (Array.isArray(v)) for (const x of v) out.append(k, x);
    else if (v !== undefined) out.set(k, v);
  }
  return out;
}

function bodyText(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return body;
  if (body instanceof URLSearchParams) return body.toString();
  if (body instanceof Uint8Array) return Buffer.from(body).toString('utf8');
  throw new TypeError('unsupported request body');
}

/** A Fetch-API-shaped function (for openid-client's customFetch and oidc-provider's `fetch`). */
export function safeFetchApi(allowPrivateNetworks: boolean) {
  return async (url: string | URL, init: { method?: string; headers?: unknown; body?: unknown; signal?: AbortSignal | null } = {}): Promise<Response> => {
    const href = String(url);
    const method = (init.method ?? 'GET').toUpperCase();
    const headers: Record<string, string> = {};
    new Headers(init.headers as ConstructorParameters<typeof Headers>[0]).forEach((v, k) => { headers[k] = v; });
    if (method !== 'GET' && method !== 'POST') throw new SafeFetchError(`method ${method} is not used here`, href);
    const r = await safeFetch(href, {
      allowPrivateNetworks, method, maxBytes: MAX_BYTES, timeoutMs: 10_000, purpose: 'oidc',
      accept: headers.accept ?? 'application/json', headers,
      ...(method === 'POST' ? { body: bodyText(init.body) ?? '' } : {}),
      ...(init.signal ? { signal: init.signal } : {}),
    });
    return responseOf(r.status, r.text, r.headers);
  };
}
