/**
 * The console's HTTP edge: security headers on every response, JSON bodies and errors, cookies.
 * No inline script or style anywhere, so the CSP needs no hashes or nonces.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const MAX_JSON_BYTES = 16 * 1024;

/** An error answered as JSON `{ error }` with this status. */
export class ConsoleError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'ConsoleError';
  }
}

export function isTls(req: IncomingMessage): boolean {
  return (req.socket as TLSSocket).encrypted === true;
}

export function setConsoleHeaders(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('content-security-policy', CONSOLE_CSP);
  res.setHeader('x-frame-options', 'DENY');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
  res.setHeader('cross-origin-resource-policy', 'same-origin');
  // HSTS only means something over TLS (browsers ignore it on http, and it must not pin a loopback dev setup).
  if (isTls(req)) res.setHeader('strict-transport-security', 'max-age=31536000');
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(html) });
  res.end(html);
}

export function redirect(res: ServerResponse, location: string, cookies: string[] = []): void {
  if (cookies.length) res.setHeader('set-cookie', cookies);
  res.writeHead(303, { location, 'cache-control': 'no-store', 'content-length': 0 });
  res.end();
}

/** Reads a JSON object body (application/json, at most 16 KiB). An empty body reads as {}. */
export async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_BYTES) throw new ConsoleError(413, 'the request body is too large');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  if (type !== 'application/json') throw new ConsoleError(415, 'expected application/json');
  let parsed: unknown;
  try { parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { throw new ConsoleError(400, 'the body is not valid JSON'); }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConsoleError(400, 'the body must be a JSON object');
  return parsed as Record<string, unknown>;
}

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * A `__Host-` cookie: Secure, Path=/, no Domain, HttpOnly. Browsers accept Secure cookies from http://127.0.0.1 and
 * http://localhost (potentially trustworthy origins), so this works on a plain-http loopback gateway too.
 */
export function hostCookie(name: string, value: string, opts: { maxAgeSeconds: number; sameSite: 'Strict' | 'Lax' }): string {
  return `${name}=${value}; Path=/; Secure; HttpOnly; SameSite=${opts.sameSite}; Max-Age=${opts.maxAgeSeconds}`;
}

export function clearedCookie(name: string): string {
  return `${name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0`;
}

/** A string query or body field, trimmed; undefined when absent or empty. */
export function field(v: unknown, max = 1000): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  if (t.length > max) throw new ConsoleError(400, `a field is longer than ${max} characters`);
  return t || undefined;
}
