/**
 * The policy on the command line: `portcullis policy explain` and `portcullis policy test` against a
 * configuration (and the table beside it), the warnings `serve` and `stdio` print when the policy lets nobody use
 * anything, and the starter configuration's explicit policy (administrators and the local principal).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../src/config/load.js';
import { STARTER_CONFIG } from '../src/config/starter.js';
import { configPolicy } from '../src/config/policy.js';
import { LOCAL_PRINCIPAL } from '../src/pipeline/stages/authenticate.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'portcullis.js');
const ENV = { ...process.env, PORTCULLIS_FROM_SOURCE: '1', PORTCULLIS_LOG_LEVEL: 'silent' };
const cli = (args: string[], cwd = ROOT) => {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env: ENV, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

const CONFIG = `auth: { mode: none }
storage: { driver: memory }
upstreams:
  filesystem:
    transport: stdio
    command: unused
    tags: [files]
    tools:
      write_file: { annotations: { readOnlyHint: false, destructiveHint: true } }
      read_text_file: { annotations: { readOnlyHint: true } }
policy:
  roles:
    analyst:
      allow:
        - id: analyst-reads
          tools: [filesystem/read_text_file]
          args: { path: { under: /srv/reports } }
    ops:
      allow:
        - servers: [filesystem]
      approval:
        - id: ops-destructive
          description: destructive tools wait for a second pair of eyes
          destructive: true
`;

const TABLE = `principals:
  alice: { subject: alice, roles: [analyst] }
  olga: { subject: olga, roles: [ops] }
cases:
  - name: analysts read reports
    principal: alice
    tool: filesystem/read_text_file
    args: { path: /srv/reports/q1.txt }
    expect: allow
    rules: [analyst-reads]
  - name: no escaping the folder
    principal: alice
    tool: filesystem/read_text_file
    args: { path: /srv/reports/../../etc/passwd }
    expect: deny
  - name: ops writes wait for approval (the configured annotations say write_file is destructive)
    principal: olga
    tool: filesystem/write_file
    args: { path: /tmp/x }
    expect: approval
`;

function project(table = TABLE): string {
  const dir = mkdtempSync(join(tmpdir(), 'pc-cli-policy-'));
  writeFileSync(join(dir, 'portcullis.yaml'), CONFIG);
  writeFileSync(join(dir, 'policy-tests.yaml'), table);
  return dir;
}

describe('portcullis policy explain', () => {
  it('prints the decision and the rules behind it', () => {
    const dir = project();
    const r = cli(['policy', 'explain', '--principal', 'subject=alice,role=analyst', '--tool', 'filesystem/read_text_file', '--args', '{"path":"/srv/reports/../x"}'], dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^decision: DENY \(no rule allows\)\n/);
    assert.match(r.stdout, /analyst-reads\s+no match\s+argument 'path': path "\/srv\/reports\/\.\.\/x" contains a "\.\." segment/);
    const ok = cli(['policy', 'explain', '-c', join(dir, 'portcullis.yaml'), '-p', 'subject=olga,role=ops', '--tool', 'filesystem/write_file']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^decision: APPROVAL \(approval required by "ops-destructive"/, 'the annotations come from the configuration');
    assert.match(ok.stdout, /\[readOnlyHint=false destructiveHint=true tags=files\]/);
  });

  it('explains whether an item is shown, and refuses bad arguments with exit 2', () => {
    const dir = project();
    const shown = cli(['policy', 'explain', '-p', 'subject=alice,role=analyst', '--tool', 'filesystem/read_text_file', '--action', 'list'], dir);
    assert.match(shown.stdout, /^decision: ALLOW/);
    const bad = cli(['policy', 'explain', '-p', 'subject=alice', '--tool', 'filesystem/x', '--args', 'not json'], dir);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--args must be a JSON object/);
    const usage = cli(['policy', 'explain', '--tool', 'x/y'], dir);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /--principal is required/);
    assert.equal(cli(['policy', 'frobnicate'], dir).status, 2);
  });
});

describe('portcullis policy test', () => {
  it('runs the table beside the configuration; exit 0 when every case passes', () => {
    const r = cli(['policy', 'test'], project());
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok +1 analysts read reports/m);
    assert.match(r.stdout, /3 passed/);
  });

  it('exits 1 when a case fails, 2 when the table is invalid', () => {
    const failing = cli(['policy', 'test'], project(TABLE.replace('expect: deny', 'expect: allow')));
    assert.equal(failing.status, 1);
    assert.match(failing.stdout, /FAIL +2 no escaping the folder/);
    const dir = project();
    writeFileSync(join(dir, 'broken.yaml'), 'cases:\n  - principal: nobody\n    tool: filesystem/x\n    expect: maybe\n');
    const invalid = cli(['policy', 'test', 'broken.yaml'], dir);
    assert.equal(invalid.status, 2);
    assert.match(invalid.stderr, /broken\.yaml:/);
  });
});

describe('default deny: warnings and the starter policy', () => {
  it('serve warns when the policy allows nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-cli-warn-'));
    writeFileSync(join(dir, 'portcullis.yaml'), 'auth: { mode: none }\nstorage: { driver: memory }\n');
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { cwd: dir, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no warning: ${stdout}`)), 20_000);
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (stdout.includes('Warning')) { clearTimeout(timer); resolve(); }
        });
      });
      assert.match(stdout, /Warning: the policy allows nothing \(no "policy:" section, or no allow rule\)/);
    } finally {
      child.kill('SIGINT');
      await exited;
    }
  });

  it('stdio warns on stderr when the local principal may use nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-cli-warn-'));
    writeFileSync(join(dir, 'portcullis.yaml'), `storage: { driver: memory }
upstreams:
  fx: { transport: stdio, command: ${JSON.stringify(process.execPath)}, args: ["-e", "setInterval(() => {}, 1000)"] }
policy:
  rules: [{ effect: allow, principals: { roles: [admin] } }]
`);
    const r = spawnSync(process.execPath, [BIN, 'stdio'], { cwd: dir, env: ENV, encoding: 'utf8', input: '', timeout: 30_000 });
    assert.match(r.stderr, /Warning: every caller is the local principal here \(no authentication\), and the policy allows it nothing/);
    assert.equal(r.stdout, '', 'stdout carries JSON-RPC only');
  });

  it('the starter configuration grants administrators and the local principal everything, and no one else anything', () => {
    const config = parseConfig(STARTER_CONFIG, { source: 'starter', env: {} });
    const policy = configPolicy(config);
    const ctx = { time: new Date(), era: 'modern' as const, endpoint: 'default' };
    const tool = { kind: 'tool' as const, server: 'filesystem', name: 'write_file', annotations: { destructiveHint: true } };
    const who = (p: Partial<typeof LOCAL_PRINCIPAL>) => ({ ...LOCAL_PRINCIPAL, subject: 'u', method: 'bearer' as const, ...p });
    assert.equal(policy.decide(LOCAL_PRINCIPAL, 'call', tool, ctx).outcome, 'allow');
    assert.equal(policy.decide(who({ roles: ['admin'], groups: ['admin'] }), 'call', tool, ctx).outcome, 'allow');
    assert.equal(policy.decide(who({ groups: ['admin'] }), 'call', { ...tool, server: 'memory' }, ctx).outcome, 'allow');
    assert.equal(policy.decide(who({ roles: ['staff'] }), 'list', { kind: 'server', server: 'filesystem' }, ctx).outcome, 'deny');
  });
});
