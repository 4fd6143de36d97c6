/**
 * portcullis vault: the encrypted credential vault that ${secret:NAME} references read (docs/vault.md).
 *
 *   vault init                      create the key file (32 random bytes, mode 0600) unless it exists
 *   vault set NAME                  the value from stdin (or, on a terminal, asked without echo),
 *             [--from-env VAR | --from-file F]   never from the command line, which ps and shell history keep
 *   vault list                      names, key id, created/updated; never values
 *   vault rm NAME
 *   vault rotate                    new key-encryption key, every data key re-wrapped, old key retired
 *
 * Values are never printed, and no message quotes one.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { openStorage } from '../storage/index.js';
import { openAdminAudit, type AdminAudit } from '../audit/admin.js';
import type { GatewayConfig } from '../config/types.js';
import { isVaultError } from '../vault/errors.js';
import { KeyFileProvider, keyProviderFor, VAULT_KEY_ENV, type KeyProvider } from '../vault/keyProviders.js';
import { Vault } from '../vault/vault.js';
import { loadCliConfig } from './config.js';
import { UsageError } from './usage.js';

const SUBCOMMANDS = ['init', 'set', 'list', 'rm', 'rotate'] as const;
type Sub = (typeof SUBCOMMANDS)[number];

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      'from-env': { type: 'string' },
      'from-file': { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [sub, name, ...rest] = positionals;
  if (!(SUBCOMMANDS as readonly string[]).includes(sub ?? '')) throw new UsageError(`choose one of: ${SUBCOMMANDS.join(', ')}`);
  // A value typed after the name would already be in ps output and shell history; say so rather than "unexpected argument".
  if (sub === 'set' && rest.length) {
    throw new UsageError('vault set never takes the value on the command line (ps and shell history would keep it): pipe it on stdin, or use --from-env VAR or --from-file FILE');
  }
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const needsName = sub === 'set' || sub === 'rm';
  if (needsName && !name) throw new UsageError(`vault ${sub} needs a secret name`);
  if (!needsName && name) throw new UsageError(`vault ${sub} takes no secret name`);
  if (sub !== 'set' && (values['from-env'] !== undefined || values['from-file'] !== undefined)) throw new UsageError('--from-env and --from-file are only for vault set');
  if (values['from-env'] !== undefined && values['from-file'] !== undefined) throw new UsageError('give --from-env or --from-file, not both');

  const config = await loadCliConfig(values.config);
  try {
    return await runSub(config, sub as Sub, name ?? '', values['from-env'], values['from-file']);
  } catch (e) {
    if (isVaultError(e)) {
      process.stderr.write(`portcullis vault: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

async function runSub(config: GatewayConfig, sub: Sub, name: string, fromEnv: string | undefined, fromFile: string | undefined): Promise<number> {
  const provider = keyProviderFor({ dataDir: config.server.dataDir, keyFile: config.vault.keyFile });
  if (sub === 'init') {
    if (!(provider instanceof KeyFileProvider)) {
      process.stdout.write(`the vault key comes from ${VAULT_KEY_ENV}: there is no key file to create\n`);
      return 0;
    }
    const created = provider.init();
    process.stdout.write(created
      ? `created the vault key ${provider.path} (mode 0600, key ${await provider.currentKekId()})\nBack it up: without it the vault's secrets cannot be read.\n`
      : `the vault key ${provider.path} exists (key ${await provider.currentKekId()}); nothing changed\n`);
    return 0;
  }
  return runOnStorage(config, provider, sub, name, fromEnv, fromFile);
}

async function runOnStorage(config: GatewayConfig, provider: KeyProvider, sub: Exclude<Sub, 'init'>, name: string, fromEnv: string | undefined, fromFile: string | undefined): Promise<number> {
  if (config.storage.driver === 'memory') {
    throw new Error('storage.driver is "memory": secrets would vanish when this command exits. Configure sqlite, postgres or redis.');
  }
  // Read before opening storage, so a mistyped variable or file costs no connection.
  const value = sub === 'set' ? await readValue(fromEnv, fromFile) : undefined;
  if (sub === 'set' && provider instanceof KeyFileProvider && provider.init()) {
    process.stderr.write(`created the vault key ${provider.path} (mode 0600); back it up: without it the vault's secrets cannot be read\n`);
  }
  // Changes are recorded in the audit log (by name and key id, never value), which is opened first: a change
  // that cannot be recorded is not made.
  const audit: AdminAudit | undefined = sub === 'list' ? undefined : await openAdminAudit(config);
  const storage = await openStorage(config.storage, { replayEvents: config.sessions.replayEvents });
  try {
    const vault = new Vault(storage.records, provider);
    switch (sub) {
      case 'set': {
        const { created } = await vault.set(name, value!);
        await audit?.record('vault.set', { secret: name, created });
        process.stdout.write(`${created ? 'stored' : 'replaced'} secret "${name}" (reference it as \${secret:${name}}; running gateways read it on their next reload)\n`);
        return 0;
      }
      case 'list': {
        const all = await vault.list();
        if (all.length === 0) {
          process.stdout.write('no secrets\n');
          return 0;
        }
        const rows = [['NAME', 'KEY', 'CREATED', 'UPDATED'], ...all.map((s) => [s.name, s.kek, iso(s.createdAt), iso(s.updatedAt)])];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        for (const r of rows) process.stdout.write(`${r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]!) : c)).join('  ')}\n`);
        return 0;
      }
      case 'rm': {
        if (!(await vault.remove(name))) {
          process.stderr.write(`portcullis vault: no secret "${name}"\n`);
          return 1;
        }
        await audit?.record('vault.rm', { secret: name });
        process.stdout.write(`removed secret "${name}"\n`);
        return 0;
      }
      case 'rotate': {
        const r = await vault.rotate();
        await audit?.record('vault.rotate', { kek: r.kek, rewrapped: r.rewrapped, retired: r.retired });
        process.stdout.write(`rotated: ${r.rewrapped} data key${r.rewrapped === 1 ? '' : 's'} re-wrapped with key ${r.kek}`
          + (r.retired.length ? `; retired ${r.retired.join(', ')}\n` : '\n'));
        if (!r.retired.length && !(provider instanceof KeyFileProvider)) {
          process.stdout.write(`Every secret now uses ${VAULT_KEY_ENV}; ${VAULT_KEY_ENV}_PREVIOUS can be removed.\n`);
        }
        return 0;
      }
      default: {
        const unknown: never = sub;
        throw new Error(`unknown vault command ${String(unknown)}`);
      }
    }
  } finally {
    await Promise.all([storage.close(), audit?.close()]);
  }
}

async function readValue(fromEnv: string | undefined, fromFile: string | undefined): Promise<string> {
  if (fromEnv !== undefined) {
    const v = process.env[fromEnv];
    if (!v) throw new UsageError(`environment variable ${fromEnv} is not set or empty`);
    return v;
  }
  if (fromFile !== undefined) {
    // A file's final newline is the end of its line, not part of the value (as with echo ... > file).
    return stripNewline(await readFile(fromFile, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot read ${fromFile} (${e.code ?? e.message})`);
    }));
  }
  if (process.stdin.isTTY) {
    // Loaded only here: user.ts brings the authorization server's modules.
    const { askHidden } = await import('./user.js');
    return stripNewline(await askHidden('Secret value: '));
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return stripNewline(Buffer.concat(chunks).toString('utf8'));
}

function stripNewline(s: string): string {
  const v = s.replace(/\r?\n$/, '');
  if (!v) throw new UsageError('the value is empty');
  return v;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
