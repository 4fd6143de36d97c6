/**
 * The one way out for fetches the gateway makes on its own (JWKS, OIDC discovery and tokens, client ID metadata
 * documents, webhooks) — addresses someone else chose, so a server-side request forgery risk: the gateway must not
 * become a way into its own network.
 *
 *   - https only, unless the caller allows private networks (operator-configured development targets);
 *   - the host is resolved once per connection by a lookup that refuses loopback, private, link-local, metadata,
 *     ULA, multicast and reserved addresses, and the connection goes to exactly the address it vetted (no second
 *     resolution that a rebinding DNS answer could change);
 *   - literal addresses in any spelling (decimal, hex, IPv4-mapped IPv6) are refused before any connection;
 *   - redirects are followed only where the purpose allows, each hop checked again from the start, credentials
 *     dropped when the origin changes;
 *   - an optional allow-list of hosts per purpose (`egress.allowHosts`);
 *   - time and size bounded; no cookies, no credentials in URLs.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { nameGlob, type Glob } from '../policy/glob.js';

/** Why the gateway fetches; allow-lists and redirect rules are per purpose. */
export type EgressPurpose = 'jwks' | 'oidc' | 'client-metadata' | 'webhook' | 'upstream';

export interface SafeFetchOptions {
  /** Permit loopback/private addresses and plain http (development and tests; operator-configured issuers). */
  allowPrivateNetworks: boolean;
  /** Why: selects the host allow-list (egress.allowHosts) and is named in errors. */
  purpose?: EgressPurpose;
  timeoutMs?: number;
  maxBytes?: number;
  accept?: string;
  /** GET unless told otherwise (a federated login's token request is a POST). */
  method?: 'GET' | 'POST';
  body?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Redirects followed (each hop checked again); default 0: a redirect is an error. */
  maxRedirects?: number;
}

export class SafeFetchError extends Error {
  constructor(message: string, readonly url: string) { super(message); this.name = 'SafeFetchError'; }
}

export interface SafeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The URL that answered (after redirects). */
  url: string;
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

/** The resolver and address test a lookup uses; tests substitute both (a stub DNS, a test network counted as public). */
export interface ResolverHooks {
  resolve: (hostname: string, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;
  isPrivate: (address: string) => boolean;
  /** A test CA to trust for https (the system roots otherwise). */
  ca?: string;
}

const systemResolver: ResolverHooks = {
  resolve: (hostname, callback) => dnsLookup(hostname, { all: true }, (err, addresses) => callback(err, (addresses ?? []) as LookupAddress[])),
  isPrivate: isPrivateAddress,
};
let resolver: ResolverHooks = systemResolver;

/** Tests only: a stub resolver and address classifier (undefined restores the system's). */
export function setResolverForTests(hooks: ResolverHooks | undefined): void {
  resolver = hooks ?? systemResolver;
  void publicAgent?.close().catch(() => {});
  void privateAgent?.close().catch(() => {});
  publicAgent = privateAgent = undefined;
}

/**
 * A lookup for connections: resolves once, refuses when any answer is not public (a name with one private answer
 * is not trusted with the others), and hands the connection exactly the vetted address.
 */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => vetted(hostname, options, callback, false);

/** The same single resolution for targets allowed on private networks (operator-configured internal hosts). */
export const anyAddressLookup: LookupFunction = (hostname, options, callback) => vetted(hostname, options, callback, true);

function vetted(hostname: string, options: Parameters<LookupFunction>[1], callback: Parameters<LookupFunction>[2], allowPrivate: boolean): void {
  resolver.resolve(hostname, (err, list) => {
    if (err) { callback(err, '', 0); return; }
    const family = (options as { family?: number }).family;
    const usable = family === 4 || family === 6 ? list.filter((a) => a.family === family) : list;
    const bad = allowPrivate ? undefined : list.find((x) => resolver.isPrivate(x.address));
    if (bad || usable.length === 0) {
      callback(Object.assign(new Error(`${hostname} resolves to a non-public address`), { code: 'EPRIVATE' }), '', 0);
      return;
    }
    if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, usable);
    else callback(null, usable[0]!.address, usable[0]!.family);
  });
}

let publicAgent: Agent | undefined;
let privateAgent: Agent | undefined;
const agentFor = (allowPrivate: boolean): Agent => allowPrivate
  ? (privateAgent ??= new Agent({ connections: 8, connect: { lookup: anyAddressLookup, ...(resolver.ca && { ca: resolver.ca }) } }))
  : (publicAgent ??= new Agent({ connections: 8, connect: { lookup: publicOnlyLookup, ...(resolver.ca && { ca: resolver.ca }) } }));

/** Hosts each purpose may reach (empty or absent: any public host). Set once from `egress:` at startup. */
let allowHosts: Partial<Record<EgressPurpose, readonly Glob[]>> = {};

export function configureEgress(cfg: { allowHosts?: Partial<Record<EgressPurpose, readonly string[]>> } | undefined): void {
  allowHosts = Object.fromEntries(Object.entries(cfg?.allowHosts ?? {}).map(([k, v]) => [k, (v ?? []).map((h) => nameGlob(h.toLowerCase()))]));
}

/** Checks the URL before any connection: scheme, literal addresses, no userinfo, the purpose's host allow-list. */
export function checkFetchUrl(raw: string, allowPrivateNetworks: boolean, purpose?: EgressPurpose): URL {
  let url: URL;
  try { url = new URL(raw); } catch { throw new SafeFetchError('not a URL', raw); }
  if (url.username || url.password) throw new SafeFetchError('URL must not carry credentials', raw);
  if (url.protocol !== 'https:' && !(allowPrivateNetworks && url.protocol === 'http:')) throw new SafeFetchError('only https URLs are fetched', raw);
  // The URL parser has already turned decimal, hex and octal IPv4 and mapped IPv6 into canonical literals.
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!allowPrivateNetworks && (isIP(host) ? resolver.isPrivate(host) : host === 'localhost' || host.endsWith('.localhost'))) {
    throw new SafeFetchError('address is not public', raw);
  }
  const allowed = purpose ? allowHosts[purpose] : undefined;
  if (allowed && allowed.length && !allowed.some((g) => g.test(host.toLowerCase()))) {
    throw new SafeFetchError(`host ${host} is not in egress.allowHosts.${purpose}`, raw);
  }
  return url;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export async function safeFetch(raw: string, opts: SafeFetchOptions): Promise<SafeResponse> {
  const maxRedirects = opts.maxRedirects ?? 0;
  const signal = opts.signal ?? AbortSignal.timeout(opts.timeoutMs ?? 5000);
  let url = checkFetchUrl(raw, opts.allowPrivateNetworks, opts.purpose);
  let method = opts.method ?? 'GET';
  let body = opts.body;
  let headers: Record<string, string> = { accept: opts.accept ?? 'application/json', ...opts.headers };
  for (let hop = 0; ; hop++) {
    const res = await send(url, method, headers, body, opts.allowPrivateNetworks, signal, raw);
    if (!REDIRECTS.has(res.statusCode)) return read(res, opts.maxBytes ?? 256 * 1024, url, raw);
    await res.body.dump({ limit: 65_536 }).catch(() => {});
    if (hop >= maxRedirects) throw new SafeFetchError(maxRedirects === 0 ? `redirects are not followed (HTTP ${res.statusCode})` : `more than ${maxRedirects} redirects`, raw);
    const location = res.headers.location;
    if (typeof location !== 'string') throw new SafeFetchError(`HTTP ${res.statusCode} without a Location`, raw);
    let next: URL;
    try { next = new URL(location, url); } catch { throw new SafeFetchError('redirect to something that is not a URL', raw); }
    // Every hop is checked as if it were the first URL; the lookup vets its addresses again when it connects.
    const checked = checkFetchUrl(next.href, opts.allowPrivateNetworks, opts.purpose);
    if (url.protocol === 'https:' && checked.protocol !== 'https:') throw new SafeFetchError('redirect from https to http refused', raw);
    if (checked.origin !== url.origin) {
      // Credentials meant for one origin are never sent to another.
      const { authorization: _a, cookie: _c, ...rest } = headers;
      headers = rest;
    }
    if (res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')) {
      method = 'GET';
      body = undefined;
    }
    url = checked;
  }
}

async function send(url: URL, method: string, headers: Record<string, string>, body: string | undefined, allowPrivate: boolean, signal: AbortSignal, raw: string): Promise<Dispatcher.ResponseData> {
  try {
    // undici's request() never follows redirects by itself: the loop above does, hop by hop.
    return await request(url, { method: method as Dispatcher.HttpMethod, dispatcher: agentFor(allowPrivate), headers, body, signal });
  } catch (e) {
    throw new SafeFetchError(`fetch failed: ${(e as { code?: string }).code ?? (e as Error).message}`, raw);
  }
}

async function read(res: Dispatcher.ResponseData, maxBytes: number, url: URL, raw: string): Promise<SafeResponse> {
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
  return { status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8'), url: url.href };
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
