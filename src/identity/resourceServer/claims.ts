/** From a verified token's claims to the principal the pipeline works with. */
import type { JWTPayload } from 'jose';
import type { ClaimMapping } from '../../config/types.js';
import type { Principal } from '../../pipeline/context.js';

/** Reads a dotted path ("realm_access.roles"); a claim whose name itself contains a dot is tried first. */
export function claimAt(payload: Record<string, unknown>, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  let cur: unknown = payload;
  for (const seg of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, seg)) return undefined;
    cur = (cur as Record<string, unknown>)[seg];
  }
  return cur;
}

/** A claim as a list of strings: arrays keep their strings, a string splits on spaces, anything else is empty. */
export function stringList(v: unknown): string[] {
  if (typeof v === 'string') return v.split(' ').filter(Boolean);
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

export function principalFromClaims(payload: JWTPayload, map: ClaimMapping, certThumbprint: string | undefined): Principal | undefined {
  const p = payload as Record<string, unknown>;
  const subject = str(claimAt(p, map.subject));
  const issuer = str(payload.iss);
  if (!subject || !issuer) return undefined;
  return Object.freeze({
    subject,
    issuer,
    method: 'bearer' as const,
    clientId: str(claimAt(p, map.clientId)) ?? str(p.azp),
    scopes: Object.freeze(stringList(claimAt(p, map.scopes))),
    roles: Object.freeze(stringList(claimAt(p, map.roles))),
    groups: Object.freeze(stringList(claimAt(p, map.groups))),
    tenant: map.tenant ? str(claimAt(p, map.tenant)) : undefined,
    attributes: Object.freeze({ ...p }),
    key: `${issuer} ${subject}`,
    certThumbprint,
  });
}

/** The claim mapping of the built-in authorization server's tokens. */
export const BUILTIN_CLAIMS: ClaimMapping = Object.freeze({ subject: 'sub', scopes: 'scope', roles: 'roles', groups: 'groups', clientId: 'client_id' });
