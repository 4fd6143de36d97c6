/**
 * The `portcullis` command line. Commands are imported lazily so `check` and `init` start fast and never load
 * the gateway. Exit codes: 0 success, 1 failure (invalid config, runtime error), 2 usage error.
 */
import { isConfigError } from '../config/error.js';
import { closest } from '../config/suggest.js';
import { COMMAND_USAGE, USAGE, UsageError, version } from './usage.js';

type Command = { run(args: string[]): Promise<number> };

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: () => import('./serve.js'),
  stdio: () => import('./stdio.js'),
  init: () => import('./init.js'),
  check: () => import('./check.js'),
  sessions: () => import('./sessions.js'),
  approvals: () => import('./approvals.js'),
  certs: () => import('./certs.js'),
  user: () => import('./user.js'),
  policy: () => import('./policy.js'),
  servers: () => import('./servers.js'),
  audit: () => import('./audit.js'),
  measure: () => import('./measure.js'),
  attest: () => import('./attest.js'),
  vault: () => import('./vault.js'),
  credentials: () => import('./credentials.js'),
};

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = args[0];
    process.stdout.write((topic !== undefined && COMMAND_USAGE[topic]) || USAGE);
    return 0;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`portcullis ${version()}\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    const guess = closest(name, Object.keys(COMMANDS));
    return usageError(`unknown command "${name}"${guess ? ` (did you mean "${guess}"?)` : ''}`);
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(COMMAND_USAGE[name] ?? USAGE);
    return 0;
  }
  try {
    return await (await load()).run(args);
  } catch (e) {
    if (isConfigError(e)) {
      process.stderr.write(e.format() + '\n');
      return 1;
    }
    if (e instanceof UsageError || isParseArgsError(e)) return usageError((e as Error).message, name);
    process.stderr.write(`portcullis ${name}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

function usageError(message: string, command?: string): number {
  const help = command ? `portcullis ${command} --help` : 'portcullis --help';
  process.stderr.write(`portcullis: ${message}\nRun "${help}" for usage.\n`);
  return 2;
}

function isParseArgsError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
