/**
 * The web console, served by the gateway under `console.path` (default /console):
 *
 *   {path}/              the app (one HTML page, its script and stylesheet; hash routes for the pages)
 *   {path}/assets/…      the bundle built by scripts/build-console.mjs
 *   {path}/login         starts signing in (authorization code + PKCE at the built-in authorization server)
 *   {path}/callback      finishes it: a console session in a __Host- cookie
 *   {path}/api/…         the JSON API (api.ts)
 *
 * How a caller is trusted depends on the gateway's authentication:
 *   - auth.mode oauth with the built-in authorization server: sign-in as above, open to every user of that server;
 *     console roles from the token. A user without one gets a session that reaches only their own accounts.
 *   - auth.mode none: loopback peers only, each treated as the local operator with every console role (the same
 *     trust as the CLI on that machine); anything else gets 403.
 *   - auth.mode oauth with external issuers only: the console is unavailable (503), it signs in only through the
 *     built-in server.
 * State-changing requests need the session's CSRF token (header x-csrf-token) and a same-origin Origin header.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApprovalError } from '../approvals/approvals.js';
import type { GatewayConfig } from '../config/types.js';
import type { Gateway } from '../gateway.js';
import { AUTH_SERVER_PATH, type Identity } from '../identity/identity.js';
import { isLoopbackAddress } from '../transport/http/guards.js';
import { handleApi } from './api.js';
import { assetsDir, loadAssets, type ConsoleAssets } from './assets.js';
import { CONSOLE_ROLES } from './config.js';
import { ApprovalFeed } from './feed.js';
import { ConsoleError, clearedCookie, hostCookie, isTls, readCookie, redirect, sendHtml, sendJson, setConsoleHeaders } from './http.js';
import { ConsoleSessions, LOGIN_TTL_SECONDS, sameSecret, type ConsoleSession } from './sessions.js';
import { ConsoleSignIn, consoleClientSecret, consoleRolesOf, newVerifier, withConsoleClient } from './signin.js';

const SESSION_COOKIE = '__Host-portcullis.console';
const LOGIN_COOKIE = '__Host-portcullis.console-login';

type Mode = 'oauth' | 'local' | 'unavailable';

/** Paths the gateway serves itself (AUTH_SERVER_PATH, MCP routes, probes). */
const RESERVED = [AUTH_SERVER_PATH, '/mcp', '/sse', '/messages', '/servers', '/virtual', '/healthz', '/readyz', '/.well-known', '/credentials'];

export class ConsoleApp {
  readonly path: string;
  private readonly mode: Mode;
  private readonly sessions: ConsoleSessions;
  private readonly feed: ApprovalFeed;
  private assets: ConsoleAssets | undefined;
  private base = '';
  private signIn: ConsoleSignIn | undefined;

  private constructor(private readonly gw: Gateway) {
    const cfg = gw.config;
    this.path = cfg.console.path;
    this.mode = cfg.auth.mode === 'none' ? 'local' : cfg.auth.builtin.enabled ? 'oauth' : 'unavailable';
    this.sessions = new ConsoleSessions(gw.storage.records, cfg.console.sessionTtlSeconds);
    this.feed = new ApprovalFeed(gw.approvals);
    gw.onShutdown(() => this.feed.close());
  }

  /** The console of this gateway, or undefined when console.enabled is false. */
  static create(gw: Gateway): ConsoleApp | undefined {
    if (!gw.config.console.enabled) return undefined;
    const path = gw.config.console.path;
    if (RESERVED.includes(path) || path === gw.config.monitoring?.metrics?.path) throw new Error(`console.path ${path} is taken by the gateway itself: choose another`);
    // Said at start, not at the first page view: a gateway run from source without `npm run build` has no bundle.
    try { assetsDir(); } catch (e) { gw.log.warn({ reason: (e as Error).message }, 'the console cannot be served'); }
    return new ConsoleApp(gw);
  }

  /** The gateway's public base (scheme://host[:port]), known once it listens. */
  setBase(base: string): void {
    this.base = base;
  }

  owns(path: string): boolean {
    return path === this.path || path.startsWith(`${this.path}/`);
  }

  /**
   * The principal key this browser is signed in as: its console session, or with auth.mode none a loopback peer as
   * the local principal. Other parts of the gateway (connecting upstream accounts) use it to know who is at the browser.
   */
  async signedInKey(req: IncomingMessage): Promise<string | undefined> {
    if (this.mode === 'local') return isLoopbackAddress((req.socket.remoteAddress ?? '').replace(/^::ffff:/, '')) ? 'local' : undefined;
    if (this.mode !== 'oauth') return undefined;
    return (await this.sessions.get(readCookie(req, SESSION_COOKIE)))?.key;
  }

  /** Whether browsers can sign in here at all (the built-in authorization server, or auth.mode none on loopback). */
  get canSignIn(): boolean {
    return this.mode !== 'unavailable';
  }

  /** Where a browser signs in. */
  get signInUrl(): string {
    return `${this.base}${this.path}/`;
  }

  /** The console as a protected resource of the built-in authorization server (the audience of its tokens). */
  resourceRoutes(): Array<{ mcpPath: string; name: string }> {
    return this.mode === 'oauth' ? [{ mcpPath: this.path, name: 'console' }] : [];
  }

  isResource(mcpPath: string): boolean {
    return this.mode === 'oauth' && mcpPath === this.path;
  }

  /** The identity configuration with the console registered as a confidential client. */
  identityConfig(config: GatewayConfig): GatewayConfig {
    if (this.mode !== 'oauth') return config;
    return withConsoleClient(config, this.redirectUri, consoleClientSecret(this.gw.secret('auth')));
  }

  private get redirectUri(): string {
    return `${this.base}${this.path}/callback`;
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string, identity: Identity): Promise<void> {
    setConsoleHeaders(req, res);
    const sub = path.slice(this.path.length) || '';
    const api = sub.startsWith('/api/');
    try {
      if (this.mode === 'unavailable') throw new ConsoleError(503, 'the console signs in through the built-in authorization server (auth.builtin.enabled), which is off');
      if (this.mode === 'local' && !isLoopbackAddress((req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''))) {
        throw new ConsoleError(403, 'without authentication (auth.mode none) the console answers loopback callers only');
      }
      if (api) return await this.api(req, res, sub.slice('/api/'.length));
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new ConsoleError(405, 'only GET here');
      if (sub === '') return redirect(res, `${this.path}/`);
      if (sub.startsWith('/assets/')) return this.asset(res, sub.slice('/assets/'.length));
      if (sub === '/login') return await this.startLogin(res, identity);
      if (sub === '/callback') return await this.finishLogin(req, res, identity);
      // Not a redirect to the app: the authorization server's own sign-in outlives the console session and would sign the user straight back in.
      if (sub === '/signed-out') return sendHtml(res, 200, messagePage('You are signed out of the console.', this.path));
      if (sub !== '/') throw new ConsoleError(404, `nothing at ${path}`);
      return await this.page(req, res);
    } catch (e) {
      if (res.headersSent) { res.destroy(); return; }
      const { status, message } = this.failure(e);
      if (status === 500) this.gw.log.error({ err: (e as Error).stack }, 'console request failed');
      return api ? sendJson(res, status, { error: message }) : sendHtml(res, status, messagePage(message, this.path));
    }
  }

  private failure(e: unknown): { status: number; message: string } {
    if (e instanceof ConsoleError) return { status: e.status, message: e.message };
    if (e instanceof ApprovalError) return { status: e.code === 'unknown' ? 404 : e.code === 'decided' ? 409 : 403, message: e.message };
    return { status: 500, message: 'internal error (see the gateway log)' };
  }

  private async page(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Opened as http://localhost:8080 while the public URL is http://127.0.0.1:8080, sign-in would start under a
    // cookie the callback (on the public URL) never sees: move to the public URL first. Only between loopback names,
    // so a proxy that rewrites Host can never cause a redirect loop.
    const own = new URL(this.base);
    const host = (req.headers.host ?? '').toLowerCase();
    if (this.mode === 'oauth' && host && host !== own.host && isLoopbackAddress(own.hostname) && isLoopbackAddress(host.replace(/:\d+$/, ''))) {
      return redirect(res, `${this.base}${this.path}/`);
    }
    let session = await this.sessions.get(readCookie(req, SESSION_COOKIE));
    const cookies: string[] = [];
    if (!session) {
      if (this.mode === 'oauth') return redirect(res, `${this.path}/login`);
      // auth.mode none, loopback: the local operator (see the header comment).
      const created = await this.sessions.create({ subject: 'local', issuer: 'local', key: 'local', tokenRoles: [], roles: [...CONSOLE_ROLES], operator: true });
      session = created.session;
      cookies.push(this.sessionCookie(created.id));
    }
    if (cookies.length) res.setHeader('set-cookie', cookies);
    return sendHtml(res, 200, appPage(this.path));
  }

  private sessionCookie(id: string): string {
    return hostCookie(SESSION_COOKIE, id, { maxAgeSeconds: this.gw.config.console.sessionTtlSeconds, sameSite: 'Strict' });
  }

  private signInClient(identity: Identity): ConsoleSignIn {
    if (!identity.verifier || !identity.authServer) throw new ConsoleError(503, 'the built-in authorization server is not running');
    this.signIn ??= new ConsoleSignIn(identity, `${this.base}${AUTH_SERVER_PATH}`, this.redirectUri, `${this.base}${this.path}`, consoleClientSecret(this.gw.secret('auth')));
    return this.signIn;
  }

  private async startLogin(res: ServerResponse, identity: Identity): Promise<void> {
    if (this.mode !== 'oauth') return redirect(res, `${this.path}/`);
    const verifier = newVerifier();
    const { state, browser } = await this.sessions.startLogin(verifier);
    const url = await this.signInClient(identity).authorizationUrl(state, verifier);
    // Lax, not Strict: the way back from the sign-in pages may start at another site (federated sign-in).
    redirect(res, url, [hostCookie(LOGIN_COOKIE, browser, { maxAgeSeconds: LOGIN_TTL_SECONDS, sameSite: 'Lax' })]);
  }

  private async finishLogin(req: IncomingMessage, res: ServerResponse, identity: Identity): Promise<void> {
    if (this.mode !== 'oauth') return redirect(res, `${this.path}/`);
    const client = this.signInClient(identity);
    const url = new URL(req.url ?? '/', this.base);
    const state = url.searchParams.get('state');
    if (url.searchParams.get('error')) throw new ConsoleError(403, `sign-in was not completed: ${url.searchParams.get('error_description') ?? url.searchParams.get('error')}`);
    const pending = state ? await this.sessions.takeLogin(state, readCookie(req, LOGIN_COOKIE)) : undefined;
    if (!state || !pending) throw new ConsoleError(400, 'this sign-in is unknown, expired, or was started in another browser: sign in again');
    const principal = await client.complete(url, state, pending.verifier);
    // Every user of the built-in server may sign in: without a console role they see only their own accounts
    // (api.ts checks the role of every other endpoint), which they must be signed in here to connect.
    const roles = consoleRolesOf(principal, this.gw.config.console);
    await this.gw.audit?.append({ type: 'admin.console.signin', principal: principal.subject, issuer: principal.issuer, client: 'portcullis-console', outcome: 'ok', detail: { roles } });
    const { id } = await this.sessions.create({
      subject: principal.subject, issuer: principal.issuer, key: principal.key, tokenRoles: [...new Set([...principal.roles, ...principal.groups])], roles, operator: false,
    });
    res.setHeader('set-cookie', [this.sessionCookie(id), clearedCookie(LOGIN_COOKIE)]);
    // A page that moves on by itself rather than a redirect: the SameSite=Strict cookie set here is sent only on a
    // navigation that starts on this site, and the redirect chain that got here may have started elsewhere.
    sendHtml(res, 200, continuePage(`${this.path}/`));
  }

  private async api(req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> {
    const cookie = readCookie(req, SESSION_COOKIE);
    const session = await this.sessions.get(cookie);
    if (!session) throw new ConsoleError(401, 'not signed in (or the console session expired): reload the page');
    if (req.method !== 'GET' && req.method !== 'HEAD') this.checkStateChange(req, session);
    const q = (req.url ?? '').indexOf('?');
    let segments: string[];
    try { segments = rest.split('/').filter(Boolean).map(decodeURIComponent); } catch { throw new ConsoleError(400, 'malformed path'); }
    await handleApi({
      gw: this.gw, session, req, res, segments, feed: this.feed,
      query: new URLSearchParams(q < 0 ? '' : req.url!.slice(q + 1)),
      logout: async () => {
        await this.sessions.delete(cookie!);
        res.setHeader('set-cookie', clearedCookie(SESSION_COOKIE));
      },
    });
  }

  /** CSRF: a same-origin Origin header and the session's synchronizer token in x-csrf-token. */
  private checkStateChange(req: IncomingMessage, session: ConsoleSession): void {
    const origin = req.headers.origin;
    const own = [this.base, `${isTls(req) ? 'https' : 'http'}://${req.headers.host ?? ''}`];
    if (!origin || !own.includes(origin)) throw new ConsoleError(403, 'cross-origin request refused (the Origin header must be this console\'s)');
    const token = req.headers['x-csrf-token'];
    if (typeof token !== 'string' || !sameSecret(token, session.csrf)) throw new ConsoleError(403, 'missing or wrong CSRF token (x-csrf-token): reload the page');
  }

  private asset(res: ServerResponse, name: string): void {
    this.assets ??= loadAssets();
    const a = this.assets.get(name);
    if (!a) throw new ConsoleError(404, `no asset ${name}`);
    res.writeHead(200, { 'content-type': a.type, 'cache-control': 'no-cache', etag: a.etag, 'content-length': a.body.length });
    res.end(a.body);
  }
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function appPage(path: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Portcullis console</title><link rel="stylesheet" href="${esc(path)}/assets/app.css"></head>
<body><div id="app"></div><script type="module" src="${esc(path)}/assets/app.js"></script></body></html>
`;
}

function messagePage(message: string, path: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Portcullis console</title><link rel="stylesheet" href="${esc(path)}/assets/app.css"></head>
<body><main class="message"><h1>Portcullis console</h1><p>${esc(message)}</p><p><a href="${esc(path)}/">Back to the console</a></p></main></body></html>
`;
}

function continuePage(target: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${esc(target)}"><title>Signed in</title></head>
<body><p>Signed in. <a href="${esc(target)}">Continue to the console</a>.</p></body></html>
`;
}
