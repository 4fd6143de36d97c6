/** Configuration problems, collected (not thrown one by one) so a user fixes a file in one pass. */

export interface ConfigIssue {
  /** Dotted path into the config, e.g. "upstreams.fs.command" or "virtualServers.default.upstreams[1]"; "" for the whole file. */
  path: string;
  /** 1-based position in the file; absent when the value did not come from the file (defaults, command-line overrides). */
  line?: number;
  column?: number;
  message: string;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  /** The file name as given by the caller, used as the prefix of every formatted line. */
  readonly source: string;

  constructor(source: string, issues: readonly ConfigIssue[], opts: { cause?: unknown } = {}) {
    const sorted = [...issues].sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.column ?? 0) - (b.column ?? 0));
    super(formatIssues(source, sorted), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ConfigError';
    this.source = source;
    this.issues = Object.freeze(sorted);
  }

  /** One issue a line: `file:line:col path: message`, the form editors and terminals turn into links. */
  format(): string {
    return formatIssues(this.source, this.issues);
  }
}

function formatIssues(source: string, issues: readonly ConfigIssue[]): string {
  return issues
    .map((i) => {
      const where = i.line === undefined ? source : `${source}:${i.line}:${i.column ?? 1}`;
      return i.path ? `${where} ${i.path}: ${i.message}` : `${where} ${i.message}`;
    })
    .join('\n');
}

/** Branch on the name, not instanceof: the CLI and the gateway may load different copies of this module. */
export function isConfigError(e: unknown): e is ConfigError {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'ConfigError' && Array.isArray((e as { issues?: unknown }).issues);
}
