/**
 * The sandbox holds: a hostile stdio server (fixtures/malicious-server.mjs) running under the gateway's default
 * sandbox tries to read the gateway's ~/.ssh key and data folder, write outside its folder, connect to a listener on
 * 127.0.0.1, fork-bomb and allocate beyond its memory limit. Each attempt fails, its limits are really applied (read
 * back from /proc/self/limits), and another sandboxed server on the same gateway keeps answering throughout.
 * Needs bubblewrap; skipped with a notice when it does not work here, except under CI=true.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { ROOT, startTestGateway } from './support/gateway.js';
import type { RunningGateway } from '../src/gateway.js';
import { effectiveRunAs, probeSandbox } from '../src/upstream/sandbox/probe.js';
import { NOBODY } from '../src/upstream/sandbox/config.js';

const probe = await probeSandbox(effectiveRunAs({ uid: NOBODY, gid: NOBODY }));
const skip = !probe.bubblewrap && process.env.CI !== 'true';
if (skip) console.log(`# NOTICE: sandbox containment tests skipped, bubblewrap does not work here: ${probe.problems.join('; ')}`);

const NODE = JSON.stringify(process.execPath);
const MALICIOUS = JSON.stringify(join(ROOT, 'fixtures', 'malicious-server.mjs'));
const CANARY = JSON.stringify(join(ROOT, 'fixtures', 'env-canary-server.mjs'));

describe('a malicious stdio server is contained', { skip }, () => {
  // Everything lives under one folder the test removes; it must be enterable by the sandbox's user (nobody as root).
  // Outside the repository: a HOME inside the program's project folder would keep that folder from being mounted.
  const base = mkdtempSync(join(tmpdir(), 'pc-sandbox-'));
  chmodSync(base, 0o755);
  const home = join(base, 'home');
  const shared = join(base, 'shared');
  const outside = join(base, 'outside.txt');
  const key = join(home, '.ssh', 'id_rsa');
  const realHome = process.env.HOME;
  let gw: RunningGateway;
  let dataDir = '';
  const dataFile = () => join(dataDir, `${basename(base)}.secret`);
  let listener: Server;
  let port = 0;
  let connections = 0;
  const clients: Client[] = [];

  async function client(server: string): Promise<Client> {
    const c = new Client({ name: 'sandbox-test', version: '1' });
    await c.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/servers/${server}/mcp`)));
    clients.push(c);
    return c;
  }

  async function call(c: Client, name: string, args: Record<string, unknown> = {}): Promise<any> {
    const r = await c.callTool({ name, arguments: args }, { timeout: 20_000 });
    const text = (r.content as Array<{ type: string; text: string }>)[0]!.text;
    return JSON.parse(text);
  }

  before(async () => {
    mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o755 });
    writeFileSync(key, '-----BEGIN FAKE PRIVATE KEY-----\n', { mode: 0o644 });
    writeFileSync(join(home, 'visible.txt'), 'yes', { mode: 0o644 });
    writeFileSync(join(home, '.npmrc'), '//registry.npmjs.org/:_authToken=fake', { mode: 0o644 });
    mkdirSync(shared, { recursive: true, mode: 0o777 });
    chmodSync(shared, 0o777);
    listener = createServer((s) => { connections++; s.destroy(); });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    port = (listener.address() as { port: number }).port;
    // The gateway's HOME: what "~/.ssh" means for the credential folders the sandbox hides.
    process.env.HOME = home;
    // The whole fake HOME is even mounted read-only: .ssh must stay hidden inside it.
    gw = await startTestGateway(`
upstreams:
  evil:
    transport: stdio
    command: ${NODE}
    args: [${MALICIOUS}]
    sandbox:
      mounts: [{ path: ${JSON.stringify(home)}, mode: ro }, { path: ${JSON.stringify(shared)}, mode: rw }]
      limits: { processes: 24, memoryMb: 256, cpuSeconds: 60, openFiles: 64 }
  calm:
    transport: stdio
    command: ${NODE}
    args: [${CANARY}]
    env: { CANARY_ENV: calm }
    sandbox: {}
`);
    // World-readable on purpose: only the sandbox, not file permissions, keeps it from the server.
    dataDir = gw.gateway.config.server.dataDir;
    writeFileSync(dataFile(), 'gateway secret', { mode: 0o644 });
  });

  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await gw?.close();
    listener?.close();
    if (realHome === undefined) delete process.env.HOME;
    else process.env.HOME = realHome;
    rmSync(base, { recursive: true, force: true });
    if (dataDir) rmSync(dataFile(), { force: true });
  });

  it('runs the server with its limits, no privileges, a clean environment and its own folder', async () => {
    const evil = await client('evil');
    const me = await call(evil, 'whoami');
    const limit = (name: string) => (me.limits as string).split('\n').find((l: string) => l.startsWith(name))!.split(/\s{2,}/).slice(1, 3);
    assert.deepEqual(limit('Max data size'), [String(256 * 1024 * 1024), String(256 * 1024 * 1024)]);
    assert.deepEqual(limit('Max cpu time'), ['60', '60']);
    assert.deepEqual(limit('Max processes'), ['24', '24']);
    assert.deepEqual(limit('Max open files'), ['64', '64']);
    assert.equal(me.noNewPrivs, '1');
    assert.equal(me.capEff, '0000000000000000');
    // PWD is set by unshare --wd (util-linux) when the gateway runs as root: the cwd, nothing of the gateway's.
    assert.deepEqual(me.envNames.filter((n: string) => n !== 'PWD'), ['HOME', 'PATH']);
    assert.equal(me.home, join(gw.gateway.config.server.dataDir, 'sandbox', 'evil'));
    assert.equal(me.cwd, me.home);
    if (process.getuid?.() === 0) assert.notEqual(me.uid, 0, 'a gateway running as root drops the server to sandbox.runAs');
  });

  it('cannot read the gateway\'s ~/.ssh key or its data folder, even through a mount', async () => {
    const evil = await client('evil');
    assert.ok(existsSync(key));
    // Both are world-readable on the host: ENOENT means hidden by the sandbox, not refused by permissions.
    const ssh = await call(evil, 'read_file', { path: key });
    assert.deepEqual(ssh, { ok: false, error: 'ENOENT' }, 'the fake ~/.ssh/id_rsa was visible');
    const data = await call(evil, 'read_file', { path: dataFile() });
    assert.deepEqual(data, { ok: false, error: 'ENOENT' }, 'the data folder was visible');
    // A credential file is covered by /dev/null, which cannot even be opened there (bubblewrap mounts it nodev).
    assert.deepEqual(await call(evil, 'read_file', { path: join(home, '.npmrc') }), { ok: false, error: 'EACCES' });
    const realSsh = await call(evil, 'read_file', { path: join(realHome ?? '/root', '.ssh', 'id_rsa') });
    assert.equal(realSsh.ok, false);
    // The mounts around them work: the rest of that HOME is there, and so is the repository (its program's project
    // folder), which holds the data folder.
    assert.equal((await call(evil, 'read_file', { path: join(home, 'missing') })).error, 'ENOENT');
    assert.equal((await call(evil, 'read_file', { path: join(home, 'visible.txt') })).content, 'yes');
    assert.equal((await call(evil, 'read_file', { path: join(ROOT, 'package.json') })).ok, true);
  });

  it('cannot write outside its folders', async () => {
    const evil = await client('evil');
    for (const path of [outside, join(ROOT, 'fixtures', 'pwned.txt'), join(home, 'pwned.txt'), '/usr/pwned', '/etc/pwned']) {
      const r = await call(evil, 'write_file', { path });
      assert.equal(r.ok, false, `wrote ${path}`);
      assert.equal(existsSync(path), false, `${path} exists on the host`);
    }
    // Its own folder, a read-write mount and its private /tmp are writable; only the first two reach the host.
    assert.equal((await call(evil, 'write_file', { path: join(dataDir, 'sandbox', 'evil', 'mine.txt') })).ok, true);
    assert.equal(readFileSync(join(dataDir, 'sandbox', 'evil', 'mine.txt'), 'utf8'), 'pwned');
    assert.equal((await call(evil, 'write_file', { path: join(shared, 'shared.txt') })).ok, true);
    assert.equal((await call(evil, 'write_file', { path: '/tmp/private.txt' })).ok, true);
    assert.equal(existsSync('/tmp/private.txt'), false);
  });

  it('cannot open a network connection, not even to 127.0.0.1', async () => {
    const evil = await client('evil');
    const r = await call(evil, 'connect', { host: '127.0.0.1', port });
    assert.equal(r.ok, false);
    assert.equal(connections, 0);
  });

  it('a fork bomb stops at the process limit while the other server keeps answering', async () => {
    const evil = await client('evil');
    const calm = await client('calm');
    const bomb = call(evil, 'fork_bomb', { ms: 2000 });
    const answers: number[] = [];
    const started = Date.now();
    while (Date.now() - started < 1800) {
      const t = Date.now();
      const r = await calm.callTool({ name: 'envcheck', arguments: {} });
      assert.equal(r.isError, undefined);
      answers.push(Date.now() - t);
      await new Promise((res) => setTimeout(res, 100));
    }
    const outcome = await bomb;
    assert.ok(outcome.peakProcesses <= 24, `the sandbox reached ${outcome.peakProcesses} processes (limit 24)`);
    assert.ok(outcome.peakProcesses >= 3, 'the bomb did not run');
    assert.ok(answers.length >= 5, `the other server answered only ${answers.length} times during the bomb`);
    // The attacker itself survives and still answers after its bomb was killed.
    assert.equal((await call(evil, 'whoami')).ok, true);
  });

  it('cannot allocate beyond its memory limit', async () => {
    const evil = await client('evil');
    const calm = await client('calm');
    // Either the allocation fails inside the server, or V8 aborts it (heap out of memory) and it is restarted.
    const r = await call(evil, 'allocate', { mb: 512 }).catch((e: Error) => ({ crashed: e.message }));
    if ('crashed' in r) assert.match(r.crashed, /exited unexpectedly|unavailable/);
    else {
      assert.equal(r.ok, false);
      assert.ok(r.allocatedMb < 256, `allocated ${r.allocatedMb} MiB with a 256 MiB limit`);
    }
    assert.equal((await calm.callTool({ name: 'envcheck', arguments: {} })).isError, undefined);
    // And the attacker is back (restarted with backoff when it crashed), still confined.
    let again: any;
    for (let i = 0; i < 50 && !again; i++) {
      again = await call(await client('evil'), 'whoami').catch(() => undefined);
      if (!again) await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(again?.noNewPrivs, '1');
  });
});
