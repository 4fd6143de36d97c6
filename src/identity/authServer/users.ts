/**
 * Local accounts of the built-in authorization server: a name, groups, and an scrypt password hash, kept in the
 * RecordStore. The account id (the token's `sub`) is the user name. Roles are derived from groups.
 *
 * Removing an account, or changing its password, ends everything issued to it: every record tagged with its
 * account id (sessions, grants, tokens, consents, setup links) is deleted, so its grants read as revoked.
 */
import type { RecordStore } from '../../storage/types.js';
import { hashPassword, passwordProblem, verifyPassword } from './password.js';

export const USERS_NS = 'oauth:users';

const USERNAME = /^[a-z0-9][a-z0-9._@-]{0,63}$/;
const GROUP = /^[a-z0-9][a-z0-9._:-]{0,63}$/;

export interface UserInfo {
  username: string;
  groups: string[];
  roles: string[];
  /** False until a password is set (e.g. the first admin before the setup link is used). */
  hasPassword: boolean;
  createdAt: number;
}

export interface UserDirectory {
  /** Creates an account; without a password it cannot sign in until one is set. */
  add(username: string, opts?: { groups?: readonly string[]; password?: string }): Promise<UserInfo>;
  get(username: string): Promise<UserInfo | undefined>;
  list(): Promise<UserInfo[]>;
  /** Deletes the account and revokes its sessions, grants and tokens; false when there was none. */
  remove(username: string): Promise<boolean>;
  /** Sets the password and signs the account out everywhere (its grants are revoked). */
  setPassword(username: string, password: string): Promise<void>;
  setGroups(username: string, groups: readonly string[]): Promise<void>;
  /** The account when the password is right; undefined otherwise (same time either way). */
  verify(username: string, password: string): Promise<UserInfo | undefined>;
}

export class UserError extends Error {
  override name = 'UserError';
}

interface Stored {
  username: string;
  groups: string[];
  createdAt: number;
  passwordHash?: string;
  passwordSetAt?: number;
}

/** Roles are the account's groups: "admin" and "approver" are both a group and the role policy rules match on. */
export function rolesFor(groups: readonly string[]): string[] {
  return [...new Set(groups)].sort();
}

/** Lower-cases and checks a user name; throws UserError when it cannot be one. */
export function normaliseUsername(name: string): string {
  const n = name.trim().toLowerCase();
  if (!USERNAME.test(n)) throw new UserError(`invalid user name "${name}": use 1-64 of a-z 0-9 . _ @ - (starting with a letter or digit)`);
  return n;
}

export function normaliseGroups(groups: readonly string[]): string[] {
  const out = [...new Set(groups.map((g) => g.trim().toLowerCase()).filter((g) => g !== ''))].sort();
  for (const g of out) if (!GROUP.test(g)) throw new UserError(`invalid group name "${g}": use 1-64 of a-z 0-9 . _ : -`);
  return out;
}

function info(s: Stored): UserInfo {
  return { username: s.username, groups: [...s.groups], roles: rolesFor(s.groups), hasPassword: s.passwordHash !== undefined, createdAt: s.createdAt };
}

export function createUserDirectory(records: RecordStore, now: () => number = Date.now): UserDirectory {
  const load = async (username: string): Promise<Stored | undefined> => (await records.get(USERS_NS, username)) as Stored | undefined;
  const save = (s: Stored) => records.put(USERS_NS, s.username, { ...s });
  const must = async (name: string): Promise<Stored> => {
    const s = await load(normaliseUsername(name));
    if (!s) throw new UserError(`no user "${name}"`);
    return s;
  };
  const checkedHash = async (password: string): Promise<string> => {
    const problem = passwordProblem(password);
    if (problem) throw new UserError(problem);
    return hashPassword(password);
  };

  return {
    async add(name, opts = {}) {
      const username = normaliseUsername(name);
      const groups = normaliseGroups(opts.groups ?? []);
      if (await load(username)) throw new UserError(`user "${username}" already exists`);
      const s: Stored = { username, groups, createdAt: now() };
      if (opts.password !== undefined) {
        s.passwordHash = await checkedHash(opts.password);
        s.passwordSetAt = now();
      }
      await save(s);
      return info(s);
    },
    async get(name) {
      let username: string;
      try { username = normaliseUsername(name); } catch { return undefined; }
      const s = await load(username);
      return s && info(s);
    },
    async list() {
      return (await records.list(USERS_NS)).map((r) => info(r.value as unknown as Stored));
    },
    async remove(name) {
      const username = normaliseUsername(name);
      const existed = await records.delete(USERS_NS, username);
      await records.deleteByTag('accountId', username);
      return existed;
    },
    async setPassword(name, password) {
      const s = await must(name);
      s.passwordHash = await checkedHash(password);
      s.passwordSetAt = now();
      await save(s);
      await records.deleteByTag('accountId', s.username);
    },
    async setGroups(name, groups) {
      const s = await must(name);
      s.groups = normaliseGroups(groups);
      await save(s);
    },
    async verify(name, password) {
      let username: string | undefined;
      try { username = normaliseUsername(name); } catch { username = undefined; }
      const s = username === undefined ? undefined : await load(username);
      // Always one scrypt run, so the time does not tell whether the account exists.
      const ok = await verifyPassword(password, s?.passwordHash);
      return ok && s ? info(s) : undefined;
    },
  };
}
