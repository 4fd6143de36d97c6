/**
 * Calls to the console API: same origin, the session cookie travels by itself; state-changing calls carry the
 * CSRF token from /api/me. Errors arrive as { error } and are thrown with that message.
 */
export interface Me {
  subject: string;
  issuer: string;
  roles: string[];
  csrf: string;
  expiresAt: number;
  audit: boolean;
}

let csrf = '';

export class ApiError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

async function parse<T>(res: Response): Promise<T> {
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new ApiError(res.status, body.error ?? `HTTP ${res.status}`);
  return body as T;
}

export async function me(): Promise<Me> {
  const m = await parse<Me>(await fetch('api/me', { credentials: 'same-origin' }));
  csrf = m.csrf;
  return m;
}

export async function get<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T> {
  const q = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => !!e[1]));
  const qs = q.toString();
  return parse<T>(await fetch(`api/${path}${qs ? `?${qs}` : ''}`, { credentials: 'same-origin' }));
}

export async function post<T>(path: string, body: unknown = {}): Promise<T> {
  return parse<T>(await fetch(`api/${path}`, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
    body: JSON.stringify(body),
  }));
}

export const has = (m: Me, ...roles: string[]) => m.roles.some((r) => roles.includes(r));
export const time = (ms: number) => new Date(ms).toLocaleString();
