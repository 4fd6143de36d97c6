/**
 * From a stdio upstream's configuration to the exact process the gateway starts: the allow-list check, the choice
 * between bubblewrap and unsandboxed (only as configuration allows), the limits, the environment and the folders.
 * The same plan is what `portcullis servers show` prints, so operators see precisely what will run.
 */
import { chownSync, existsSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { GatewayConfig, SandboxConfig, StdioSandboxConfig, StdioUpstreamConfig } from '../../config/types.js';
import { bubblewrapArgs, homeSecrets, innerPrefix, visibleInside, within, type BubblewrapSpec } from './bubblewrap.js';
import { DEFAULT_SANDBOX, DEFAULT_STDIO_SANDBOX } from './config.js';
import { prlimitArgs } from './limits.js';
import { which, type RunAs, type SandboxProbe } from './probe.js';
import { ensurePrivateDir } from '../../core/privateDir.js';

export interface LaunchPlan {
  name: string;
  isolation: 'bubblewrap' | 'none';
  /** The exact argv: argv[0] is the program started. */
  argv: string[];
  /** The whole environment of the process (values: never print them). */
  env: Record<string, string>;
  /** Where the process is started (bubblewrap: "/", then --chdir inside). */
  spawnCwd: string;
  /** The server's working directory. */
  cwd: string;
  workDir: string;
  /** The user the server runs as, when the gateway (root) drops to it inside the sandbox. */
  runAs?: RunAs;
  /** Said loudly at start: what is weaker than configured. */
  warnings: string[];
}

/** A server the configuration does not allow to start; the message names the switch to change. */
export class SandboxRefusal extends Error {
  override readonly name = 'SandboxRefusal';
}

export interface PlanContext {
  sandbox?: SandboxConfig;
  dataDir: string;
  /** Gateway files outside dataDir that no server may see (key files, the database): see gatewaySecrets. */
  hidden?: readonly string[];
  probe: SandboxProbe;
  /** The gateway's PATH (default process.env.PATH): commands resolve with it, and the server inherits it. */
  path?: string;
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * The real path of p, also when its last parts do not exist yet. Every path the sandbox compares or binds is real:
 * a mount through a symlink into the data folder must be seen as the data folder.
 */
export function realPath(p: string): string {
  const parent = dirname(p);
  if (parent === p) return p;
  try {
    return realpathSync(p);
  } catch {
    return join(realPath(parent), basename(p));
  }
}

/** The absolute program a command names: relative to cwd when it has a slash, else looked up on PATH. */
export function resolveCommand(command: string, cwd: string, path: string): string | undefined {
  return which(command.includes('/') ? resolve(cwd, command) : command, path);
}

/**
 * Allowed when written exactly as an entry, or when both resolve to the same file (so `node` admits
 * `/usr/bin/node`, and a symlink cannot smuggle in another program under an allowed name).
 */
export function isAllowedCommand(command: string, allowed: readonly string[], cwd: string, path: string): boolean {
  if (allowed.includes(command)) return true;
  const program = resolveCommand(command, cwd, path);
  if (!program) return false;
  const real = realOrSelf(program);
  return allowed.some((entry) => {
    const e = isAbsolute(entry) ? entry : entry.includes('/') ? undefined : which(entry, path);
    return e !== undefined && realOrSelf(e) === real;
  });
}

/** The folder a program's files live in: the nearest package.json outside node_modules, else the file's folder. */
export function projectRoot(file: string): string {
  const start = dirname(file);
  for (let dir = start; ; dir = dirname(dir)) {
    if (!dir.split(sep).includes('node_modules') && existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return start;
  }
}

/** Files the program runs: the command and every argument naming an existing file. */
function programFiles(program: string, args: readonly string[], cwd: string): string[] {
  const files = [realOrSelf(program)];
  for (const a of args) {
    if (!a.includes('/')) continue;
    const p = resolve(cwd, a);
    try {
      if (statSync(p).isFile()) files.push(realOrSelf(p));
    } catch {
      // not a file path
    }
  }
  return files;
}

/** What planLaunch needs from a configuration; the key files and database it names stay hidden wherever they are. */
export type PlanConfig = Pick<GatewayConfig, 'server'> & Partial<Pick<GatewayConfig, 'sandbox' | 'vault' | 'storage' | 'upstreams'>>;

export function gatewaySecrets(config: PlanConfig): string[] {
  const paths = [config.vault?.keyFile, config.server.tls?.key, config.storage?.driver === 'sqlite' ? config.storage.sqlite.path : undefined];
  for (const u of Object.values(config.upstreams ?? {})) if (u.transport !== 'stdio') paths.push(u.tls?.key);
  return paths.filter((p): p is string => p !== undefined);
}

export function planContext(config: PlanConfig, probe: SandboxProbe): PlanContext {
  return { sandbox: config.sandbox, dataDir: config.server.dataDir, hidden: gatewaySecrets(config), probe };
}

function sandboxOf(up: StdioUpstreamConfig): StdioSandboxConfig {
  return up.sandbox ?? DEFAULT_STDIO_SANDBOX;
}

/**
 * The plan for one server, or a SandboxRefusal. Pure apart from reading the file system (nothing is created:
 * see prepareWorkDir).
 */
export function planLaunch(name: string, up: StdioUpstreamConfig, ctx: PlanContext): LaunchPlan {
  const global = ctx.sandbox ?? DEFAULT_SANDBOX;
  const sb = sandboxOf(up);
  const path = ctx.path ?? process.env.PATH ?? '/usr/bin:/bin';
  const { probe } = ctx;
  const warnings: string[] = [];
  const dataDir = realPath(ctx.dataDir);
  const workDir = realPath(sb.workDir ?? join(dataDir, 'sandbox', name));
  const cwd = up.cwd ? realPath(up.cwd) : workDir;
  // Mounts appear at their real path, so the covers over hidden paths land where the server would look.
  const mounts = sb.mounts.map((m) => ({ path: realPath(m.path), mode: m.mode }));

  if (!isAllowedCommand(up.command, global.allowedCommands, cwd, path)) {
    throw new SandboxRefusal(`upstream "${name}": command "${up.command}" is not allowed; add it (or its absolute path) to sandbox.allowedCommands`);
  }
  const program = resolveCommand(up.command, cwd, path);
  if (!program) throw new SandboxRefusal(`upstream "${name}": command "${up.command}" not found (PATH ${path})`);

  let isolation: LaunchPlan['isolation'] = sb.mode ?? 'bubblewrap';
  if (isolation === 'none' && global.requireIsolation) {
    throw new SandboxRefusal(`upstream "${name}": sandbox.mode "none" runs it unsandboxed; set sandbox.requireIsolation to false to allow that`);
  }
  if (isolation === 'bubblewrap' && !probe.bubblewrap) {
    const why = probe.problems.find((p) => p.startsWith('bubblewrap')) ?? 'bubblewrap does not work here';
    if (global.requireIsolation) {
      throw new SandboxRefusal(`upstream "${name}" cannot run isolated: ${why}. Set sandbox.requireIsolation to false to run it unsandboxed (not recommended)`);
    }
    warnings.push(`upstream "${name}" runs UNSANDBOXED: ${why} (sandbox.requireIsolation is false)`);
    isolation = 'none';
  }
  if (!probe.prlimit) {
    if (global.requireIsolation) throw new SandboxRefusal(`upstream "${name}": resource limits cannot be applied (prlimit from util-linux not found); install util-linux or set sandbox.requireIsolation to false`);
    warnings.push(`upstream "${name}" runs WITHOUT resource limits: prlimit (util-linux) not found`);
  }

  // The data folder must exist before the sandbox is built: one created afterwards would appear, uncovered, through
  // any mount that contains it (the program's project folder often does).
  ensurePrivateDir(dataDir);
  const hidden = [dataDir, ...(ctx.hidden ?? []), ...homeSecrets()].map(realPath);
  // A mount that contains a hidden path is fine (the path is covered); one inside it would reveal it.
  for (const m of mounts) {
    const h = hidden.find((x) => within(m.path, x));
    if (h !== undefined) throw new SandboxRefusal(`upstream "${name}": mount "${m.path}" lies inside "${h}", which sandboxed servers never see`);
  }
  if (within(dataDir, workDir)) {
    throw new SandboxRefusal(`upstream "${name}": sandbox.workDir "${workDir}" would hold the gateway's data folder; choose a folder of its own`);
  }
  const secret = homeSecrets().find((h) => within(workDir, h));
  if (secret) throw new SandboxRefusal(`upstream "${name}": sandbox.workDir "${workDir}" lies inside "${secret}", which sandboxed servers never see`);

  const limits = probe.prlimit ? [probe.prlimit, ...prlimitArgs(sb.limits, isolation === 'bubblewrap')] : [];
  // HOME is the server's own folder: tools that write caches under ~ (npx, pip) write there, not in the gateway's HOME.
  const env: Record<string, string> = { PATH: path, HOME: workDir, ...up.env };

  if (isolation === 'none') {
    warnings.push(`upstream "${name}" runs unsandboxed: its process limit (${sb.limits.processes}) needs the sandbox and is not applied`);
    return { name, isolation, argv: [...limits, program, ...up.args], env, spawnCwd: cwd, cwd, workDir, warnings };
  }

  // A project folder that would be / or hold the gateway's HOME is too wide: then only the file itself is shown.
  const home = realPath(homedir());
  const ownFolder = (file: string): string => { const root = projectRoot(file); return root === sep || within(home, root) ? file : root; };
  const programPaths = sb.mountProgram
    ? [...new Set([...programFiles(program, up.args, cwd).map(ownFolder), ...(up.cwd ? [cwd] : [])])]
    : [];
  const exposed = programPaths.find((p) => hidden.some((h) => within(p, h)));
  if (exposed) throw new SandboxRefusal(`upstream "${name}": its program's files "${exposed}" lie inside a folder sandboxed servers never see; install it elsewhere`);
  const drop = probe.runAs && probe.setpriv && probe.unshare ? { setpriv: probe.setpriv, unshare: probe.unshare, runAs: probe.runAs } : undefined;
  const spec: BubblewrapSpec = { bwrap: probe.bwrap!, programPaths, mounts, workDir, cwd, network: sb.network, hidden, ...(drop ? { drop } : {}) };
  if (!visibleInside(spec, cwd)) {
    throw new SandboxRefusal(`upstream "${name}": cwd "${cwd}" is not visible inside the sandbox; add it to sandbox.mounts`);
  }
  const argv = [probe.bwrap!, ...bubblewrapArgs(spec), '--', ...innerPrefix(spec), ...limits, program, ...up.args];
  return { name, isolation, argv, env, spawnCwd: '/', cwd, workDir, ...(probe.runAs ? { runAs: probe.runAs } : {}), warnings };
}

/** Creates the work folder: 0700, owned by the user the server runs as (the only folder it may write besides rw mounts). */
export function prepareWorkDir(plan: LaunchPlan): void {
  ensurePrivateDir(plan.workDir);
  if (plan.runAs && plan.isolation === 'bubblewrap') chownSync(plan.workDir, plan.runAs.uid, plan.runAs.gid);
}

/** A POSIX shell word: safe to paste. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** What `servers show` prints for a plan: the command line, then facts, environment variable names only. */
export function formatPlan(plan: LaunchPlan): string[] {
  const lines = [
    `isolation: ${plan.isolation === 'bubblewrap' ? 'bubblewrap' : 'NONE (unsandboxed)'}`,
    `command line: ${plan.argv.map(shellQuote).join(' ')}`,
    `environment (names only): ${Object.keys(plan.env).sort().join(', ')}`,
    `working directory: ${plan.cwd}`,
    `work folder (read-write, HOME): ${plan.workDir}`,
  ];
  if (plan.runAs) lines.push(`runs as: uid ${plan.runAs.uid}, gid ${plan.runAs.gid}`);
  for (const w of plan.warnings) lines.push(`warning: ${w}`);
  return lines;
}
