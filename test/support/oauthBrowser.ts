/**
 * Headless Chromium (Debian's /usr/bin/chromium through playwright-core) driving the authorization server's real
 * pages: sign in, allow or deny, and catch the redirect to the client's callback.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/**
 * A client's loopback redirect target: records each request's URL. (Playwright's page.route does not see the
 * targets of redirects, so a real listener is needed.)
 */
export interface CallbackServer {
  origin: string;
  /** http://127.0.0.1:PORT/callback */
  redirectUri: string;
  /** Resolves with the next callback request's URL. */
  next(): Promise<URL>;
  close(): Promise<void>;
}

export async function startCallbackServer(): Promise<CallbackServer> {
  const waiting: Array<(u: URL) => void> = [];
  const arrived: URL[] = [];
  let origin = '';
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', origin);
    if (u.pathname !== '/callback') { res.writeHead(404).end(); return; }
    const w = waiting.shift();
    if (w) w(u); else arrived.push(u);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('callback received');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    redirectUri: `${origin}/callback`,
    next: () => {
      const u = arrived.shift();
      return u ? Promise.resolve(u) : new Promise<URL>((r) => waiting.push(r));
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface AuthorizeInBrowser {
  /** The URL the browser was sent to: the client's redirect URI with code, state, iss (or error). */
  callback: URL;
  sawLogin: boolean;
  sawConsent: boolean;
  /** HTML of the consent page, when one was shown. */
  consentHtml?: string;
}

export interface BrowserSteps {
  username?: string;
  password?: string;
  decision?: 'allow' | 'deny';
  /** Called on the login page before signing in (e.g. to press a federation button instead). */
  onLogin?: (page: Page) => Promise<'handled' | void>;
  timeoutMs?: number;
}

/** Opens `url` in `context` and answers the pages until the browser reaches the callback server. */
export async function authorizeInBrowser(context: BrowserContext, url: string, cb: CallbackServer, steps: BrowserSteps = {}): Promise<AuthorizeInBrowser> {
  const page = await context.newPage();
  const timeout = steps.timeoutMs ?? 20_000;
  const callback = cb.next();
  const result: AuthorizeInBrowser = { callback: undefined as unknown as URL, sawLogin: false, sawConsent: false };
  try {
    await page.goto(url);
    for (let step = 0; step < 6; step++) {
      const next = await Promise.race([
        callback.then(() => 'callback' as const),
        page.waitForSelector('form[action$="/login"], form[action$="/consent"], h1', { timeout }).then(async () => {
          if (await page.$('form[action$="/login"]')) return 'login' as const;
          if (await page.$('form[action$="/consent"]')) return 'consent' as const;
          return 'other' as const;
        }),
      ]);
      if (next === 'callback') break;
      if (next === 'login') {
        result.sawLogin = true;
        if (steps.onLogin && (await steps.onLogin(page)) === 'handled') continue;
        await page.fill('#username', steps.username ?? 'alice');
        await page.fill('#password', steps.password ?? '');
        await Promise.all([page.waitForNavigation({ timeout }).catch(() => undefined), page.click('button[type=submit]')]);
        continue;
      }
      if (next === 'consent') {
        result.sawConsent = true;
        result.consentHtml = await page.content();
        const decision = steps.decision ?? 'allow';
        await Promise.all([page.waitForNavigation({ timeout }).catch(() => undefined), page.click(`button[value=${decision}]`)]);
        continue;
      }
      // Some other page (an error): wait briefly for a redirect, else report its text.
      const settled = await Promise.race([callback.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 500).unref())]);
      if (settled) break;
      throw new Error(`unexpected page at ${page.url()}: ${(await page.textContent('body'))?.trim().slice(0, 400)}`);
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      result.callback = await Promise.race([callback, new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`no callback; page at ${page.url()}`)), timeout); })]);
    } finally {
      clearTimeout(timer);
    }
    return result;
  } finally {
    await page.close();
  }
}
