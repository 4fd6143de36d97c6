/**
 * `portcullis user`: accounts of the built-in authorization server in the configured (SQLite) storage.
 *
 *   node --import tsx --test test/identity.authServer.cli.test.ts
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createUserDirectory } from '../src/identity/authServer/users.js';
import { openStorage } from '../src/storage/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'portcullis.js');
const ENV = { ...process.env, PORTCULLIS_FROM_SOURCE: '1', PORTCULLIS_LOG_LEVEL: 'silent' };

function cli(dir: string, args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args, '--config', join(dir, 'p.yaml')], { cwd: dir, env: ENV, encoding: 'utf8', timeout: 30_000, input: input ?? '' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('portcullis user', () => {
  it('adds, lists, changes the password of and removes accounts; never prints a password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-user-'));
    const db = join(dir, 'portcullis.db');
    writeFileSync(join(dir, 'p.yaml'), `server: { dataDir: ${JSON.stringify(dir)} }\nstorage: { driver: sqlite, sqlite: { path: ${JSON.stringify(db)} } }\nupstreams:\n  fs:\n    transport: stdio\n    command: node\n`);
    const first = 'the first long password';
    const second = 'the second long password';

    const add = cli(dir, ['user', 'add', 'Alice', '--groups', 'admin,Approver', '--password-stdin'], `${first}\n`);
    assert.equal(add.status, 0, add.stderr);
    assert.equal(add.stdout, 'added alice (groups: admin, approver)\n');
    assert.equal(cli(dir, ['user', 'add', 'alice', '--password-stdin'], `${first}\n`).status, 1, 'a taken name');
    const noTerminal = cli(dir, ['user', 'add', 'bob']);
    assert.equal(noTerminal.status, 2);
    assert.match(noTerminal.stderr, /--password-stdin/);
    assert.match(cli(dir, ['user', 'add', 'bob', '--password-stdin'], 'short\n').stderr, /at least 12 characters/);

    const list = cli(dir, ['user', 'list']);
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^NAME\s+GROUPS\s+PASSWORD\s+CREATED\nalice\s+admin,approver\s+set\s+\d{4}-/);

    const passwd = cli(dir, ['user', 'passwd', 'alice', '--password-stdin'], `${second}\n`);
    assert.equal(passwd.status, 0, passwd.stderr);
    for (const r of [add, list, passwd]) assert.doesNotMatch(r.stdout + r.stderr, /long password/);

    const storage = await openStorage({ driver: 'sqlite', sqlite: { path: db } }, { replayEvents: 16 });
    try {
      const users = createUserDirectory(storage.records);
      assert.equal(await users.verify('alice', first), undefined);
      assert.equal((await users.verify('alice', second))?.username, 'alice');
    } finally {
      await storage.close();
    }

    assert.equal(cli(dir, ['user', 'remove', 'alice']).status, 0);
    assert.equal(cli(dir, ['user', 'remove', 'alice']).status, 1);
    assert.equal(cli(dir, ['user', 'list']).stdout, 'no users\n');
    assert.equal(cli(dir, ['user', 'frobnicate']).status, 2);
  });

  it('refuses the memory storage driver, whose accounts would vanish', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-user-'));
    writeFileSync(join(dir, 'p.yaml'), 'storage: { driver: memory }\nupstreams:\n  fs:\n    transport: stdio\n    command: node\n');
    const r = cli(dir, ['user', 'list']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /memory/);
  });
});
