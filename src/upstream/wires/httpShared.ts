/** Helpers shared by the two HTTP-based wires (Streamable HTTP and the deprecated HTTP+SSE). */
import type { ConnectionOptions } from 'node:tls';
import { isIP, type LookupFunction } from 'node:net';
import { buildConnector, Pool, type Dispatcher } from 'undici';
import { anyAddressLookup, publicOnlyLookup } from '../../egress/fetch.js';
import type { UpstreamTlsConfig } from '../../config/types.js';
import { explainTlsError, upstreamTlsOptions } from '../../identity/tls/clientTls.js';
import { classify, failure, isObject, type JsonRpcFailure, type JsonRpcId, type JsonRpcMessage } from '../../core/jsonrpc.js';
import { ErrorCode, META } from '../../core/protocol.js';
import type { TransportFailureData } from '../wire.js';
import type { CancelSignal } from '../../core/cancel.js';

export type ResponseBody = Dispatcher.ResponseData['body'];

/** A non-2xx answer to a notification/response/GET, reported through onerror or a rejected promise. */
export class UpstreamHttpError extends Error {
  constructor(message: string, readonly httpStatus?: number, readonly sessionExpired = false) {
    super(message);
    this.name = 'UpstreamHttpError';
  }
}

/**
 * A keep-alive pool for one origin. Unlimited connections: each in-flight SSE response holds one.
 * Over https, `tls` adds the upstream's trust anchors and client certificate (read now); certificates are always
 * verified, and a refused one fails the connection with an error that says so.
 *
 * Egress (src/egress): an upstream named by a literal address or `localhost` is reached at exactly that address
 * (the operator chose it); one named by a host name is reached only at public addresses, each connection at the
 * address its lookup vetted, unless the upstream is configured with allowPrivateNetworks (an internal DNS name).
 */
export function createPool(url: URL, connections?: number, tls?: UpstreamTlsConfig, allowPrivateNetworks = false): Pool {
  const lookup = isLiteralTarget(url) ? undefined : allowPrivateNetworks ? anyAddressLookup : publicOnlyLookup;
  return new Pool(url.origin, {
    connections: connections ?? null,
    keepAliveTimeout: 30_000,
    // Streams can stay silent for long; the caller's abort signal (request timeouts) bounds them instead.
    bodyTimeout: 0,
    ...(url.protocol === 'https:' || tls ? { connect: tlsConnector(url, tls, lookup) } : lookup ? { connect: { lookup } } : {}),
  });
}

/** A literal address or "localhost": the operator named the target itself, nothing to resolve or vet. */
function isLiteralTarget(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return isIP(host) !== 0 || host === 'localhost';
}

function tlsConnector(url: URL, tls: UpstreamTlsConfig | undefined, lookup: LookupFunction | undefined): buildConnector.connector {
  let options: ConnectionOptions;
  try {
    if (url.protocol !== 'https:') throw new Error(`tls is configured but ${url.origin} is not an https URL`);
    options = tls ? upstreamTlsOptions(tls) : { rejectUnauthorized: true };
  } catch (e) {
    // Reported by every connection attempt, so the upstream shows it as its error instead of failing the gateway.
    const err = e as Error;
    return (_opts, callback) => callback(err, null);
  }
  const connect = buildConnector({ ...options, ...(lookup && { lookup }) } as buildConnector.BuildOptions);
  const servername = tls?.servername;
  return (opts, callback) => connect(servername === undefined ? opts : { ...opts, servername }, (...args) => {
    if (args[0]) callback(explainTlsError(args[0], servername ?? url.host), null);
    else callback(...args);
  });
}

/** The synthetic failure the wire contract promises for an undeliverable request. */
export function transportFailure(
  id: JsonRpcId,
  message: string,
  extra: Omit<TransportFailureData, 'transport'> = {},
): JsonRpcFailure {
  const data: TransportFailureData = { transport: true, ...extra };
  return failure(id, ErrorCode.UpstreamUnavailable, message, data);
}

export function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function mediaType(headers: Dispatcher.ResponseData['headers']): string {
  return (header(headers, 'content-type') ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

/**
 * Reads a body as UTF-8, refusing more than `max` bytes. Event listeners, not `for await`: async iteration of a
 * stream costs several promises per chunk, on the hottest path the gateway has.
 */
export function readText(body: ResponseBody, max: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        body.destroy();
        reject(new Error(`response body exceeds ${max} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    body.once('end', () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8')));
    body.once('error', reject);
    body.once('close', () => reject(new Error('response body closed before its end')));
  });
}

/** Best-effort drain so the socket returns to the pool; errors are irrelevant here. */
export function discard(body: ResponseBody): void {
  body.dump().catch(() => {});
}

/** Parses a JSON body into the valid JSON-RPC messages it holds (single or batch); `bad` counts the rest. */
export function parseMessages(text: string): { messages: JsonRpcMessage[]; bad: number } {
  const parsed: unknown = JSON.parse(text);
  const messages: JsonRpcMessage[] = [];
  let bad = 0;
  for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
    if (classify(m) === 'invalid') bad++;
    else messages.push(m as JsonRpcMessage);
  }
  return { messages, bad };
}

/** A JSON-RPC error object in an HTTP error body, if there is one (servers often send it with `id: null`). */
export function errorBodyOf(text: string): JsonRpcFailure | undefined {
  try {
    const { messages } = parseMessages(text);
    const m = messages[0];
    return m && 'error' in m && isObject(m.error) ? m : undefined;
  } catch {
    return undefined;
  }
}

/** Lower-cases configured header names so protocol headers set later replace them instead of duplicating. */
export function normalizeHeaders(headers: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) out[k.toLowerCase()] = v;
  return out;
}

/** Waits `ms` unless `signal` aborts first; resolves false when aborted. Never leaves a timer behind. */
export function sleep(ms: number, signal: CancelSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * An AbortController tied to an optional caller signal. `release()` detaches it so long-lived caller signals
 * do not accumulate listeners.
 */
export function linkedController(signal?: CancelSignal): { ctl: AbortController; release: () => void } {
  const ctl = new AbortController();
  if (!signal) return { ctl, release: () => {} };
  if (signal.aborted) {
    ctl.abort(signal.reason);
    return { ctl, release: () => {} };
  }
  const onAbort = (): void => ctl.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  return { ctl, release: () => signal.removeEventListener('abort', onAbort) };
}

/** RFC 9110 field-value safety per the 2026-07-28 "Value Encoding" rules; anything else uses the Base64 sentinel. */
export function encodeHeaderValue(value: string): string {
  const plain = /^[\x20-\x7e\t]*$/.test(value)
    && !/^[ \t]|[ \t]$/.test(value)
    && !(value.startsWith('=?base64?') && value.endsWith('?='));
  return plain ? value : `=?base64?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/** The modern-era protocol version a message claims in `params._meta`, if any. */
export function modernVersionOf(m: JsonRpcMessage): string | undefined {
  if (!('method' in m) || !m.params) return undefined;
  const meta = m.params._meta;
  const v = isObject(meta) ? meta[META.protocolVersion] : undefined;
  return typeof v === 'string' ? v : undefined;
}

export const errText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
