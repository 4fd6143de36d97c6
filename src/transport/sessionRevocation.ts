/**
 * Revoking 2025-era sessions from outside the process that holds them (the CLI, another replica, the console):
 * a revocation is a record in shared storage, and every gateway polls for new ones and ends the matching live
 * sessions. Revoking a principal ends every session it holds, on every replica.
 */
import type { RecordStore } from '../storage/types.js';

const SESSIONS_NS = 'revoked-sessions';
const PRINCIPALS_NS = 'revoked-principals';
/** Longer than any session can stay idle, so a revocation outlives what it revokes. */
const KEEP_MS = 7 * 24 * 3600_000;

export async function revokeSession(records: RecordStore, sessionId: string): Promise<void> {
  await records.put(SESSIONS_NS, sessionId, { at: Date.now() }, { ttlMs: KEEP_MS });
}

/**
 * Ends the sessions of a principal: `who` is a principal key ("{issuer} {subject}") or a bare subject, which
 * matches that subject under any issuer. Sessions created later are not affected.
 */
export async function revokePrincipalSessions(records: RecordStore, who: string): Promise<void> {
  await records.put(PRINCIPALS_NS, who, { before: Date.now() }, { ttlMs: KEEP_MS });
}

export interface Revocations {
  sessions: Set<string>;
  /** Principal key or bare subject → sessions created before this time are revoked. */
  principals: Map<string, number>;
}

export async function readRevocations(records: RecordStore): Promise<Revocations> {
  const [s, p] = await Promise.all([records.list(SESSIONS_NS), records.list(PRINCIPALS_NS)]);
  return {
    sessions: new Set(s.map((r) => r.key)),
    principals: new Map(p.map((r) => [r.key, Number(r.value.before)])),
  };
}

/** Whether a session (its id, principal key and creation time) is revoked. */
export function isRevoked(r: Revocations, id: string, principalKey: string, createdAt: number): boolean {
  if (r.sessions.has(id)) return true;
  const byKey = r.principals.get(principalKey);
  if (byKey !== undefined && createdAt < byKey) return true;
  const subject = principalKey.slice(principalKey.lastIndexOf(' ') + 1);
  const bySubject = r.principals.get(subject);
  return bySubject !== undefined && createdAt < bySubject;
}
