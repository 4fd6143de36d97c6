/**
 * End to end with the real CLI: a gateway under concurrent load is killed with SIGKILL; every call that got a
 * response is in the log and `portcullis audit verify` passes, with each commit synced (the default durability) and
 * with durability "process-crash" (commits written, not synced: what a kill -9 must not be able to undo). Then the audit commands: export with filters, an
 * admin record written by another command, checkpoints exported and verified against, and tampering detected.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ROOT } from './support/gateway.js';

const BIN = join(ROOT, 'bin', 'portcullis.js');
const ENV = { ...process.env, PORTCULLIS_FROM_SOURCE: '1', PORTCULLIS_LOG_LEVEL: 'warn' };
const dir = mkdtempSync(join(tmpdir(), 'pc-audit-crash-'));
const unsyncedDir = mkdtempSync(join(tmpdir(), 'pc-audit-crash-unsynced-'));
const children: ChildProcess[] = [];

function cliIn(d: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args, '--config', join(d, 'portcullis.yaml')], { cwd: d, env: ENV, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const cli = (...args: string[]) => cliIn(dir, ...args);

function waitFor(child: ChildProcess, pattern: RegExp, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${out} ${err}`)), 60_000);
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited (${code}): ${err}`)); });
  });
}

function recordsIn(d: string, ...filters: string[]): Array<Record<string, any>> {
  const r = cliIn(d, 'audit', 'export', ...filters);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}
const records = (...filters: string[]) => recordsIn(dir, ...filters);

let acked: string[] = [];
let attempted = 0;
let unsynced: { acked: string[]; attempted: number };

before(async () => {
  const echo = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/targets/raw-mcp-echo.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(echo);
  const echoUrl = await waitFor(echo, /READY (\S+)/, 'echo upstream');
  ({ acked, attempted } = await killUnderLoad(dir, echoUrl, '{ checkpointRecords: 100 }'));
  unsynced = await killUnderLoad(unsyncedDir, echoUrl, '{ checkpointRecords: 100, durability: process-crash }');
});

/** Starts a gateway in `d` with this audit section, loads it from 16 clients and kills it with SIGKILL mid-load. */
async function killUnderLoad(d: string, echoUrl: string, audit: string): Promise<{ acked: string[]; attempted: number }> {
  let attempted = 0;
  const acked: string[] = [];
  writeFileSync(join(d, 'portcullis.yaml'), `server: { port: 0, dataDir: ./data }
auth: { mode: none }
policy: { rules: [{ id: allow-all, effect: allow }] }
audit: ${audit}
upstreams:
  echo: { transport: http, url: ${JSON.stringify(echoUrl)}, integrity: { unapproved: warn } }
`);
  const gw = spawn(process.execPath, [BIN, 'serve', '--config', join(d, 'portcullis.yaml')], { cwd: d, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(gw);
  const url = await waitFor(gw, /Portcullis listening: (\S+)/, 'gateway');
  const exited = new Promise((r) => gw.once('exit', r));

  // Load from 16 concurrent clients; an id counts as acknowledged once its successful response has arrived.
  let stop = false;
  const worker = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const id = `c-${w}-${i}`;
      attempted++;
      try {
        const res = await fetch(`${url}/servers/echo/mcp`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
          body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: id }, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } }),
        });
        const body = await res.json() as { result?: { content?: Array<{ text: string }> } };
        if (body.result?.content?.[0]?.text?.includes(id)) acked.push(id);
        else if (!stop) throw new Error(`unexpected answer ${JSON.stringify(body)}`);
      } catch (e) {
        if (!stop) throw e;
        return;
      }
    }
  };
  const workers = Array.from({ length: 16 }, (_, w) => worker(w));
  const started = Date.now();
  while (acked.length < 1500 && Date.now() - started < 20_000) await new Promise((r) => setTimeout(r, 50));
  // Mid-load: requests are in flight, batches are being committed.
  gw.kill('SIGKILL');
  stop = true;
  await exited;
  await Promise.allSettled(workers);
  return { acked: [...acked], attempted };
}

after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('audit log after kill -9 under load', () => {
  it('holds every acknowledged call, and the chain verifies', (t) => {
    assert.ok(acked.length >= 500, `enough load before the kill (${acked.length} acknowledged)`);
    const verify = cli('audit', 'verify');
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /^ok: records 1–\d+: chain intact/);
    const ids = new Set(records('--type', 'request').filter((r) => r.method === 'tools/call').map((r) => r.requestId));
    const missing = acked.filter((id) => !ids.has(id));
    assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged calls are missing from the log`);
    assert.ok(ids.size <= attempted, 'no call is recorded that was never made');
    t.diagnostic(`${acked.length} calls acknowledged before the kill, ${ids.size} recorded, ${attempted} attempted`);
  });

  it('holds every acknowledged call with durability process-crash too (written, not synced), and the chain verifies', (t) => {
    assert.ok(unsynced.acked.length >= 500, `enough load before the kill (${unsynced.acked.length} acknowledged)`);
    const verify = cliIn(unsyncedDir, 'audit', 'verify');
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    const ids = new Set(recordsIn(unsyncedDir, '--type', 'request').filter((r) => r.method === 'tools/call').map((r) => r.requestId));
    const missing = unsynced.acked.filter((id) => !ids.has(id));
    assert.deepEqual(missing, [], `${missing.length} of ${unsynced.acked.length} acknowledged calls are missing from the log`);
    t.diagnostic(`${unsynced.acked.length} calls acknowledged before the kill, ${ids.size} recorded, ${unsynced.attempted} attempted`);
  });

  it('export filters by type, upstream, outcome and time', () => {
    const calls = records('--type', 'request', '--upstream', 'echo', '--outcome', 'ok');
    assert.ok(calls.length >= acked.length);
    assert.ok(calls.every((r) => r.type === 'request' && r.upstream === 'echo' && r.outcome === 'ok' && typeof r.hash === 'string'));
    assert.deepEqual(records('--since', '1h', '--principal', 'nobody'), []);
    assert.deepEqual(records('--until', '2000-01-01T00:00:00Z'), []);
    const bad = cli('audit', 'export', '--since', 'yesterday');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--since: expected an ISO 8601 time/);
  });

  it('an administrative command appends an admin record to the same chain', () => {
    const revoke = cli('sessions', 'revoke', 'no-such-session');
    assert.equal(revoke.status, 0, revoke.stderr);
    const admin = records('--type', 'admin.*');
    assert.equal(admin.length, 1);
    assert.equal(admin[0]!.type, 'admin.sessions.revoke');
    assert.equal(admin[0]!.principal, userInfo().username);
    assert.deepEqual(admin[0]!.detail, { session: 'no-such-session' });
    assert.equal(cli('audit', 'verify').status, 0);
  });

  it('checkpoints export, verify against them, and tampering is named', () => {
    const out = join(dir, 'elsewhere');
    spawnSync('mkdir', ['-p', out]);
    const exp = cli('audit', 'checkpoints', 'export', '--to', out);
    assert.equal(exp.status, 0, exp.stderr);
    const file = join(out, 'portcullis-audit-checkpoints.json');
    assert.ok(existsSync(file));
    assert.match(exp.stdout, /checkpoints \(\d+ new\)/);
    const ok = cli('audit', 'verify', '--checkpoints', file);
    assert.equal(ok.status, 0, ok.stdout);
    assert.match(ok.stdout, /exported checkpoints matched/);

    const db = new Database(join(dir, 'data', 'audit.db'));
    db.prepare(`UPDATE audit_records SET body = replace(body, '"outcome":"ok"', '"outcome":"nope"') WHERE seq = 5`).run();
    db.close();
    const bad = cli('audit', 'verify', '--checkpoints', file);
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /^FAILED at record 5 \(edited\)/);
  });
});
