/**
 * The config `portcullis init` writes: two reference MCP servers (filesystem confined to ./sample, memory) and a
 * virtual server aggregating both, so a new user sees the gateway work before writing any config.
 */
import { readFileSync } from 'node:fs';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { DEFAULT_SANDBOX } from '../upstream/sandbox/config.js';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { schemaJson } from './schema.js';

export interface StarterCommand {
  command: string;
  args: string[];
}

/**
 * Run an installed package's bin with `node` (fast, offline, same version as the gateway was tested with);
 * fall back to `npx -y` when the package is not installed next to the gateway.
 */
export function resolveServerCommand(pkg: string): StarterCommand {
  try {
    const pkgJson = createRequire(import.meta.url).resolve(`${pkg}/package.json`);
    const meta = JSON.parse(readFileSync(pkgJson, 'utf8')) as { bin?: string | Record<string, string> };
    const bin = typeof meta.bin === 'string' ? meta.bin : Object.values(meta.bin ?? {})[0];
    if (bin) return { command: 'node', args: [join(dirname(pkgJson), bin)] };
  } catch {
    // not installed: fall through
  }
  return { command: 'npx', args: ['-y', pkg] };
}

/** JSON strings are valid YAML double-quoted scalars: safe for any path. */
const q = (s: string): string => JSON.stringify(s);

const argLines = (args: readonly string[]): string => args.map((a) => `      - ${q(a)}`).join('\n');

/**
 * `memoryFile`: where the memory server keeps its graph, absolute (the server resolves a relative path against its
 * own code, which the sandbox mounts read-only); by default in its own sandbox folder under ./data.
 */
export function renderStarterConfig(fs: StarterCommand, memory: StarterCommand, memoryFile: string): string {
  return `# yaml-language-server: $schema=./portcullis.schema.json
#
# Portcullis gateway configuration. Every key is described in docs/configuration.md (and shown on hover in
# editors with YAML support). String values may use \${VAR} or \${VAR:-default} from the environment; write $\${
# for a literal \${. Relative paths are resolved against this file's folder. Check it with: portcullis check

# The HTTP listener MCP clients connect to.
server:
  host: 127.0.0.1   # loopback; serving beyond it needs server.tls (see docs/tls.md)
  port: 8080        # 0 picks a free port
  dataDir: ./data   # embedded database and generated keys

# How clients authenticate: OAuth 2.1 per the MCP authorization spec. The built-in authorization server (at /oauth)
# signs in local accounts (portcullis user add NAME); on first start the gateway prints a one-time link to choose
# the admin password. MCP clients that speak OAuth (mcp-remote, the Inspector, Claude) are sent to its login page.
# "none" (no authentication at all) is accepted only on a loopback address.
auth:
  mode: oauth

# Where gateway state lives: "sqlite" (a file in dataDir) or "memory" (lost on restart).
storage:
  driver: sqlite

# The MCP servers the gateway fronts, by name (letters, digits and "-").
upstreams:
  # Reads and writes files, confined to ./sample.
  filesystem:
    transport: stdio
    command: ${q(fs.command)}
    args:
${argLines([...fs.args, './sample'])}
    cwd: .          # so that ./sample is relative to this file
    description: Files in ./sample
    # Runs inside bubblewrap (docs/sandbox.md): it sees the system and this folder read-only (never ./data), and
    # ./sample read-write; no network. "portcullis servers show" prints its exact command line.
    sandbox:
      mounts: [{ path: ./sample, mode: rw }]
    # Until you approve the server ("portcullis servers approve NAME", which pins its definitions), its tools are
    # let through with a warning; remove this line after approving to block any unapproved change.
    integrity: { unapproved: warn }

  # A small knowledge graph the model can read and extend.
  memory:
    transport: stdio
    command: ${q(memory.command)}
    args:
${argLines(memory.args)}
    # Only the variables listed here reach the server (plus PATH and HOME). The graph is kept in the server's own
    # sandbox folder (the only place it may write); set MEMORY_FILE_PATH to another absolute path it can write.
    env:
      MEMORY_FILE_PATH: ${q('$' + '{MEMORY_FILE_PATH:-' + memoryFile + '}')}
    description: Knowledge graph memory
    # Until you approve the server ("portcullis servers approve NAME", which pins its definitions), its tools are
    # let through with a warning; remove this line after approving to block any unapproved change.
    integrity: { unapproved: warn }

# Virtual servers aggregate upstreams behind one endpoint; their tools are named {upstream}__{tool}.
virtualServers:
  default:
    upstreams: [filesystem, memory]
    description: Files and memory together

# Who may see and use which servers, tools, resources and prompts (docs/policy.md). Everything not allowed here is
# denied: without this section nobody may use anything. This starter lets administrators (the "admin" group of the
# built-in sign-in) and the local principal (auth.mode "none", portcullis stdio) use everything; give other users
# roles and grants of their own, e.g. read-only file access:
#   roles:
#     reader:
#       readOnly: true
#       allow:
#         - servers: [filesystem]
# Check a decision with: portcullis policy explain --principal 'subject=alice,role=reader' --tool filesystem/read_text_file
policy:
  rules:
    - id: admins-and-local
      effect: allow
      description: administrators and the local principal may use everything
      principals:
        - { roles: [admin] }
        - { groups: [admin] }
        - { methods: [local] }

# JSON logs on stderr: trace, debug, info, warn, error, fatal or silent.
logging:
  level: info
`;
}

/** The starter configuration for a config file in `dir`. */
export function starterConfig(dir: string): string {
  return renderStarterConfig(
    resolveServerCommand('@modelcontextprotocol/server-filesystem'),
    resolveServerCommand('@modelcontextprotocol/server-memory'),
    join(resolve(dir), 'data', 'sandbox', 'memory', 'memory.jsonl'),
  );
}

export const STARTER_CONFIG: string = starterConfig(process.cwd());

const SAMPLE_README = `This folder is served by the "filesystem" upstream in portcullis.yaml.
The MCP server may read and write files here, and nowhere else.
Try asking a connected client to list this folder or to create a note in it.
`;

export interface StarterResult {
  configPath: string;
  /** Files actually written; existing sample files and schema are left alone. */
  written: string[];
}

/** Writes portcullis.yaml (never over an existing one unless force), sample/README.txt and the schema file. */
export async function writeStarter(dir: string, opts: { force?: boolean } = {}): Promise<StarterResult> {
  await mkdir(dir, { recursive: true });
  const configPath = join(dir, 'portcullis.yaml');
  const written: string[] = [];
  const put = async (path: string, text: string, overwrite: boolean): Promise<boolean> => {
    try {
      // "wx" fails if the file exists: no window between an existence check and the write.
      await writeFile(path, text, { flag: overwrite ? 'w' : 'wx' });
      written.push(path);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
  };
  if (!(await put(configPath, starterConfig(dir), opts.force === true))) {
    throw Object.assign(new Error(`${configPath} already exists (use --force to overwrite it)`), { code: 'EEXIST' });
  }
  await put(join(dir, 'portcullis.schema.json'), schemaJson(), opts.force === true);
  await mkdir(join(dir, 'sample'), { recursive: true });
  await put(join(dir, 'sample', 'README.txt'), SAMPLE_README, false);
  // Run as root, the gateway starts sandboxed servers as the unprivileged sandbox.runAs user (docs/sandbox.md):
  // the filesystem server can write to ./sample only if that user owns it.
  if (process.getuid?.() === 0) {
    const { uid, gid } = DEFAULT_SANDBOX.runAs;
    await chown(join(dir, 'sample'), uid, gid);
    await chown(join(dir, 'sample', 'README.txt'), uid, gid).catch(() => {});
  }
  return { configPath, written };
}
