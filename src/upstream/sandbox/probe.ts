/**
 * What this machine can isolate: a trial run of bubblewrap shaped like a real start (every namespace; as root, the
 * drop to sandbox.runAs too), and where each missing piece is named. Containers often forbid user namespaces or /proc
 * mounts, so nothing is assumed: isolation is claimed only when the trial run worked.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export const NAMESPACES = ['user', 'pid', 'net', 'ipc', 'uts', 'cgroup'] as const;
export type Namespace = (typeof NAMESPACES)[number];

export interface RunAs {
  uid: number;
  gid: number;
}

export interface SandboxProbe {
  /** The bubblewrap binary, when found on PATH. */
  bwrap?: string;
  /** Its --version line. */
  bwrapVersion?: string;
  /** true when a trial sandbox with every namespace, /proc, /dev and a private /tmp ran. */
  bubblewrap: boolean;
  /** Which namespace kinds bubblewrap could create here (each tried alone when the full trial failed). */
  namespaces: Record<Namespace, boolean>;
  /** util-linux prlimit, which applies the resource limits (Node cannot setrlimit a child). */
  prlimit?: string;
  /** util-linux setpriv and unshare: how a sandbox started by root drops to runAs in a user namespace of its own. */
  setpriv?: string;
  unshare?: string;
  /** The user sandboxed servers run as (set when the gateway runs as root). */
  runAs?: RunAs;
  /** Why something is unavailable, in words an operator can act on. */
  problems: string[];
}

/** First executable file named `name` on PATH (or `name` itself when it has a slash). */
export function which(name: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates = name.includes('/') ? [name] : path.split(delimiter).filter(Boolean).map((d) => join(d, name));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Runs a command for at most `timeoutMs`; resolves with its exit code (null on signal/timeout) and output. */
function run(cmd: string, args: readonly string[], timeoutMs = 5000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    let out = '';
    const child = spawn(cmd, [...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      cwd: '/',
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { out += c.toString(); });
    child.on('error', (e) => { clearTimeout(timer); resolve({ code: null, out: e.message }); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out: out.trim() }); });
  });
}

/** Started by root: bubblewrap makes every namespace but the user one, which the dropped user makes (dropPrefix). */
export const ROOT_UNSHARE = ['--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try'];
/** Only what setpriv needs to drop to runAs; it clears them with the switch of user. */
export const ROOT_CAPS = ['--cap-drop', 'ALL', '--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID', '--cap-add', 'CAP_SETPCAP'];

/**
 * The commands a sandbox started by root runs first: become runAs (no groups, no capabilities, an empty bounding
 * set), then enter a new user namespace, where RLIMIT_NPROC counts only this sandbox's processes.
 */
export function dropPrefix(p: { setpriv: string; unshare: string; runAs: RunAs }, cwd = '/'): string[] {
  return [
    p.setpriv, `--reuid=${p.runAs.uid}`, `--regid=${p.runAs.gid}`, '--clear-groups', '--bounding-set=-all', '--inh-caps=-all', '--',
    // Changing directory here, as runAs: bubblewrap's root has no CAP_DAC_OVERRIDE to enter the server's 0700 folder.
    p.unshare, '--user', `--wd=${cwd}`, '--',
  ];
}

const UNSHARE: Record<Namespace, string> = {
  user: '--unshare-user', pid: '--unshare-pid', net: '--unshare-net', ipc: '--unshare-ipc', uts: '--unshare-uts', cgroup: '--unshare-cgroup',
};

/**
 * The user sandboxed servers run as: only root changes user, because Linux exempts root from RLIMIT_NPROC (and a
 * server running as root would own every root file its mounts show).
 */
export function effectiveRunAs(runAs: RunAs): RunAs | undefined {
  return process.getuid?.() === 0 ? runAs : undefined;
}

async function probe(runAs: RunAs | undefined): Promise<SandboxProbe> {
  const problems: string[] = [];
  const namespaces = Object.fromEntries(NAMESPACES.map((n) => [n, false])) as Record<Namespace, boolean>;
  const prlimit = which('prlimit');
  if (!prlimit) problems.push('prlimit (util-linux) not found on PATH: resource limits cannot be applied');
  const bwrap = which('bwrap');
  const setpriv = which('setpriv');
  const unshare = which('unshare');
  const base = { namespaces, problems, ...(prlimit ? { prlimit } : {}), ...(setpriv ? { setpriv } : {}), ...(unshare ? { unshare } : {}), ...(runAs ? { runAs } : {}) };
  if (process.platform !== 'linux') {
    problems.push(`bubblewrap needs Linux (this is ${process.platform})`);
    return { ...base, bubblewrap: false };
  }
  if (!bwrap) {
    problems.push('bubblewrap (bwrap) not found on PATH: install the "bubblewrap" package');
    return { ...base, bubblewrap: false };
  }
  if (runAs && (!setpriv || !unshare)) {
    problems.push('bubblewrap cannot drop root here: setpriv and unshare (util-linux) are needed on PATH');
    return { ...base, bwrap, bubblewrap: false };
  }
  const version = await run(bwrap, ['--version']);
  const trial = ['--die-with-parent', '--new-session', '--ro-bind', '/', '/', '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp'];
  // The same shape as a real start (bubblewrap.ts): as root, every namespace but the user one, then the drop.
  const full = runAs
    ? await run(bwrap, [...ROOT_UNSHARE, ...trial, ...ROOT_CAPS, '--', ...dropPrefix({ setpriv: setpriv!, unshare: unshare!, runAs }), bwrap, '--version'])
    : await run(bwrap, ['--unshare-all', '--cap-drop', 'ALL', ...trial, '--', bwrap, '--version']);
  if (full.code === 0) {
    for (const n of NAMESPACES) namespaces[n] = true;
  } else {
    for (const n of NAMESPACES) namespaces[n] = (await run(bwrap, [UNSHARE[n], '--ro-bind', '/', '/', '--', bwrap, '--version'])).code === 0;
    const missing = NAMESPACES.filter((n) => !namespaces[n]);
    const who = runAs ? ` as uid ${runAs.uid}` : '';
    problems.push(`bubblewrap cannot build the sandbox here${who}: ${full.out.split('\n')[0] || `exit ${full.code}`}` +
      (missing.length ? ` (namespaces that do not work: ${missing.join(', ')})` : ' (every namespace works alone; mounting /proc, /dev or /tmp failed)'));
  }
  return { ...base, bwrap, ...(version.code === 0 ? { bwrapVersion: version.out } : {}), bubblewrap: full.code === 0 };
}

const cache = new Map<string, Promise<SandboxProbe>>();

/** Probes once per process (per user), since the answer does not change while the gateway runs. */
export function probeSandbox(runAs: RunAs | undefined): Promise<SandboxProbe> {
  const key = runAs ? `${runAs.uid}:${runAs.gid}` : 'self';
  let p = cache.get(key);
  if (!p) cache.set(key, (p = probe(runAs)));
  return p;
}

/** One line per fact, for `portcullis check` and the startup log. */
export function describeProbe(p: SandboxProbe): string[] {
  const lines: string[] = [];
  if (p.bubblewrap) {
    const net = p.namespaces.net ? '' : ' (no network namespace)';
    lines.push(`bubblewrap: available (${p.bwrapVersion ?? p.bwrap}): user, pid, net, ipc, uts${p.namespaces.cgroup ? ', cgroup' : ''} namespaces${net}, private /tmp, read-only system, no new privileges`);
  } else {
    lines.push('bubblewrap: NOT available: stdio servers cannot be isolated');
  }
  lines.push(p.prlimit ? `resource limits: prlimit (${p.prlimit})` : 'resource limits: NOT available (prlimit missing)');
  if (p.runAs) lines.push(`servers run as uid ${p.runAs.uid}, gid ${p.runAs.gid} (the gateway runs as root)`);
  for (const problem of p.problems) lines.push(`problem: ${problem}`);
  return lines;
}
