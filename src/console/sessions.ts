/**
 * Console sessions, server-side: the browser holds only a random id (in a __Host- cookie); the record, stored under
 * the id's hash so a storage dump yields no usable cookie, says who signed in, their console roles and the CSRF
 * token every state-changing request must present. Pending sign-ins (PKCE verifier, bound to the browser that
 * started them) live beside them for ten minutes.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { JsonObject } from '../core/jsonrpc.js';
import type { RecordStore } from '../storage/types.js';
import type { ConsoleRole } from './config.js';

const SESSIONS_NS = 'console:sessions';
const LOGINS_NS = 'console:logins';
export const LOGIN_TTL_SECONDS = 600;

export interface ConsoleUser {
  subject: string;
  issuer: string;
  /** The principal key (issuer + subject), as approvals and sessions know it. */
  key: string;
  /** The token's roles and groups (approvals check approver roles against these). */
  tokenRoles: string[];
  roles: ConsoleRole[];
  /** The local operator (auth.mode none, loopback): an approver by position, like the CLI. */
  operator: boolean;
}

export interface ConsoleSession extends ConsoleUser {
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

export interface PendingLogin {
  verifier: string;
  /** Hash of the random value in the browser's login cookie: the callback must come from the same browser. */
  binding: string;
}

const hash = (s: string) => createHash('sha256').update(s).digest('base64url');
export const randomToken = () => randomBytes(32).toString('base64url');

export class ConsoleSessions {
  constructor(private readonly records: RecordStore, private readonly ttlSeconds: number) {}

  /** Creates a session; returns the cookie value. */
  async create(user: ConsoleUser): Promise<{ id: string; session: ConsoleSession }> {
    const id = randomToken();
    const now = Date.now();
    const session: ConsoleSession = { ...user, csrf: randomToken(), createdAt: now, expiresAt: now + this.ttlSeconds * 1000 };
    await this.records.put(SESSIONS_NS, hash(id), session as unknown as JsonObject, { ttlMs: this.ttlSeconds * 1000 });
    return { id, session };
  }

  async get(id: string | undefined): Promise<ConsoleSession | undefined> {
    if (!id || id.length > 100) return undefined;
    const s = (await this.records.get(SESSIONS_NS, hash(id))) as unknown as ConsoleSession | undefined;
    return s && s.expiresAt > Date.now() ? s : undefined;
  }

  async delete(id: string): Promise<void> {
    await this.records.delete(SESSIONS_NS, hash(id));
  }

  /** Starts a sign-in: returns the state (for the authorization request) and the browser's binding value (its cookie). */
  async startLogin(verifier: string): Promise<{ state: string; browser: string }> {
    const state = randomToken();
    const browser = randomToken();
    const pending: PendingLogin = { verifier, binding: hash(browser) };
    await this.records.put(LOGINS_NS, hash(state), pending as unknown as JsonObject, { ttlMs: LOGIN_TTL_SECONDS * 1000 });
    return { state, browser };
  }

  /** Takes a pending sign-in (once) when the browser presenting it is the one that started it. */
  async takeLogin(state: string, browser: string | undefined): Promise<PendingLogin | undefined> {
    const key = hash(state);
    const pending = (await this.records.get(LOGINS_NS, key)) as unknown as PendingLogin | undefined;
    if (!pending || !browser || !sameSecret(pending.binding, hash(browser))) return undefined;
    return (await this.records.delete(LOGINS_NS, key)) ? pending : undefined;
  }
}

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
