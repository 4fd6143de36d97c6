/**
 * The signed-in user's own upstream accounts (per-user credentials, docs/credentials.md): which upstreams want one,
 * whether theirs is connected, since when, with what scope and until when the current access token runs. Never a
 * token: the view is built field by field from the stored record. Every function takes the console session's
 * principal key, so nobody can see or act on another user's account here.
 */
import type { Gateway } from '../gateway.js';
import { ConsoleError } from './http.js';

export interface AccountView {
  upstream: string;
  description?: string | undefined;
  /** per-user: the user connects an account in the browser; token-exchange: the gateway gets tokens itself. */
  mode: 'per-user' | 'token-exchange';
  /** per-user only. */
  connected?: boolean;
  connectedAt?: number | undefined;
  /** When the current access token expires (epoch ms), when the server said. */
  expiresAt?: number | undefined;
  scope?: string | undefined;
  /** A refresh token is held: an expired access token is renewed without the user. */
  renews?: boolean;
}

export async function accountsOf(gw: Gateway, principal: string): Promise<AccountView[]> {
  const out: AccountView[] = [];
  for (const [upstream, cfg] of Object.entries(gw.config.upstreams)) {
    const mode = gw.credentials.modeOf(upstream);
    if (!mode) continue;
    const base = { upstream, mode, description: cfg.description };
    // Token exchange has no account to connect: listed so the user knows it acts as them.
    if (mode === 'token-exchange') { out.push(base); continue; }
    const t = await gw.credentials.store().get(upstream, principal);
    out.push(t
      ? { ...base, connected: true, connectedAt: t.connectedAt, expiresAt: t.expiresAt, scope: t.scope, renews: t.refreshToken !== undefined }
      : { ...base, connected: false });
  }
  return out;
}

function perUser(gw: Gateway, upstream: string): void {
  if (gw.credentials.modeOf(upstream) !== 'per-user') throw new ConsoleError(404, `${upstream} is not an upstream used with each user's own account`);
}

/** A fresh single-use connect URL for this principal (the same page a PC_CREDENTIALS_REQUIRED answer links to). */
export async function connectUrl(gw: Gateway, upstream: string, principal: string): Promise<string> {
  perUser(gw, upstream);
  return gw.credentials.connect.ticket(upstream, principal);
}

/** Forgets the principal's tokens at the upstream (revoked at its authorization server too); whether there were any. */
export async function disconnect(gw: Gateway, upstream: string, principal: string): Promise<boolean> {
  perUser(gw, upstream);
  return gw.credentials.revoke(upstream, principal);
}
