/**
 * The HTTP edge of the authorization server's own pages: security headers, form bodies, CSRF tokens, same-origin
 * checks for POSTs, and small response helpers.
 */
import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { STYLE } from './pages.js';

const MAX_FORM_BYTES = 16 * 1024;

const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

/**
 * A strict policy for every response: nothing loads from anywhere but the one inline stylesheet (by hash), no
 * framing, no <base>. `formTargets` are the origins a form on the page may submit to and be redirected to
 * (Chromium applies form-action to the redirects after a submission, so the client's redirect URI is listed).
 * `script-src 'self'` is there only so oidc-provider can add the hash of its form_post auto-submit script.
 */
export function contentSecurityPolicy(formTargets?: readonly string[]): string {
  const parts = [
    "default-src 'none'",
    "script-src 'self'",
    `style-src ${STYLE_HASH}`,
    'img-src data:',
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ];
  if (formTargets) parts.push(`form-action 'self'${formTargets.map((t) => ` ${t}`).join('')}`);
  return parts.join('; ');
}

export function setSecurityHeaders(res: ServerResponse, formTargets?: readonly string[]): void {
  res.setHeader('content-security-policy', contentSecurityPolicy(formTargets));
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('x-content-type-options', 'nosniff');
  // "same-origin", not "no-referrer": with no-referrer browsers send `Origin: null` on form POSTs, which the
  // same-origin check below must refuse. Cross-origin navigations still carry no Referer.
  res.setHeader('referrer-policy', 'same-origin');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
}

/** The CSP source for a redirect URI: its origin, or its scheme for private-use schemes (myapp:). */
export function formTargetFor(uri: string | undefined): string[] {
  if (!uri) return [];
  try {
    const u = new URL(uri);
    return [u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : u.protocol];
  } catch {
    return [];
  }
}

export function sendHtml(res: ServerResponse, status: number, html: string, formTargets?: readonly string[]): void {
  setSecurityHeaders(res, formTargets);
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(html) });
  res.end(html);
}

export function redirect(res: ServerResponse, location: string): void {
  res.writeHead(303, { location, 'cache-control': 'no-store', 'content-length': 0 });
  res.end();
}

export class FormError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

/** Reads an application/x-www-form-urlencoded body (at most 16 KiB). */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new FormError(415, 'Expected a form submission.');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) throw new FormError(413, 'The form is too large.');
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/**
 * A POST must come from a page of this server: the Origin header (sent by browsers on every POST) must be ours;
 * without one, Fetch Metadata must not say cross-site.
 */
export function sameOrigin(req: IncomingMessage, origin: string): boolean {
  const o = req.headers.origin;
  if (o !== undefined) return o === origin;
  const site = req.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin' || site === 'none';
}

/** CSRF tokens: an HMAC of what the form is bound to (an interaction id, a setup link), under the server secret. */
export class Csrf {
  private readonly key: Buffer;

  constructor(secret: Buffer) {
    this.key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'portcullis oauth csrf', 32));
  }

  token(purpose: string, binding: string): string {
    return createHmac('sha256', this.key).update(`${purpose}\n${binding}`).digest('base64url');
  }

  check(purpose: string, binding: string, presented: string | null): boolean {
    if (!presented) return false;
    const expected = Buffer.from(this.token(purpose, binding));
    const actual = Buffer.from(presented);
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
}

/** The peer address, for rate limiting (the socket's; forwarded-for headers are not trusted). */
export function clientAddress(req: IncomingMessage): string | undefined {
  return req.socket.remoteAddress?.replace(/^::ffff:/, '');
}
