/**
 * The bubblewrap argv for one server. What the server sees, and why:
 * - the system read-only: /usr (and the /bin, /lib… links or folders), a short list of /etc files programs need
 *   (dynamic linker cache, certificates, time zone, users and groups, name resolution when it has a network);
 * - its own files read-only (the program's project folder and cwd) and the mounts it is configured with;
 * - its work folder read-write; a private /tmp, /proc and /dev;
 * - never the gateway's data folder nor the credential folders of the gateway's HOME, even inside a mount: they are
 *   covered with an empty tmpfs after the mounts that would show them.
 * The environment is the server's configured one plus PATH and HOME (its work folder), nothing of the gateway's.
 * Namespaces: all of them (user, pid, ipc, uts, cgroup, and net unless allowed), no capabilities, its own session
 * (no terminal injection), killed with the gateway; bubblewrap always sets no-new-privileges.
 */
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import type { SandboxMount } from '../../config/types.js';
import { dropPrefix, ROOT_CAPS, ROOT_UNSHARE, type RunAs } from './probe.js';

/** Top-level system entries: bound read-only when folders, recreated when links (merged /usr). */
const SYSTEM = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/** What programs read in /etc. Not /etc itself: it holds host configuration and sometimes secrets. */
const ETC = [
  'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'alternatives', 'ssl', 'ca-certificates', 'ca-certificates.conf',
  'localtime', 'timezone', 'passwd', 'group', 'nsswitch.conf', 'mime.types',
];
/** Name resolution, only for servers allowed a network. */
const ETC_NET = ['hosts', 'host.conf', 'gai.conf', 'resolv.conf'];

/** Credential folders in the gateway's HOME that a mount must never reveal. */
const HOME_SECRETS = ['.ssh', '.gnupg', '.aws', '.azure', '.kube', '.docker', '.config/gcloud', '.npmrc', '.netrc', '.git-credentials'];

export interface BubblewrapSpec {
  bwrap: string;
  /** Mounted read-only because they are the program's own files (project folders, cwd). */
  programPaths: readonly string[];
  mounts: readonly SandboxMount[];
  workDir: string;
  /** The working directory inside the sandbox. */
  cwd: string;
  network: boolean;
  /** Paths hidden even when a mount covers them (the gateway's data folder). */
  hidden: readonly string[];
  /** Set when the gateway runs as root: the server drops to runAs inside (see dropPrefix). */
  drop?: { setpriv: string; unshare: string; runAs: RunAs };
}

/** Secret locations of the gateway's own HOME (read now: tests point HOME elsewhere). */
export function homeSecrets(home = homedir()): string[] {
  return HOME_SECRETS.map((p) => join(home, p));
}

/** p is m or lies beneath it. */
export function within(p: string, m: string): boolean {
  return p === m || m === sep || p.startsWith(m + sep);
}

const depth = (p: string): number => (p === sep ? 0 : p.split(sep).length - 1);

type Op = { kind: 'ro' | 'rw' | 'hide'; path: string };

/** Mount operations in the order bubblewrap must apply them: parents before children, a hide after what it covers. */
function orderedOps(spec: BubblewrapSpec): Op[] {
  const ops: Op[] = [];
  const visible: string[] = [...SYSTEM];
  for (const p of spec.programPaths) {
    if (visible.some((v) => within(p, v))) continue; // already shown (e.g. a node under /usr)
    ops.push({ kind: 'ro', path: p });
    visible.push(p);
  }
  for (const m of spec.mounts) {
    ops.push({ kind: m.mode, path: m.path });
    visible.push(m.path);
  }
  for (const h of spec.hidden) {
    if (existsSync(h) && visible.some((v) => within(h, v))) ops.push({ kind: 'hide', path: h });
  }
  ops.push({ kind: 'rw', path: spec.workDir });
  const rank = (o: Op): number => (o.kind === 'hide' ? 1 : 0);
  return ops
    .map((o, i) => ({ o, i }))
    .sort((a, b) => depth(a.o.path) - depth(b.o.path) || rank(a.o) - rank(b.o) || a.i - b.i)
    .map(({ o }) => o);
}

/** The bubblewrap options (everything before `--`). */
export function bubblewrapArgs(spec: BubblewrapSpec): string[] {
  const a: string[] = ['--die-with-parent', '--new-session'];
  if (spec.drop) a.push(...ROOT_UNSHARE.filter((n) => !(spec.network && n === '--unshare-net')), ...ROOT_CAPS);
  else a.push('--unshare-all', ...(spec.network ? ['--share-net'] : []), '--cap-drop', 'ALL');
  // No --clearenv/--setenv: values on a command line are readable by every local user (/proc/PID/cmdline), so the
  // wire starts bubblewrap with exactly the server's environment instead, which bubblewrap passes on.
  for (const s of SYSTEM) {
    let st;
    try { st = lstatSync(s); } catch { continue; }
    if (st.isSymbolicLink()) a.push('--symlink', readlinkSync(s), s);
    else if (st.isDirectory()) a.push('--ro-bind', s, s);
  }
  a.push('--perms', '0755', '--dir', '/etc');
  for (const e of [...ETC, ...(spec.network ? ETC_NET : [])]) a.push('--ro-bind-try', `/etc/${e}`, `/etc/${e}`);
  a.push('--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/tmp');
  const made = new Set<string>();
  const done: Op[] = [{ kind: 'hide', path: '/tmp' }]; // a fresh tmpfs: /tmp exists, nothing below it does
  for (const op of orderedOps(spec)) {
    // Folders bubblewrap makes on the way to a mount point must be enterable by the (unprivileged) server; those
    // inside an earlier bind exist already, with their own permissions.
    const missing: string[] = [];
    for (let d = dirname(op.path); d !== sep && !made.has(d) && !SYSTEM.some((s) => within(d, s)); d = dirname(d)) {
      const under = done.filter((o) => within(d, o.path)).sort((x, y) => depth(y.path) - depth(x.path))[0];
      if (under && (under.kind !== 'hide' || under.path === d)) break;
      missing.unshift(d);
    }
    for (const d of missing) {
      made.add(d);
      a.push('--perms', '0755', '--dir', d);
    }
    done.push(op);
    if (op.kind === 'hide') {
      // A folder is covered by an empty tmpfs, a file by /dev/null (which cannot be opened there: nodev).
      if (lstatSync(op.path).isDirectory()) a.push('--tmpfs', op.path);
      else a.push('--ro-bind', '/dev/null', op.path);
    } else {
      a.push(op.kind === 'ro' ? '--ro-bind' : '--bind', op.path, op.path);
    }
  }
  if (!spec.drop) a.push('--chdir', spec.cwd); // else after the drop (innerPrefix)
  return a;
}

/** What runs between bubblewrap and the limits: the drop to runAs when the gateway is root, else nothing. */
export function innerPrefix(spec: BubblewrapSpec): string[] {
  return spec.drop ? dropPrefix(spec.drop, spec.cwd) : [];
}

/** Whether `p` is visible inside the sandbox described by spec (for checking cwd before starting). */
export function visibleInside(spec: BubblewrapSpec, p: string): boolean {
  let shown = SYSTEM.some((s) => within(p, s));
  for (const op of orderedOps(spec)) {
    if (within(p, op.path)) shown = op.kind !== 'hide';
  }
  return shown;
}
