/**
 * The `sandbox:` keys of portcullis.yaml: gateway-wide (`sandbox:`) and per stdio upstream (`upstreams.NAME.sandbox`).
 * Defaults are secure: isolation required, a short allow-list, no network, small limits. docs/sandbox.md explains each.
 */
import type { SchemaNode } from '../../config/schema.js';
import type { SandboxConfig, SandboxLimits, StdioSandboxConfig } from '../../config/types.js';

/** What the starter config runs (`node` for installed servers, `npx` for the rest); everything else is listed by the operator. */
export const DEFAULT_ALLOWED_COMMANDS: readonly string[] = ['node', 'npx'];

/** "nobody" on Debian: owns nothing, so a server running as it can write only where it is given a folder. */
export const NOBODY = 65_534;

export const DEFAULT_LIMITS: Readonly<SandboxLimits> = { memoryMb: 1024, cpuSeconds: 3600, processes: 64, openFiles: 1024 };

export const DEFAULT_SANDBOX: Readonly<SandboxConfig> = {
  requireIsolation: true,
  allowedCommands: [...DEFAULT_ALLOWED_COMMANDS],
  runAs: { uid: NOBODY, gid: NOBODY },
};

export const DEFAULT_STDIO_SANDBOX: Readonly<StdioSandboxConfig> = {
  network: false,
  mounts: [],
  mountProgram: true,
  limits: { ...DEFAULT_LIMITS },
};

const limit = (def: number, description: string): SchemaNode => ({ type: 'integer', minimum: 1, default: def, description });

export const SANDBOX_SCHEMA: SchemaNode = {
  type: 'object',
  default: {},
  description: 'How stdio servers are isolated (docs/sandbox.md). Each runs inside bubblewrap when it works on this machine: read-only system, only its own files and the listed mounts, private /tmp, no network, new namespaces, resource limits.',
  additionalProperties: false,
  properties: {
    requireIsolation: {
      type: 'boolean',
      default: true,
      description: 'Refuse to start a stdio server that cannot run isolated (bubblewrap missing or not working here, or mode "none"). false: run it unsandboxed with a loud warning (resource limits still apply).',
    },
    allowedCommands: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      default: [...DEFAULT_ALLOWED_COMMANDS],
      description: "Programs stdio servers may run. A server's command is accepted when it is written exactly as an entry, or resolves (PATH lookup, symlinks followed) to the same file as an entry. Arguments are not checked: allowing npx allows any package.",
    },
    runAs: {
      type: 'object',
      default: {},
      description: 'When the gateway runs as root, sandboxed servers run as this unprivileged user and group (Linux does not enforce the process limit on root).',
      additionalProperties: false,
      properties: {
        uid: { type: 'integer', minimum: 1, default: NOBODY, description: 'User id (default: nobody).' },
        gid: { type: 'integer', minimum: 1, default: NOBODY, description: 'Group id (default: nogroup).' },
      },
    },
  },
};

export const STDIO_SANDBOX_SCHEMA: SchemaNode = {
  type: 'object',
  default: {},
  description: 'Isolation and resource limits of this server (docs/sandbox.md).',
  additionalProperties: false,
  properties: {
    mode: {
      type: 'string',
      enum: ['bubblewrap', 'none'],
      description: '"bubblewrap": run inside bubblewrap (refused, or run unsandboxed if sandbox.requireIsolation is false, when it does not work here). "none": unsandboxed, resource limits only; needs sandbox.requireIsolation false. Default: bubblewrap when it works here.',
    },
    network: { type: 'boolean', default: false, description: 'Let the server open network connections (its own network namespace otherwise, with only a loopback device).' },
    mounts: {
      type: 'array',
      default: [],
      description: "Host paths the server sees, at the same place, relative to the config file's folder. The gateway's data folder and credential folders in its HOME (.ssh, .gnupg, …) stay hidden even inside a mount.",
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path'],
        properties: {
          path: { type: 'string', minLength: 1, description: 'File or folder to mount.' },
          mode: { type: 'string', enum: ['ro', 'rw'], default: 'ro', description: 'Read-only or read-write.' },
        },
      },
    },
    mountProgram: {
      type: 'boolean',
      default: true,
      description: "Also mount read-only the program's own files: the project folder (nearest folder with a package.json outside node_modules, else the file's folder) of the command and of each argument naming an existing file, and cwd. false: only the system, the work folder and the mounts.",
    },
    workDir: {
      type: 'string',
      minLength: 1,
      description: "The server's own read-write folder, also its HOME and (without cwd) its working directory; relative to the config file's folder. Default: <server.dataDir>/sandbox/<name>.",
    },
    limits: {
      type: 'object',
      default: {},
      description: 'Resource limits (setrlimit via prlimit), with or without bubblewrap.',
      additionalProperties: false,
      properties: {
        memoryMb: limit(DEFAULT_LIMITS.memoryMb, 'Private writable memory (heap, stacks, anonymous maps; RLIMIT_DATA) per process, in MiB.'),
        cpuSeconds: limit(DEFAULT_LIMITS.cpuSeconds, 'CPU time per process, in seconds; then it is killed (and restarted like any crashed server).'),
        processes: limit(DEFAULT_LIMITS.processes, 'Processes and threads the server may have at once (RLIMIT_NPROC, counted inside its user namespace).'),
        openFiles: limit(DEFAULT_LIMITS.openFiles, 'Open file descriptors per process (RLIMIT_NOFILE).'),
      },
    },
  },
};
