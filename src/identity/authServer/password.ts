/**
 * Password hashing with scrypt (node:crypto): memory-hard, a random salt per hash, parameters stored beside the
 * hash so they can be raised later without invalidating existing passwords, and a constant-time comparison.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** N = 2^16, r = 8: 64 MiB and ~0.1–0.3 s per hash; above OWASP's scrypt floor (N = 2^15 at r = 8). */
const N = 1 << 16;
const R = 8;
const P = 1;
const KEY_BYTES = 32;
const SALT_BYTES = 16;

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 1024;

function derive(password: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  const opts: ScryptOptions = { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_BYTES, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** "scrypt$N$r$p$salt$hash" (base64url). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, N, R, P);
  return ['scrypt', N, R, P, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** A hash no password matches, verified anyway so that an unknown user costs the same time as a wrong password. */
const DUMMY = `scrypt$${N}$${R}$${P}$${Buffer.alloc(SALT_BYTES).toString('base64url')}$${Buffer.alloc(KEY_BYTES).toString('base64url')}`;

/** False for a wrong password, a malformed hash, or no hash at all (an account without a usable password). */
export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  const parts = (stored ?? DUMMY).split('$');
  const [kind, n, r, p, salt, hash] = parts;
  if (parts.length !== 6 || kind !== 'scrypt') return false;
  const cost = [Number(n), Number(r), Number(p)] as const;
  // Bounded so that a tampered record cannot make a login allocate gigabytes.
  if (!cost.every((x) => Number.isSafeInteger(x) && x > 0) || cost[0] > 1 << 18 || cost[1] > 32 || cost[2] > 16) return false;
  const expected = Buffer.from(hash!, 'base64url');
  const actual = await derive(password, Buffer.from(salt!, 'base64url'), ...cost);
  return stored !== undefined && expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Undefined when acceptable, else the reason shown to the user. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < PASSWORD_MIN_LENGTH) return `The password must have at least ${PASSWORD_MIN_LENGTH} characters.`;
  if (password.length > PASSWORD_MAX_LENGTH) return `The password must have at most ${PASSWORD_MAX_LENGTH} characters.`;
  return undefined;
}
