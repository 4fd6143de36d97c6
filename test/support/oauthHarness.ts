/**
 * The built-in authorization server on a plain node:http server on 127.0.0.1:0 (issuer http://127.0.0.1:PORT/oauth),
 * with in-memory storage, plus the client side of OAuth for tests: PKCE, authorization URLs, token requests, and
 * a cookie jar for flows driven without a browser.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BuiltinAuthServerConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/core/log.js';
import { createAuthServer, type AuthServerAdmin } from '../../src/identity/authServer/index.js';
import type { ScopesFor } from '../../src/identity/authServer/scopes.js';
import { createMemoryStorage } from '../../src/storage/memory.js';
import type { RecordStore } from '../../src/storage/types.js';

export const PASSWORD = 'correct horse battery staple';

export function builtinConfig(over: Partial<BuiltinAuthServerConfig> = {}): BuiltinAuthServerConfig {
  return {
    enabled: true,
    accessTokenTtlSeconds: 300,
    refreshTokenTtlSeconds: 3600,
    keyRotationDays: 30,
    scopes: ['mcp', 'mcp:admin', 'offline_access'],
    dynamicRegistration: true,
    clientIdMetadataDocuments: { enabled: true, allowedHosts: [], allowPrivateNetworks: true, cacheSeconds: 60 },
    clients: [],
    loginRateLimit: { maxAttempts: 5, windowSeconds: 300 },
    federation: [],
    ...over,
  };
}

export interface TestClock {
  now(): number;
  advance(ms: number): void;
}

export interface TestAuthServer {
  as: AuthServerAdmin;
  issuer: string;
  origin: string;
  port: number;
  /** The MCP endpoint's canonical URI (the only valid resource besides `otherResource`). */
  resource: string;
  otherResource: string;
  records: RecordStore;
  clock: TestClock;
  close(): Promise<void>;
}

export interface StartOptions {
  config?: Partial<BuiltinAuthServerConfig>;
  /** Built once the port is known (an upstream provider needs the federation callback URL). */
  configFor?: (origin: string) => Partial<BuiltinAuthServerConfig> | Promise<Partial<BuiltinAuthServerConfig>>;
  scopesFor?: ScopesFor;
}

export async function startTestAuthServer(o: StartOptions = {}): Promise<TestAuthServer> {
  const storage = createMemoryStorage();
  let as: AuthServerAdmin | undefined;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      if (!as || !(await as.handle(req, res))) res.writeHead(404, { 'content-type': 'text/plain' }).end('not the authorization server');
    })().catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String(e));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  let offset = 0;
  const clock: TestClock = { now: () => Date.now() + offset, advance: (ms) => { offset += ms; } };
  as = await createAuthServer({
    config: builtinConfig({ ...o.config, ...(await o.configFor?.(origin)) }),
    issuer: `${origin}/oauth`,
    resources: [{ uri: `${origin}/mcp`, name: 'default' }, { uri: `${origin}/servers/fs/mcp`, name: 'fs' }],
    records: storage.records,
    log: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    secret: randomBytes(32),
    now: clock.now,
    ...(o.scopesFor ? { scopesFor: o.scopesFor } : {}),
  });
  const running = as;
  return {
    as: running,
    issuer: running.issuer,
    origin,
    port,
    resource: `${origin}/mcp`,
    otherResource: `${origin}/servers/fs/mcp`,
    records: storage.records,
    clock,
    async close() {
      await running.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await storage.close();
    },
  };
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface AuthorizeParams {
  clientId: string;
  redirectUri: string;
  resource?: string | undefined;
  scope?: string | undefined;
  challenge?: string | undefined;
  method?: string | undefined;
  state?: string;
  responseType?: string;
  extra?: Record<string, string>;
}

export function authorizeUrl(t: TestAuthServer, p: AuthorizeParams): string {
  const q = new URLSearchParams({ response_type: p.responseType ?? 'code', client_id: p.clientId, redirect_uri: p.redirectUri, state: p.state ?? randomBytes(8).toString('hex') });
  if (p.resource !== undefined) q.set('resource', p.resource);
  if (p.scope !== undefined) q.set('scope', p.scope);
  if (p.challenge !== undefined) q.set('code_challenge', p.challenge);
  if (p.method !== undefined) q.set('code_challenge_method', p.method);
  for (const [k, v] of Object.entries(p.extra ?? {})) q.set(k, v);
  return `${t.issuer}/auth?${q}`;
}

export interface TokenResponse {
  status: number;
  headers: Headers;
  body: Record<string, any>;
}

export async function tokenRequest(t: TestAuthServer, params: Record<string, string>, auth?: { id: string; secret: string }): Promise<TokenResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth) headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(auth.id)}:${encodeURIComponent(auth.secret)}`).toString('base64')}`;
  const res = await fetch(`${t.issuer}/token`, { method: 'POST', headers, body: new URLSearchParams(params) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, any> };
}

export function redeemCode(t: TestAuthServer, o: { code: string; verifier: string; clientId: string; redirectUri: string; resource?: string; secret?: string }): Promise<TokenResponse> {
  const params: Record<string, string> = { grant_type: 'authorization_code', code: o.code, code_verifier: o.verifier, redirect_uri: o.redirectUri };
  if (o.resource) params.resource = o.resource;
  if (!o.secret) params.client_id = o.clientId;
  return tokenRequest(t, params, o.secret ? { id: o.clientId, secret: o.secret } : undefined);
}

export function refreshTokens(t: TestAuthServer, o: { refreshToken: string; clientId: string; resource?: string }): Promise<TokenResponse> {
  return tokenRequest(t, { grant_type: 'refresh_token', refresh_token: o.refreshToken, client_id: o.clientId, ...(o.resource ? { resource: o.resource } : {}) });
}

/** Dynamic client registration (RFC 7591). */
export async function registerClient(t: TestAuthServer, metadata: Record<string, unknown>): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${t.issuer}/reg`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(metadata) });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, any> };
}

/** A minimal cookie jar for flows driven with fetch (no browser): keeps name=value per cookie name. */
export class CookieJar {
  readonly cookies = new Map<string, string>();
  readonly setCookieHeaders: string[] = [];

  store(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      this.setCookieHeaders.push(line);
      const [pair] = line.split(';', 1);
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** fetch without following redirects, sending and storing cookies. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', this.header());
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    this.store(res);
    return res;
  }
}

/** The value of a hidden form input in a page. */
export function hiddenInput(html: string, name: string): string | undefined {
  return new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
}

/** Follows an authorization URL without a browser up to the login page; returns the page and its form action. */
export async function openLoginPage(t: TestAuthServer, jar: CookieJar, url: string): Promise<{ html: string; action: string; csrf: string; response: Response }> {
  const first = await jar.fetch(url);
  if (first.status !== 303) throw new Error(`expected a redirect to the login page, got ${first.status}: ${await first.text()}`);
  const page = await jar.fetch(new URL(first.headers.get('location')!, t.origin).href);
  const html = await page.text();
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  const csrf = hiddenInput(html, 'csrf');
  if (!action || !csrf) throw new Error(`no login form in: ${html.slice(0, 500)}`);
  return { html, action: action.replace(/&amp;/g, '&'), csrf, response: page };
}

export async function postForm(t: TestAuthServer, jar: CookieJar, action: string, form: Record<string, string>, headers: Record<string, string> = { origin: '' }): Promise<Response> {
  const h: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', ...headers };
  if (h.origin === '') h.origin = t.origin;
  return jar.fetch(new URL(action, t.origin).href, { method: 'POST', headers: h, body: new URLSearchParams(form) });
}

/** A loopback server of JSON documents (client ID metadata documents), changeable per test. */
export interface DocumentServer {
  origin: string;
  set(path: string, body: unknown): string;
  /** How many times each path was fetched. */
  hits: Map<string, number>;
  close(): Promise<void>;
}

export async function startDocumentServer(): Promise<DocumentServer> {
  const docs = new Map<string, string>();
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const body = docs.get(path);
    if (body === undefined) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    hits,
    set(path, body) {
      docs.set(path, JSON.stringify(body));
      return origin + path;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
