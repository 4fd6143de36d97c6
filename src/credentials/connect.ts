/**
 * Connecting a user's account at an upstream, in the browser:
 *
 *   {CREDENTIALS_PATH}/connect/{ticket}   GET: a page naming the upstream and the gateway user the account will
 *                                         serve, with one button; POST: the authorization request (code + PKCE S256,
 *                                         RFC 8707 resource) at the upstream's authorization server
 *   {CREDENTIALS_PATH}/callback           the code exchanged, the tokens stored in the vault for that user
 *
 * A ticket is minted only for an authenticated request of that principal (the PC_CREDENTIALS_REQUIRED answer, or
 * "Connect" on their own Accounts page in the console), is random (256 bits), single-use and lives ten minutes. The
 * browser that pressed the button gets a cookie the callback must see, so a code obtained in another browser (login
 * CSRF) is refused.
 *
 * Where browsers can sign in to the gateway (the console: the built-in authorization server, or auth.mode none on
 * loopback), the browser must be signed in as the ticket's principal: a link forwarded to someone else would
 * otherwise let them connect *their* upstream account to the sender's gateway user, who would then act with it
 * (account-linking CSRF). Without such a session the page asks to sign in first. With external issuers only there
 * is no browser sign-in yet: the page names the gateway user before anything happens, and docs/credentials.md says
 * what that leaves open.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import * as oidc from 'openid-client';
import type { Logger } from '../core/log.js';
import type { RecordStore } from '../storage/types.js';
import { OAuthRefusal, type IssuedTokens, type UpstreamOAuthClient } from './oauthClient.js';

export const CREDENTIALS_PATH = '/credentials';

const TICKETS = 'credentials.connect';
const PENDING = 'credentials.pending';
const TTL_MS = 10 * 60_000;
const COOKIE = 'portcullis-connect';

export interface ConnectDeps {
  records: RecordStore;
  client: (upstream: string) => UpstreamOAuthClient;
  base: () => string;
  log: Logger;
  stored: (upstream: string, principal: string, subject: string, tokens: IssuedTokens) => Promise<void>;
}

/** Who this browser is signed in as (the console session), or undefined; `signInUrl` is where to do it. */
export interface BrowserIdentity {
  signedIn(req: IncomingMessage): Promise<string | undefined>;
  signInUrl: () => string;
}

class ConnectError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export class ConnectFlow {
  private browser: BrowserIdentity | undefined;

  constructor(private readonly deps: ConnectDeps) {}

  /** How to tell who the browser is (the console's sign-in); without it no account can be connected. */
  setBrowserIdentity(b: BrowserIdentity | undefined): void {
    this.browser = b;
  }

  /** Refuses unless this browser is signed in as the ticket's principal. */
  private async sameUser(req: IncomingMessage, principal: string): Promise<void> {
    if (!this.browser) return;
    const who = await this.browser.signedIn(req);
    if (who === undefined) throw new ConnectError(401, `Sign in to the gateway first (${this.browser.signInUrl()}) in this browser, then open this link again.`);
    if (who !== principal) throw new ConnectError(403, 'This link was made for another gateway user. Only they can use it; retry the call in your own MCP client to get a link of your own.');
  }

  /** A single-use connect URL for this principal and upstream. */
  async ticket(upstream: string, principal: string): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    await this.deps.records.put(TICKETS, id, { upstream, principal }, { ttlMs: TTL_MS });
    return `${this.deps.base()}${CREDENTIALS_PATH}/connect/${id}`;
  }

  owns(path: string): boolean {
    return path.startsWith(`${CREDENTIALS_PATH}/`);
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    res.setHeader('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'");
    // same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on the button's POST, which the
    // gateway's Origin check refuses. The ticket in the URL still never reaches another site in a Referer.
    res.setHeader('referrer-policy', 'same-origin');
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('x-frame-options', 'DENY');
    try {
      const sub = path.slice(CREDENTIALS_PATH.length);
      const m = /^\/connect\/([A-Za-z0-9_-]{43})$/.exec(sub);
      if (m && req.method === 'GET') return await this.confirmPage(req, res, m[1]!);
      if (m && req.method === 'POST') return await this.start(req, res, m[1]!);
      if (sub === '/callback' && req.method === 'GET') return await this.finish(req, res);
      throw new ConnectError(404, 'Nothing here.');
    } catch (e) {
      const status = e instanceof ConnectError ? e.status : e instanceof OAuthRefusal ? 400 : 502;
      if (status === 502) this.deps.log.warn({ err: (e as Error).message }, 'connecting an upstream account failed');
      const message = e instanceof ConnectError || e instanceof OAuthRefusal ? e.message : 'The upstream\'s authorization server could not be reached; try again later.';
      page(res, status, 'Not connected', message);
    }
  }

  private async confirmPage(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    const t = await this.deps.records.get(TICKETS, id);
    if (!t) throw new ConnectError(404, 'This connect link is unknown, used or expired. Retry the call in your MCP client to get a new one.');
    await this.sameUser(req, String(t.principal));
    page(res, 200, `Connect ${String(t.upstream)}`,
      `Sign in at ${esc(String(t.upstream))} so that the gateway can use your account there for the calls of the gateway user <b>${esc(String(t.principal))}</b>, and only theirs. If that is not you, close this page.`,
      `<form method="post"><button type="submit" id="connect">Connect ${esc(String(t.upstream))}</button></form>`, true);
  }

  private async start(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    for await (const chunk of req) void chunk;
    const peek = await this.deps.records.get(TICKETS, id);
    if (peek) await this.sameUser(req, String(peek.principal));
    const t = await this.deps.records.get(TICKETS, id);
    // Single use: exactly one POST deletes the ticket.
    if (!t || !(await this.deps.records.delete(TICKETS, id))) throw new ConnectError(404, 'This connect link is unknown, used or expired. Retry the call in your MCP client to get a new one.');
    const upstream = String(t.upstream);
    const state = randomBytes(32).toString('base64url');
    const browser = randomBytes(32).toString('base64url');
    const verifier = oidc.randomPKCECodeVerifier();
    const url = await this.deps.client(upstream).authorizationUrl(state, verifier);
    await this.deps.records.put(PENDING, state, { upstream, principal: String(t.principal), verifier, browser }, { ttlMs: TTL_MS });
    const secure = (req.socket as TLSSocket).encrypted === true;
    res.setHeader('set-cookie', `${COOKIE}=${browser}; Path=${CREDENTIALS_PATH}/callback; HttpOnly; SameSite=Lax; Max-Age=${TTL_MS / 1000}${secure ? '; Secure' : ''}`);
    res.writeHead(303, { location: url, 'cache-control': 'no-store', 'content-length': 0 }).end();
  }

  private async finish(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.deps.base());
    const state = url.searchParams.get('state') ?? '';
    const pending = state ? await this.deps.records.get(PENDING, state) : undefined;
    const cookie = cookieOf(req, COOKIE);
    if (!pending || !cookie || cookie !== pending.browser || !(await this.deps.records.delete(PENDING, state))) {
      throw new ConnectError(400, 'This sign-in is unknown, expired, or was started in another browser. Retry the call in your MCP client to get a new link.');
    }
    res.setHeader('set-cookie', `${COOKIE}=; Path=${CREDENTIALS_PATH}/callback; HttpOnly; SameSite=Lax; Max-Age=0`);
    const upstream = String(pending.upstream);
    const principal = String(pending.principal);
    if (url.searchParams.get('error')) throw new ConnectError(403, `${upstream} did not grant access: ${url.searchParams.get('error_description') ?? url.searchParams.get('error')}`);
    const tokens = await this.deps.client(upstream).exchangeCode(url, state, String(pending.verifier));
    await this.deps.stored(upstream, principal, principal.slice(principal.indexOf(' ') + 1), tokens);
    this.deps.log.info({ upstream, principal }, 'upstream account connected');
    // Connecting may have started at the console's Accounts page rather than in an MCP client: a way back there.
    const back = this.browser ? `<p><a id="console" href="${esc(`${this.browser.signInUrl()}#/accounts`)}">Back to your accounts in the console</a></p>` : '';
    page(res, 200, `${upstream} connected`, `Your ${upstream} account is connected. Return to your MCP client and retry${back ? ', or go back to the console' : ''}.`, back);
  }
}

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** `html` is trusted markup (escape what goes into it); `title` and plain messages are escaped here. */
function page(res: ServerResponse, status: number, title: string, message: string, extra = '', messageIsHtml = false): void {
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head><body><main><h1>${esc(title)}</h1><p>${messageIsHtml ? message : esc(message)}</p>${extra}</main></body></html>`;
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
