/**
 * Signing in to a gateway's console without a browser, through the built-in authorization server's pages: the
 * console's login redirect, the sign-in form, the consent page (first time), the callback that sets the session.
 * test/console.browser.test.ts does the same in Chromium.
 */
import { browse, cookieHeader, locationOf, type CookiesByOrigin } from './browse.js';

export interface ConsoleBrowser {
  jar: CookiesByOrigin;
  /** The Cookie header for the gateway (the console session among them). */
  cookie: () => string;
  /** The session's CSRF token (from GET api/me). */
  csrf: string;
}

const field = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1];
const action = (html: string) => /<form method="post" action="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, '&');

export async function consoleSignIn(base: string, username: string, password: string, jar: CookiesByOrigin = new Map()): Promise<ConsoleBrowser> {
  const origin = new URL(base).origin;
  let url = `${base}/console/`;
  let res = await browse(jar, url);
  for (let hops = 0; hops < 20; hops++) {
    if (res.status >= 300 && res.status < 400) {
      url = locationOf(res, url);
      await res.text();
      res = await browse(jar, url);
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`console sign-in: ${res.status} at ${url}: ${html.slice(0, 300)}`);
    if (new URL(url).pathname === '/console/callback') {
      if (!jar.get(origin)?.has('__Host-portcullis.console')) throw new Error(`console sign-in: no session: ${html.slice(0, 300)}`);
      const me = await fetch(`${base}/console/api/me`, { headers: { cookie: cookieHeader(jar, origin) } });
      const { csrf } = (await me.json()) as { csrf: string };
      return { jar, cookie: () => cookieHeader(jar, origin), csrf };
    }
    const form = action(html);
    const csrf = field(html, 'csrf');
    if (!form || !csrf) throw new Error(`console sign-in: unexpected page at ${url}: ${html.slice(0, 300)}`);
    const fields: Record<string, string> = /name="password"/.test(html) ? { csrf, username, password } : { csrf, decision: 'allow' };
    url = new URL(form, url).href;
    res = await browse(jar, url, { method: 'POST', body: new URLSearchParams(fields).toString() });
  }
  throw new Error('console sign-in: too many redirects');
}
