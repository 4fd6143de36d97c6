/**
 * portcullis user: local accounts of the built-in authorization server, in the configured storage.
 *
 *   user add NAME [--groups a,b] [--password-stdin]   (without --password-stdin: asks twice on the terminal)
 *   user list
 *   user remove NAME                                  (also revokes its sessions, grants and tokens)
 *   user passwd NAME [--password-stdin]               (also signs it out everywhere)
 *   user consents NAME                                (the clients it has approved)
 *   user revoke NAME --client ID                      (forgets that consent and revokes the client's grants)
 *
 * Passwords are read from the terminal without echo, or from stdin; they are never printed or logged.
 */
import { parseArgs } from 'node:util';
import { openStorage } from '../storage/index.js';
import { openAdminAudit, type AdminAudit } from '../audit/admin.js';
import type { Storage } from '../storage/types.js';
import { createUserDirectory, UserError, type UserDirectory } from '../identity/authServer/users.js';
import { ConsentStore } from '../identity/authServer/consent.js';
import { loadCliConfig } from './config.js';
import { UsageError } from './usage.js';

const SUBCOMMANDS = ['add', 'list', 'remove', 'passwd', 'consents', 'revoke'] as const;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      groups: { type: 'string', short: 'g' },
      'password-stdin': { type: 'boolean', default: false },
      client: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [sub, name, ...rest] = positionals;
  if (!(SUBCOMMANDS as readonly string[]).includes(sub ?? '')) throw new UsageError(`choose one of: ${SUBCOMMANDS.join(', ')}`);
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (sub !== 'list' && !name) throw new UsageError(`user ${sub} needs a user name`);
  if (sub === 'list' && name) throw new UsageError('user list takes no user name');
  if (values.groups !== undefined && sub !== 'add') throw new UsageError('--groups is only for user add');
  if ((values.client !== undefined) !== (sub === 'revoke')) throw new UsageError('user revoke needs --client ID (and only it takes --client)');

  const config = await loadCliConfig(values.config);
  if (config.storage.driver === 'memory') {
    throw new Error('storage.driver is "memory": accounts would vanish when this command exits. Configure sqlite, postgres or redis.');
  }
  const storage: Storage = await openStorage(config.storage, { replayEvents: config.sessions.replayEvents });
  // Changes are recorded in the audit log (opened first: a change that cannot be recorded is not made).
  let audit: AdminAudit | undefined;
  try {
    if (sub !== 'list' && sub !== 'consents') audit = await openAdminAudit(config);
    const users = createUserDirectory(storage.records);
    const code = sub === 'consents' || sub === 'revoke'
      ? await runConsent(storage, users, sub, name!, values.client)
      : await runSub(users, sub as Exclude<(typeof SUBCOMMANDS)[number], 'consents' | 'revoke'>, name ?? '', values.groups, values['password-stdin']);
    if (code === 0) await audit?.record(`user.${sub}`, { user: name!.trim().toLowerCase(), groups: values.groups, client: values.client });
    return code;
  } catch (e) {
    if (e instanceof UserError) {
      process.stderr.write(`portcullis user: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    await audit?.close();
    await storage.close();
  }
}

/** Consents live in the same storage: a running gateway refuses the revoked grants' tokens within a second. */
async function runConsent(storage: Storage, users: UserDirectory, sub: 'consents' | 'revoke', name: string, client: string | undefined): Promise<number> {
  const user = await users.get(name);
  if (!user) throw new UserError(`no user "${name}"`);
  const consents = new ConsentStore(storage.records, 1);
  if (sub === 'consents') {
    const all = await consents.list(user.username);
    if (all.length === 0) process.stdout.write('no consents\n');
    for (const c of all) process.stdout.write(`${c.clientId}  ${Object.keys(c.resources).join(' ')}  (${new Date(c.updatedAt).toISOString()})\n`);
    return 0;
  }
  const revoked = await consents.revoke(user.username, client!);
  process.stdout.write(`revoked the consent of ${user.username} for ${client} (${revoked} grant${revoked === 1 ? '' : 's'} revoked)\n`);
  return 0;
}

async function runSub(users: UserDirectory, sub: Exclude<(typeof SUBCOMMANDS)[number], 'consents' | 'revoke'>, name: string, groups: string | undefined, fromStdin: boolean): Promise<number> {
  switch (sub) {
    case 'add': {
      // Checked before asking for a password, so a taken name does not cost a typed password.
      if (await users.get(name)) throw new UserError(`user "${name}" already exists`);
      const password = await readPassword(fromStdin);
      const u = await users.add(name, { groups: groups ? groups.split(',') : [], password });
      process.stdout.write(`added ${u.username}${u.groups.length ? ` (groups: ${u.groups.join(', ')})` : ''}\n`);
      return 0;
    }
    case 'list': {
      const all = await users.list();
      if (all.length === 0) {
        process.stdout.write('no users\n');
        return 0;
      }
      const rows = [['NAME', 'GROUPS', 'PASSWORD', 'CREATED'], ...all.map((u) => [u.username, u.groups.join(',') || '-', u.hasPassword ? 'set' : 'not set', new Date(u.createdAt).toISOString()])];
      const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
      for (const r of rows) process.stdout.write(`${r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]!) : c)).join('  ')}\n`);
      return 0;
    }
    case 'remove': {
      if (!(await users.remove(name))) throw new UserError(`no user "${name}"`);
      process.stdout.write(`removed ${name.trim().toLowerCase()} (its sessions, grants and tokens are revoked)\n`);
      return 0;
    }
    case 'passwd': {
      if (!(await users.get(name))) throw new UserError(`no user "${name}"`);
      await users.setPassword(name, await readPassword(fromStdin));
      process.stdout.write(`password changed for ${name.trim().toLowerCase()} (signed out everywhere)\n`);
      return 0;
    }
  }
}

async function readPassword(fromStdin: boolean): Promise<string> {
  if (fromStdin) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    // One trailing newline is the end of the line, not part of the password.
    return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  }
  if (!process.stdin.isTTY) throw new UsageError('no terminal to ask for the password: pass it on stdin with --password-stdin');
  const first = await askHidden('Password: ');
  const second = await askHidden('Repeat password: ');
  if (first !== second) throw new UserError('the two passwords differ');
  return first;
}

/** Reads a line from the terminal without echoing it. */
export function askHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  let value = '';
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err); else resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new UserError('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}
