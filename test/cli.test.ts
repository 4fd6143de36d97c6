import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'portcullis.js');
// Run the TypeScript source even if a build exists, so the tests never exercise a stale dist/.
const ENV = { ...process.env, PORTCULLIS_FROM_SOURCE: '1', PORTCULLIS_LOG_LEVEL: 'silent' };

function cli(args: string[], cwd = ROOT): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env: ENV, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'pc-cli-'));
}

describe('portcullis check', () => {
  it('accepts a valid file', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'good.yaml'), 'upstreams:\n  fs:\n    transport: stdio\n    command: node\n');
    const r = cli(['check', '--config', join(dir, 'good.yaml')]);
    assert.equal(r.status, 0, r.stderr);
    // Then what the sandbox can do here (test/sandbox.*.test.ts checks those lines).
    assert.match(r.stdout, /^ok: 1 upstreams, 0 virtual servers\nsandbox: bubblewrap: /);
  });

  it('prints every problem as file:line:col path: message and exits 1', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'bad.yaml'),
      'upstreams:\n  fs:\n    transport: stdio\n    comand: node\n  web:\n    transport: htp\n    url: https://x\n',
    );
    const r = cli(['check', '--config', 'bad.yaml'], dir);
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    assert.equal(
      r.stderr,
      'bad.yaml:2:3 upstreams.fs.command: required key is missing\n' +
        'bad.yaml:4:5 upstreams.fs.comand: unknown key (did you mean "command"?)\n' +
        'bad.yaml:6:16 upstreams.web.transport: must be one of stdio, http, sse (got "htp")\n',
    );
  });

  it('explains how to create a missing config', () => {
    const r = cli(['check'], tempDir());
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no configuration at portcullis\.yaml: create one with "portcullis init"/);
  });
});

describe('portcullis init', () => {
  it('writes a starter that check accepts, and never overwrites it without --force', () => {
    const dir = join(tempDir(), 'project');
    const r = cli(['init', '--dir', dir]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(existsSync(join(dir, 'sample', 'README.txt')));
    assert.ok(existsSync(join(dir, 'portcullis.schema.json')));
    const config = readFileSync(join(dir, 'portcullis.yaml'), 'utf8');
    assert.ok(config.startsWith('# yaml-language-server: $schema=./portcullis.schema.json'));

    const check = cli(['check'], dir);
    assert.equal(check.status, 0, check.stderr);
    assert.match(check.stdout, /^ok: 2 upstreams, 1 virtual servers\nsandbox: bubblewrap: /);
    assert.doesNotMatch(check.stdout, /REFUSED/);

    writeFileSync(join(dir, 'portcullis.yaml'), '# mine\n');
    const again = cli(['init', '--dir', dir]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already exists \(use --force/);
    assert.equal(readFileSync(join(dir, 'portcullis.yaml'), 'utf8'), '# mine\n');

    assert.equal(cli(['init', '--dir', dir, '--force']).status, 0);
    assert.equal(readFileSync(join(dir, 'portcullis.yaml'), 'utf8'), config);
  });
});

describe('portcullis (usage)', () => {
  it('prints help and version', () => {
    const help = cli(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage: portcullis <command>/);
    assert.match(cli(['check', '--help']).stdout, /Usage: portcullis check/);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(cli(['--version']).stdout, `portcullis ${pkg.version}\n`);
  });

  it('exits 2 on usage errors', () => {
    const unknown = cli(['chek']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command "chek" \(did you mean "check"\?\)/);
    assert.equal(cli(['check', '--nope']).status, 2);
    assert.equal(cli([]).status, 2);
    assert.equal(cli(['stdio', '--server', 'a', '--virtual', 'b']).status, 2);
  });
});

describe('portcullis serve', () => {
  it('refuses a non-loopback --host without authentication', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'portcullis.yaml'), 'auth: {mode: none}\n');
    const r = cli(['serve', '--host', '0.0.0.0'], dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^portcullis\.yaml server\.host: binding to "0\.0\.0\.0" .* \(from --host\)\n$/);
    // With authentication on (the default), tokens must not cross a network in clear.
    writeFileSync(join(dir, 'portcullis.yaml'), '');
    const tls = cli(['serve', '--host', '0.0.0.0'], dir);
    assert.equal(tls.status, 1);
    assert.match(tls.stderr, /server\.tls: serving OAuth on "0\.0\.0\.0" without TLS/);
  });

  it('explains how to create a missing config', () => {
    const r = cli(['serve'], tempDir());
    assert.equal(r.status, 1);
    assert.match(r.stderr, /portcullis init/);
  });

  const gatewayPresent = existsSync(join(ROOT, 'src/gateway.ts')) && existsSync(join(ROOT, 'src/transport/http/server.ts'));
  it('prints the URL, then closes gracefully on SIGINT', { skip: gatewayPresent ? false : 'gateway not written yet' }, async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'portcullis.yaml'), 'storage: {driver: memory}\n');
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { cwd: dir, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const printed = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed; stderr: ${stderr}`)), 20_000);
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('\n')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`exited early; stderr: ${stderr}`)));
    });
    await printed.catch((e: unknown) => {
      child.kill('SIGKILL');
      throw e;
    });
    try {
      assert.match(stdout, /^Portcullis listening: http:\/\/127\.0\.0\.1:\d+\S*\n/);
    } finally {
      child.kill('SIGINT');
    }
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const code = await exited;
    clearTimeout(killer);
    assert.equal(code, 0, `graceful close failed; stderr: ${stderr}`);
  });
});
