/**
 * The sandbox's decisions, one at a time: configuration defaults and cross-checks, the allow-list, what the plan
 * mounts, hides and refuses (with stand-in probes for machines with and without bubblewrap), limits without the
 * sandbox (read back from a real child), the startup refusal and warning, and the CLI's `servers show` and `check`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { isConfigError, parseConfig } from '../src/config/load.js';
import type { GatewayConfig, StdioUpstreamConfig } from '../src/config/types.js';
import { isAllowedCommand, planContext, planLaunch, projectRoot, SandboxRefusal, type PlanContext } from '../src/upstream/sandbox/commandLine.js';
import { prlimitArgs } from '../src/upstream/sandbox/limits.js';
import { NAMESPACES, which, type SandboxProbe } from '../src/upstream/sandbox/probe.js';
import { SandboxLauncher } from '../src/upstream/sandbox/launcher.js';
import { StdioWire } from '../src/upstream/wires/stdio.js';
import { wireFactory } from '../src/upstream/createWire.js';
import { startGateway } from '../src/gateway.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { silentLogger } from '../src/core/log.js';
import { ROOT, withUnapprovedWarn } from './support/gateway.js';

const tmp = mkdtempSync(join(tmpdir(), 'pc-sandbox-units-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const NODE = process.execPath;
const MALICIOUS = join(ROOT, 'fixtures', 'malicious-server.mjs');
const all = (v: boolean) => Object.fromEntries(NAMESPACES.map((n) => [n, v])) as SandboxProbe['namespaces'];
const WITH: SandboxProbe = { bwrap: '/usr/bin/bwrap', bubblewrap: true, namespaces: all(true), prlimit: '/usr/bin/prlimit', problems: [] };
const AS_ROOT: SandboxProbe = { ...WITH, setpriv: '/usr/bin/setpriv', unshare: '/usr/bin/unshare', runAs: { uid: 65534, gid: 65534 } };
const WITHOUT: SandboxProbe = { bubblewrap: false, namespaces: all(false), prlimit: '/usr/bin/prlimit', problems: ['bubblewrap (bwrap) not found on PATH: install the "bubblewrap" package'] };

function config(yaml: string): GatewayConfig {
  return parseConfig(`server: { dataDir: ${JSON.stringify(join(tmp, 'data'))} }\nauth: { mode: none }\n${yaml}`, { source: join(tmp, 'portcullis.yaml'), env: {} });
}
const stdio = (cfg: GatewayConfig, name: string) => cfg.upstreams[name] as StdioUpstreamConfig;
const ctx = (cfg: GatewayConfig, probe: SandboxProbe): PlanContext => ({ sandbox: cfg.sandbox, dataDir: cfg.server.dataDir, probe });
const after_ = (argv: string[], flag: string, value: string) => argv.findIndex((a, i) => a === flag && argv[i + 1] === value);

describe('sandbox configuration', () => {
  it('has secure defaults', () => {
    const cfg = config(`upstreams:\n  s: { transport: stdio, command: node }\n`);
    assert.deepEqual(cfg.sandbox, { requireIsolation: true, allowedCommands: ['node', 'npx'], runAs: { uid: 65534, gid: 65534 } });
    assert.deepEqual(stdio(cfg, 's').sandbox, { network: false, mounts: [], mountProgram: true, limits: { memoryMb: 1024, cpuSeconds: 3600, processes: 64, openFiles: 1024 } });
  });

  it('refuses mode "none" unless isolation is optional, naming the switch', () => {
    assert.throws(() => config(`upstreams:\n  s: { transport: stdio, command: node, sandbox: { mode: none } }\n`), (e: unknown) => {
      assert.ok(isConfigError(e));
      assert.match(e.message, /upstreams\.s\.sandbox\.mode.*sandbox\.requireIsolation to false/s);
      return true;
    });
    const ok = config(`sandbox: { requireIsolation: false }\nupstreams:\n  s: { transport: stdio, command: node, sandbox: { mode: none } }\n`);
    assert.equal(stdio(ok, 's').sandbox.mode, 'none');
  });

  it('resolves mounts and workDir against the config file\'s folder', () => {
    const cfg = config(`upstreams:\n  s: { transport: stdio, command: node, sandbox: { workDir: ./w, mounts: [{ path: ./m, mode: rw }, { path: /abs }] } }\n`);
    assert.equal(stdio(cfg, 's').sandbox.workDir, join(tmp, 'w'));
    assert.deepEqual(stdio(cfg, 's').sandbox.mounts, [{ path: join(tmp, 'm'), mode: 'rw' }, { path: '/abs', mode: 'ro' }]);
  });
});

describe('the allow-list', () => {
  const bin = join(tmp, 'bin');
  const other = join(tmp, 'other');
  spawnSync('mkdir', ['-p', bin, other]);
  copyFileSync('/bin/true', join(bin, 'prog'));
  chmodSync(join(bin, 'prog'), 0o755);
  symlinkSync(join(bin, 'prog'), join(bin, 'alias'));
  // Same name as an allowed program, another file: must not pass for it.
  symlinkSync('/bin/sh', join(other, 'prog'));
  const PATH = bin;

  it('admits an exact entry, a PATH name, an absolute path and a symlink to the same file', () => {
    assert.ok(isAllowedCommand('unused', ['unused'], tmp, PATH));
    assert.ok(isAllowedCommand('prog', ['prog'], tmp, PATH));
    assert.ok(isAllowedCommand(join(bin, 'prog'), ['prog'], tmp, PATH));
    assert.ok(isAllowedCommand('alias', ['prog'], tmp, PATH));
    assert.ok(isAllowedCommand('prog', [join(bin, 'prog')], tmp, PATH));
  });

  it('refuses other programs, even under an allowed name', () => {
    assert.equal(isAllowedCommand(join(other, 'prog'), ['prog'], tmp, PATH), false);
    assert.equal(isAllowedCommand('sh', ['prog'], tmp, '/usr/bin:/bin'), false);
    assert.equal(isAllowedCommand('/bin/sh', ['node', 'npx'], tmp, '/usr/bin:/bin'), false);
    assert.equal(isAllowedCommand('missing', ['prog'], tmp, PATH), false);
  });

  it('the plan refuses a command that is not listed, naming sandbox.allowedCommands', () => {
    const cfg = config(`upstreams:\n  s: { transport: stdio, command: /bin/sh }\n`);
    assert.throws(() => planLaunch('s', stdio(cfg, 's'), ctx(cfg, WITH)), (e: unknown) => e instanceof SandboxRefusal && /sandbox\.allowedCommands/.test(e.message));
  });
});

describe('the plan', () => {
  const project = join(tmp, 'project');
  spawnSync('mkdir', ['-p', join(project, 'node_modules', 'pkg', 'dist'), join(project, 'data')]);
  writeFileSync(join(project, 'package.json'), '{}');
  writeFileSync(join(project, 'node_modules', 'pkg', 'package.json'), '{}');
  writeFileSync(join(project, 'node_modules', 'pkg', 'dist', 'index.js'), '');

  it('finds the project folder of a file: the nearest package.json outside node_modules', () => {
    assert.equal(projectRoot(join(project, 'node_modules', 'pkg', 'dist', 'index.js')), project);
    assert.equal(projectRoot('/nowhere/at/all.js'), '/nowhere/at');
  });

  it('without bubblewrap: refused while isolation is required, naming the switch', () => {
    const cfg = config(`upstreams:\n  s: { transport: stdio, command: node }\n`);
    assert.throws(() => planLaunch('s', stdio(cfg, 's'), ctx(cfg, WITHOUT)), (e: unknown) =>
      e instanceof SandboxRefusal && /cannot run isolated: bubblewrap \(bwrap\) not found.*sandbox\.requireIsolation to false/.test(e.message));
  });

  it('without bubblewrap and isolation optional: unsandboxed with a warning, limits but no process limit', () => {
    const cfg = config(`sandbox: { requireIsolation: false }\nupstreams:\n  s: { transport: stdio, command: node, args: [x.js] }\n`);
    const plan = planLaunch('s', stdio(cfg, 's'), ctx(cfg, WITHOUT));
    assert.equal(plan.isolation, 'none');
    assert.deepEqual(plan.argv, ['/usr/bin/prlimit', '--data=1073741824', '--cpu=3600', '--nofile=1024', '--', which('node'), 'x.js']);
    assert.ok(plan.warnings.some((w) => /UNSANDBOXED/.test(w)));
    assert.ok(plan.warnings.some((w) => /process limit \(64\) needs the sandbox/.test(w)));
  });

  it('with bubblewrap: every namespace, no network, the program read-only, the data folder hidden, the work folder writable', () => {
    const dataDir = join(project, 'data');
    const cfg = config(`upstreams:\n  s: { transport: stdio, command: node, args: [${JSON.stringify(join(project, 'node_modules', 'pkg', 'dist', 'index.js'))}], env: { TOKEN: sekrit-value } }\n`);
    const plan = planLaunch('s', stdio(cfg, 's'), { ...ctx(cfg, WITH), dataDir });
    const a = plan.argv;
    assert.equal(a[0], '/usr/bin/bwrap');
    for (const f of ['--unshare-all', '--die-with-parent', '--new-session']) assert.ok(a.includes(f), f);
    assert.ok(!a.includes('--share-net'));
    assert.ok(after_(a, '--cap-drop', 'ALL') > 0);
    const ro = after_(a, '--ro-bind', project);
    const hide = after_(a, '--tmpfs', dataDir);
    const work = after_(a, '--bind', join(dataDir, 'sandbox', 's'));
    assert.ok(ro > 0 && hide > ro && work > hide, `order: program ${ro}, hide ${hide}, work ${work}`);
    assert.ok(!a.includes('/etc/resolv.conf'), 'no name resolution without a network');
    const sep = a.indexOf('--');
    assert.deepEqual(a.slice(sep + 1, sep + 7), ['/usr/bin/prlimit', '--data=1073741824', '--cpu=3600', '--nproc=64', '--nofile=1024', '--']);
    // Secrets travel in the environment, never on a command line every local user can read.
    assert.ok(!a.some((x) => x.includes('sekrit')));
    assert.deepEqual(Object.keys(plan.env).sort(), ['HOME', 'PATH', 'TOKEN']);
    assert.equal(plan.env.HOME, join(dataDir, 'sandbox', 's'));
  });

  it('a data folder that does not exist yet is created before the sandbox is built, so it is hidden from the start', () => {
    const dataDir = join(project, `data-later-${process.pid}`);
    assert.equal(existsSync(dataDir), false);
    const cfg = config(`upstreams:\n  s: { transport: stdio, command: node, args: [${JSON.stringify(join(project, 'node_modules', 'pkg', 'dist', 'index.js'))}] }\n`);
    const a = planLaunch('s', stdio(cfg, 's'), { ...ctx(cfg, WITH), dataDir }).argv;
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.ok(after_(a, '--tmpfs', dataDir) > after_(a, '--ro-bind', project), 'covered after the project folder that contains it');
  });

  it('with a network allowed: shares it and shows name resolution', () => {
    const cfg = config(`upstreams:\n  s: { transport: stdio, command: node, sandbox: { network: true } }\n`);
    const a = planLaunch('s', stdio(cfg, 's'), ctx(cfg, WITH)).argv;
    assert.ok(a.includes('--share-net'));
    assert.ok(a.includes('/etc/resolv.conf'));
  });

  it('started by root: namespaces but the user one, then a drop to runAs in a user namespace of its own', () => {
    const cfg = config(`upstreams:\n  s: { transport: stdio, command: node }\n`);
    const plan = planLaunch('s', stdio(cfg, 's'), ctx(cfg, AS_ROOT));
    const a = plan.argv;
    assert.ok(!a.includes('--unshare-all') && !a.includes('--unshare-user'));
    for (const f of ['--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts']) assert.ok(a.includes(f), f);
    const sep = a.indexOf('--');
    assert.deepEqual(a.slice(sep + 1, sep + 12), [
      '/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--bounding-set=-all', '--inh-caps=-all', '--',
      '/usr/bin/unshare', '--user', `--wd=${plan.cwd}`, '--',
    ]);
    assert.deepEqual(plan.runAs, { uid: 65534, gid: 65534 });
  });

  it('never shows ~/.ssh or the data folder through a mount, and refuses mounts inside them', () => {
    const home = join(tmp, 'home');
    spawnSync('mkdir', ['-p', join(home, '.ssh')]);
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      const cfg = config(`upstreams:\n  s: { transport: stdio, command: node, sandbox: { mounts: [{ path: ${JSON.stringify(home)} }] } }\n  t: { transport: stdio, command: node, sandbox: { mounts: [{ path: ${JSON.stringify(join(home, '.ssh'))} }] } }\n  u: { transport: stdio, command: node, sandbox: { mounts: [{ path: ${JSON.stringify(join(tmp, 'data', 'x'))} }] } }\n  v: { transport: stdio, command: node, sandbox: { workDir: ${JSON.stringify(tmp)} } }\n`);
      const a = planLaunch('s', stdio(cfg, 's'), ctx(cfg, WITH)).argv;
      assert.ok(after_(a, '--tmpfs', join(home, '.ssh')) > after_(a, '--ro-bind', home));
      assert.throws(() => planLaunch('t', stdio(cfg, 't'), ctx(cfg, WITH)), /never see/);
      assert.throws(() => planLaunch('u', stdio(cfg, 'u'), ctx(cfg, WITH)), /never see/);
      assert.throws(() => planLaunch('v', stdio(cfg, 'v'), ctx(cfg, WITH)), /would hold the gateway's data folder/);
    } finally {
      process.env.HOME = saved;
    }
  });

  it('hides the gateway\'s key files and database wherever they are', () => {
    const keys = join(tmp, 'keys');
    spawnSync('mkdir', ['-p', keys]);
    writeFileSync(join(keys, 'vault.key'), 'k');
    writeFileSync(join(keys, 'db.sqlite'), 'd');
    const cfg = config(`vault: { keyFile: ./keys/vault.key }\nstorage: { driver: sqlite, sqlite: { path: ./keys/db.sqlite } }\nupstreams:\n  s: { transport: stdio, command: node, sandbox: { mounts: [{ path: ./keys }] } }\n`);
    const a = planLaunch('s', stdio(cfg, 's'), planContext(cfg, WITH)).argv;
    const bound = after_(a, '--ro-bind', keys);
    for (const f of ['vault.key', 'db.sqlite']) assert.ok(after_(a, '--ro-bind', '/dev/null') > bound && a.includes(join(keys, f)), f);
    assert.equal(a[a.indexOf(join(keys, 'vault.key')) - 1], '/dev/null');
    assert.throws(() => planLaunch('s', { ...stdio(cfg, 's'), sandbox: { ...stdio(cfg, 's').sandbox, mounts: [{ path: join(keys, 'vault.key'), mode: 'ro' }] } }, planContext(cfg, WITH)), /never see/);
  });

  it('shows only the file itself when its folder would be / or hold the gateway\'s HOME', () => {
    const home = join(tmp, 'h2');
    spawnSync('mkdir', ['-p', home]);
    writeFileSync(join(home, 'server.js'), '');
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      const cfg = config(`upstreams:\n  s: { transport: stdio, command: node, args: [${JSON.stringify(join(home, 'server.js'))}] }\n`);
      const a = planLaunch('s', stdio(cfg, 's'), ctx(cfg, WITH)).argv;
      assert.ok(after_(a, '--ro-bind', join(home, 'server.js')) > 0);
      assert.equal(after_(a, '--ro-bind', home), -1);
    } finally {
      process.env.HOME = saved;
    }
  });

  it('binds a mount at its real path, so a symlink cannot lead into the data folder', () => {
    const link = join(tmp, 'to-data');
    spawnSync('mkdir', ['-p', join(tmp, 'data', 'inner')]);
    symlinkSync(join(tmp, 'data', 'inner'), link);
    const cfg = config(`upstreams:\n  s: { transport: stdio, command: node, sandbox: { mounts: [{ path: ${JSON.stringify(link)} }] } }\n`);
    assert.throws(() => planLaunch('s', stdio(cfg, 's'), ctx(cfg, WITH)), /lies inside .*data.*never see/);
  });

  it('refuses a cwd the sandbox would not show', () => {
    const cfg = config(`upstreams:\n  s: { transport: stdio, command: node, cwd: /srv, sandbox: { mountProgram: false } }\n`);
    assert.throws(() => planLaunch('s', stdio(cfg, 's'), ctx(cfg, WITH)), /cwd "\/srv" is not visible inside the sandbox; add it to sandbox\.mounts/);
  });

  it('prlimit sets soft and hard limits in bytes, seconds and counts', () => {
    assert.deepEqual(prlimitArgs({ memoryMb: 2, cpuSeconds: 3, processes: 4, openFiles: 5 }, true), ['--data=2097152', '--cpu=3', '--nproc=4', '--nofile=5', '--']);
  });
});

describe('starting servers', () => {
  it('applies the limits without the sandbox too (read back from /proc/self/limits)', async () => {
    const cfg = config(`sandbox: { requireIsolation: false }\nupstreams:\n  s: { transport: stdio, command: node, args: [${JSON.stringify(MALICIOUS)}], sandbox: { mode: none, limits: { memoryMb: 300, cpuSeconds: 30, openFiles: 77 } } }\n`);
    const launcher = new SandboxLauncher(cfg, silentLogger);
    const wire = new StdioWire({ name: 's', command: 'node', launch: () => launcher.launch('s', stdio(cfg, 's')) });
    const reply = new Promise<any>((resolve) => { wire.onmessage = (m: any) => resolve(m); });
    await wire.start();
    try {
      await wire.send({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } });
      const me = JSON.parse((await reply).result.content[0].text);
      const limit = (name: string) => (me.limits as string).split('\n').find((l: string) => l.startsWith(name))!.split(/\s{2,}/).slice(1, 3);
      assert.deepEqual(limit('Max data size'), [String(300 * 1024 * 1024), String(300 * 1024 * 1024)]);
      assert.deepEqual(limit('Max cpu time'), ['30', '30']);
      assert.deepEqual(limit('Max open files'), ['77', '77']);
      assert.deepEqual(me.envNames, ['HOME', 'PATH']);
      assert.equal(me.cwd, join(tmp, 'data', 'sandbox', 's'));
    } finally {
      await wire.close();
    }
  });

  it('without bubblewrap and isolation required: a loud error at startup, and the server is refused with the switch named', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(s); } });
    const cfg = withUnapprovedWarn(config(`policy: { rules: [{ id: all, effect: allow }] }\nstorage: { driver: memory }\nupstreams:\n  s: { transport: stdio, command: node, args: [${JSON.stringify(MALICIOUS)}] }\n`));
    const gw = await startGateway({ ...cfg, server: { ...cfg.server, port: 0 } }, {
      logger: log, storage: createMemoryStorage({ replayEvents: 16 }), createWire: wireFactory(log, cfg, async () => WITHOUT),
    });
    try {
      const res = await fetch(`${gw.url}/servers/s/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } }),
      });
      await res.text();
      const deadline = Date.now() + 5000;
      while (!lines.some((l) => /cannot run isolated/.test(l)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const error = lines.map((l) => JSON.parse(l)).find((l) => /SANDBOX UNAVAILABLE/.test(l.msg));
      assert.equal(error?.level, 50, 'logged at error level');
      assert.match(error.msg, /sandbox\.requireIsolation is true/);
      assert.ok(lines.some((l) => /upstream \\"s\\" cannot run isolated: .*sandbox\.requireIsolation to false/.test(l)), lines.join(''));
    } finally {
      await gw.close();
    }
  });
});

describe('the CLI', () => {
  const BIN = join(ROOT, 'bin', 'portcullis.js');
  const dir = mkdtempSync(join(tmpdir(), 'pc-sandbox-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'portcullis.yaml'), `storage: { driver: memory }
upstreams:
  good: { transport: stdio, command: node, args: [${JSON.stringify(MALICIOUS)}], env: { API_TOKEN: sekrit-value } }
  bad: { transport: stdio, command: /bin/sh, args: [-c, 'echo hi'] }
  web: { transport: http, url: "https://mcp.example.com/mcp" }
`);
  const cli = (...args: string[]) => spawnSync(NODE, [BIN, ...args, '--config', join(dir, 'portcullis.yaml')], { encoding: 'utf8', env: { ...process.env, PORTCULLIS_FROM_SOURCE: '1' }, timeout: 60_000 });

  it('servers show prints the exact command line and variable names, never values, and refuses what is not allowed', () => {
    const r = cli('servers', 'show');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^good:\n {2}isolation: (bubblewrap|NONE)/m);
    assert.match(r.stdout, /command line: \S*(bwrap|prlimit) .* \S*node \S*malicious-server\.mjs\n/);
    assert.match(r.stdout, /environment \(names only\): API_TOKEN, HOME, PATH\n/);
    assert.doesNotMatch(r.stdout + r.stderr, /sekrit-value/);
    assert.match(r.stdout, /bad:\n {2}REFUSED: upstream "bad": command "\/bin\/sh" is not allowed; add it \(or its absolute path\) to sandbox\.allowedCommands/);
    assert.match(r.stdout, /web: http upstream at https:\/\/mcp\.example\.com\/mcp \(no local process\)/);
    const one = cli('servers', 'show', 'good');
    assert.equal(one.status, 0, one.stderr);
    assert.doesNotMatch(one.stdout, /bad:/);
  });

  it('check reports the sandbox and fails on a refused server', () => {
    const r = cli('check');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^sandbox: bubblewrap: (available|NOT available)/m);
    assert.match(r.stdout, /^sandbox: REFUSED: upstream "bad"/m);
  });
});
