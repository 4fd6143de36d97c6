/**
 * Fetching documents whose address someone else chose (JWKS, OIDC discovery, client ID metadata documents) is a
 * server-side request forgery risk: the gateway must not become a way to reach its own network. So every fetch here
 * resolves the host itself and refuses loopback, private, link-local, multicast and reserved addresses unless the
 * caller allows private networks; refuses redirects; requires https unless private networks are allowed; bounds the
 * time and the size of the answer; and sends no credentials.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, request } from 'undici';

export interface SafeFetchOptions {
  /** Permit loopback/private addresses and plain http (development and tests; operator-configured issuers). */
  allowPrivateNetworks: boolean;
  timeoutMs?: number;
  maxBytes?: number;
  accept?: string;
  /** GET unless told otherwise (a federated login's token request is a POST). */
  method?: 'GET' | 'POST';
  body?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export class SafeFetchError extends Error {
  constructor(message: string, readonly url: string) { super(message); this.name = 'SafeFetchError'; }
}

export interface SafeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** True for addresses a public fetch must never reach. */
export function isPrivateAddress(address: string): boolean {
  const v = isIP(address);
  if (v === 4) return isPrivateV4(address);
  if (v === 6) {
    const a = address.toLowerCase();
    const mapped = /^(?:0*:)*:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
    if (mapped) return isPrivateV4(mapped[1]!);
    if (a === '::' || a === '::1') return true;
    const first = parseInt(a.split(':')[0] || '0', 16);
    if ((first & 0xfe00) === 0xfc00) return true; // fc00::/7 unique local
    if ((first & 0xffc0) === 0xfe80) return true; // fe80::/10 link-local
    if ((first & 0xff00) === 0xff00) return true; // ff00::/8 multicast
    if (a.startsWith('64:ff9b:') || a.startsWith('2001:db8:') || a.startsWith('100::')) return true; // NAT64, docs, discard
    return false;
  }
  return true; // not an address at all: refuse
}

function isPrivateV4(a: string): boolean {
  const [p, q] = a.split('.').map(Number) as [number, number];
  return p === 0 || p === 10 || p === 127 || p >= 224
    || (p === 100 && q >= 64 && q <= 127) // carrier-grade NAT
    || (p === 169 && q === 254) // link-local, cloud metadata
    || (p === 172 && q >= 16 && q <= 31)
    || (p === 192 && q === 168)
    || (p === 192 && q === 0) // IETF protocol assignments
    || (p === 198 && (q === 18 || q === 19)); // benchmarking
}

/** A DNS lookup that fails when any resolved address is private, so the connection can only go where we checked. */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) { callback(err, '', 0); return; }
    const list = addresses as LookupAddress[];
    const bad = list.find((x) => isPrivateAddress(x.address));
    if (bad || list.length === 0) {
      callback(Object.assign(new Error(`${hostname} resolves to a non-public address`), { code: 'EPRIVATE' }), '', 0);
      return;
    }
    if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
    else callback(null, list[0]!.address, list[0]!.family);
  });
};

let publicAgent: Agent | undefined;
let privateAgent: Agent | undefined;
const agentFor = (allowPrivate: boolean): Agent => allowPrivate
  ? (privateAgent ??= new Agent({ connections: 8 }))
  : (publicAgent ??= new Agent({ connections: 8, connect: { lookup: publicOnlyLookup } }));

/** Checks the URL before any connection: scheme, literal addresses, no userinfo. */
export function checkFetchUrl(raw: string, allowPrivateNetworks: boolean): URL {
  let url: URL;
  try { url = new URL(raw); } catch { throw new SafeFetchError('not a URL', raw); }
  if (url.username || url.password) throw new SafeFetchError('URL must not carry credentials', raw);
  if (url.protocol !== 'https:' && !(allowPrivateNetworks && url.protocol === 'http:')) throw new SafeFetchError('only https URLs are fetched', raw);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!allowPrivateNetworks && (isIP(host) ? isPrivateAddress(host) : host === 'localhost' || host.endsWith('.localhost'))) {
    throw new SafeFetchError('address is not public', raw);
  }
  return url;
}

export async function safeFetch(raw: string, opts: SafeFetchOptions): Promise<SafeResponse> {
  const url = checkFetchUrl(raw, opts.allowPrivateNetworks);
  const maxBytes = opts.maxBytes ?? 256 * 1024;
  let res;
  try {
    res = await request(url, {
      method: opts.method ?? 'GET',
      dispatcher: agentFor(opts.allowPrivateNetworks),
      headers: { accept: opts.accept ?? 'application/json', ...opts.headers },
      body: opts.body,
      signal: opts.signal ?? AbortSignal.timeout(opts.timeoutMs ?? 5000),
      // undici's request() never follows redirects unless told to; a redirect is answered as a failure below.
    });
  } catch (e) {
    throw new SafeFetchError(`fetch failed: ${(e as { code?: string }).code ?? (e as Error).message}`, raw);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) { res.body.destroy(); throw new SafeFetchError(`response larger than ${maxBytes} bytes`, raw); }
      chunks.push(chunk as Buffer);
    }
  } catch (e) {
    if (e instanceof SafeFetchError) throw e;
    throw new SafeFetchError(`fetch failed: ${(e as Error).message}`, raw);
  }
  if (res.statusCode >= 300 && res.statusCode < 400) throw new SafeFetchError(`redirects are not followed (HTTP ${res.statusCode})`, raw);
  return { status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') };
}

/** GET a JSON document; anything but 200 with a JSON object is an error. */
export async function safeFetchJson(raw: string, opts: SafeFetchOptions): Promise<Record<string, unknown>> {
  const res = await safeFetch(raw, opts);
  if (res.status !== 200) throw new SafeFetchError(`HTTP ${res.status}`, raw);
  let body: unknown;
  try { body = JSON.parse(res.text); } catch { throw new SafeFetchError('response is not JSON', raw); }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new SafeFetchError('response is not a JSON object', raw);
  return body as Record<string, unknown>;
}
