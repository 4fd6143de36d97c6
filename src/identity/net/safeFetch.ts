/**
 * Fetching documents whose address someone else chose (JWKS, OIDC discovery, client ID metadata documents) is a
 * server-side request forgery risk: the gateway must not become a way to reach its own network. So every fetch here
 * resolves the host itself and refuses loopback, private, link-local, multicast and reserved addresses unless the
 * caller allows private networks; refuses redirects; requires https unless private networks are allowed; bounds the
 * time and the size of the answer; and sends no credentials.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
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

/**
 * Every range a public fetch must never reach. A BlockList also matches IPv4-mapped IPv6 in any spelling
 * (`::ffff:127.0.0.1`, and `::ffff:7f00:1`, which is how the URL parser writes it), so no hand-made parsing.
 */
const NON_PUBLIC = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 3],
] as const) NON_PUBLIC.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128], ['::1', 128], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001:db8::', 32], ['fc00::', 7], ['fe80::', 10],
  ['fec0::', 10], ['ff00::', 8],
] as const) NON_PUBLIC.addSubnet(net, bits, 'ipv6');

/** True for addresses a public fetch must never reach (and for anything that is not an address). */
export function isPrivateAddress(address: string): boolean {
  const v = isIP(address);
  if (v === 0) return true;
  return NON_PUBLIC.check(address, v === 4 ? 'ipv4' : 'ipv6');
}

/** A DNS lookup that fails when any resolved address is private, so the connection can only go where we checked. */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
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
