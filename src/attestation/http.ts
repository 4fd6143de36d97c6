/**
 * GET /.well-known/mcp-attestation[?nonce=…]: the signed document, public (no authentication, any Origin), never
 * cached. The TLS key it names is the one this very connection was served with, so a certificate reload is
 * reflected at once and a client can pin the connection it is using.
 */
import { X509Certificate, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { NONCE_PATTERN } from './document.js';
import { AttestationBusyError, type AttestationService } from './service.js';

export async function serveAttestation(service: AttestationService, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const headers = { 'cache-control': 'no-store', 'access-control-allow-origin': '*' };
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { ...headers, allow: 'GET, HEAD', 'content-type': 'application/json' }).end(JSON.stringify({ error: 'method not allowed: use GET' }));
    return;
  }
  const query = new URL(req.url ?? '/', 'http://x').searchParams;
  const nonce = query.get('nonce');
  if (nonce !== null && !NONCE_PATTERN.test(nonce)) {
    res.writeHead(400, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify({ error: 'nonce must be 16 to 128 base64url characters ([A-Za-z0-9_-])' }));
    return;
  }
  let signed;
  try {
    signed = await service.document(nonce, servedSpkiSha256(req));
  } catch (e) {
    if (!(e instanceof AttestationBusyError)) throw e;
    res.writeHead(503, { ...headers, 'retry-after': '1', 'content-type': 'application/json' }).end(JSON.stringify({ error: e.message }));
    return;
  }
  const body = JSON.stringify(signed);
  res.writeHead(200, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** SHA-256 (hex) of the DER SubjectPublicKeyInfo of the certificate served on this request's connection; null over plain HTTP. */
export function servedSpkiSha256(req: IncomingMessage): string | null {
  const socket = req.socket as Partial<TLSSocket>;
  if (typeof socket.getCertificate !== 'function') return null;
  const cert = socket.getCertificate();
  const raw = cert && 'raw' in cert ? cert.raw : undefined;
  if (!raw) return null;
  return spkiSha256(new X509Certificate(raw));
}

export function spkiSha256(cert: X509Certificate): string {
  return createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}
