/**
 * A browser's cookies without a browser, for flows driven with fetch across several origins (the gateway, an
 * upstream's authorization server): cookies kept per origin by name, redirects not followed. No Path, Secure or
 * SameSite rules: enough for these flows, which the browser tests repeat in Chromium.
 */
export type CookiesByOrigin = Map<string, Map<string, string>>;

export function cookieHeader(jar: CookiesByOrigin, origin: string): string {
  return [...(jar.get(origin) ?? new Map<string, string>())].map(([k, v]) => `${k}=${v}`).join('; ');
}

/** One request with this origin's cookies; stores what it sets. A POST carries its own Origin, as browsers send. */
export async function browse(jar: CookiesByOrigin, url: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Response> {
  const u = new URL(url);
  const cookies = jar.get(u.origin) ?? new Map<string, string>();
  const headers: Record<string, string> = { ...init.headers };
  if (cookies.size) headers.cookie = cookieHeader(jar, u.origin);
  if (init.body !== undefined) headers['content-type'] ??= 'application/x-www-form-urlencoded';
  if (init.method === 'POST') headers.origin ??= u.origin;
  const res = await fetch(url, { method: init.method ?? 'GET', headers, body: init.body, redirect: 'manual' });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair!.indexOf('=');
    const name = pair!.slice(0, i);
    const value = pair!.slice(i + 1);
    if (/max-age=0|expires=thu, 01 jan 1970/i.test(c) || value === '') cookies.delete(name);
    else cookies.set(name, value);
  }
  jar.set(u.origin, cookies);
  return res;
}

/** Where a redirect goes, resolved against the request's URL. */
export const locationOf = (res: Response, from: string): string => new URL(res.headers.get('location')!, from).href;
