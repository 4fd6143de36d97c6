/**
 * Fetching the document over one connection and remembering which certificate that connection presented, so the
 * document's TLS key can be compared with the live connection it came over (a man in the middle with another
 * certificate, even one the client trusts, cannot present the gateway's key).
 */
import { X509Certificate } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { spkiSha256 } from '../http.js';

const MAX_BYTES = 8 * 1024 * 1024;
const TIMEOUT_MS = 30_000;

export interface Fetched {
  status: number;
  body: string;
  /** SHA-256 (hex) of the SPKI of the certificate the server presented; null over plain HTTP. */
  peerSpkiSha256: string | null;
}

export interface FetchOptions {
  /** PEM of extra certificate authorities to trust (a private or development CA). */
  ca?: string | Buffer;
}

export function fetchOver(url: URL, opts: FetchOptions = {}): Promise<Fetched> {
  return new Promise((resolve, reject) => {
    const tls = url.protocol === 'https:';
    if (!tls && url.protocol !== 'http:') return reject(new Error(`unsupported URL scheme ${url.protocol}`));
    const onResponse = (res: IncomingMessage) => {
      let peer: string | null = null;
      if (tls) {
        const cert = (res.socket as TLSSocket).getPeerCertificate();
        if (!cert?.raw) return reject(new Error('the server presented no certificate'));
        peer = spkiSha256(new X509Certificate(cert.raw));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BYTES) req.destroy(new Error(`the response exceeds ${MAX_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), peerSpkiSha256: peer }));
      res.on('error', reject);
    };
    const common = { method: 'GET', timeout: TIMEOUT_MS, headers: { accept: 'application/json' }, agent: false as const };
    const req = tls
      ? httpsRequest(url, { ...common, ...(opts.ca !== undefined && { ca: opts.ca }) }, onResponse)
      : httpRequest(url, common, onResponse);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}
