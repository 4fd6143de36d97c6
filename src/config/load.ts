/**
 * portcullis.yaml -> GatewayConfig: parse (keeping positions), interpolate ${VAR}, validate and fill defaults,
 * cross-check, resolve relative paths against the file's folder, freeze. Every problem found on the way is
 * reported at once, with its line and column, in a ConfigError.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { crossCheck } from './checks.js';
import { ConfigError, type ConfigIssue } from './error.js';
import { interpolateDocument, type Env } from './interpolate.js';
import { attachSecretPositions } from './secretRefs.js';
import { recordProvenance } from './provenance.js';
import { formatPath, locate, type PathIssue, type Segment } from './paths.js';
import type { GatewayConfig } from './types.js';
import { validateSchema } from './validate.js';

export { ConfigError, isConfigError, type ConfigIssue } from './error.js';

/** A value set from outside the file (a command-line flag); validated like the file, reported with its origin. */
export interface ConfigOverride {
  path: readonly Segment[];
  value: unknown;
  /** Shown in messages, e.g. "--port". */
  origin: string;
}

export interface ParseOptions {
  /** File name used in messages and, unless baseDir is given, as the base of relative paths. */
  source?: string;
  /** Variables for ${VAR}; defaults to process.env. */
  env?: Env;
  baseDir?: string;
  overrides?: readonly ConfigOverride[];
}

export async function loadConfigFile(path: string, opts: Omit<ParseOptions, 'source'> = {}): Promise<GatewayConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : `cannot read file (${(e as Error).message})`;
    throw new ConfigError(path, [{ path: '', message: reason }], { cause: e });
  }
  return parseConfig(text, { ...opts, source: path });
}

export function parseConfig(text: string, opts: ParseOptions = {}): GatewayConfig {
  const source = opts.source ?? '<config>';
  const baseDir = resolve(opts.baseDir ?? (opts.source ? dirname(opts.source) : '.'));
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });

  if (doc.errors.length) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => {
        const { line, col } = lc.linePos(e.pos[0]);
        return { path: '', line, column: col, message: `YAML: ${e.message}` };
      }),
    );
  }

  const { issues: envIssues, substituted, secretPositions } = interpolateDocument(doc, lc, opts.env ?? process.env);
  if (envIssues.length) throw new ConfigError(source, envIssues);

  const data: unknown = doc.toJS() ?? {};
  const overridden = new Map<string, ConfigOverride>();
  for (const o of opts.overrides ?? []) {
    setPath(data, o.path, o.value);
    overridden.set(formatPath(o.path), o);
  }

  const toIssue = (i: PathIssue): ConfigIssue => {
    const path = formatPath(i.segs);
    const o = overridden.get(path);
    if (o) return { path, message: `${i.message} (from ${o.origin})` };
    return { path, ...locate(doc, lc, i.segs, { key: i.key }), message: i.message };
  };

  // A template's length says nothing about its value's: the vault checks the value (src/vault/resolve.ts).
  const schemaIssues = validateSchema(data, substituted).filter((i) => !(secretPositions.has(formatPath(i.segs)) && /^must (be at least \d+ characters|not be empty)$/.test(i.message)));
  if (schemaIssues.length) throw new ConfigError(source, schemaIssues.map(toIssue));

  const config = data as GatewayConfig;
  const crossIssues = crossCheck(config);
  if (crossIssues.length) throw new ConfigError(source, crossIssues.map(toIssue));

  recordProvenance(config, { substituted, asWritten: structuredClone(config) });
  resolvePaths(config, baseDir);
  const frozen = deepFreeze(config);
  attachSecretPositions(frozen, source, secretPositions);
  return frozen;
}

function resolvePaths(cfg: GatewayConfig, baseDir: string): void {
  cfg.server.dataDir = resolve(baseDir, cfg.server.dataDir);
  const sqlitePath = (cfg.storage.sqlite as { path?: string }).path;
  cfg.storage.sqlite.path = sqlitePath === undefined ? join(cfg.server.dataDir, 'portcullis.db') : resolve(baseDir, sqlitePath);
  if (cfg.vault.keyFile !== undefined) cfg.vault.keyFile = resolve(baseDir, cfg.vault.keyFile);
  const tls = cfg.server.tls;
  if (tls) {
    tls.cert = resolve(baseDir, tls.cert);
    tls.key = resolve(baseDir, tls.key);
    if (tls.clientCa !== undefined) tls.clientCa = resolve(baseDir, tls.clientCa);
  }
  for (const up of Object.values(cfg.upstreams)) {
    if (up.transport === 'stdio' && up.cwd !== undefined) up.cwd = resolve(baseDir, up.cwd);
    if (up.transport === 'stdio' && up.sandbox) {
      if (up.sandbox.workDir !== undefined) up.sandbox.workDir = resolve(baseDir, up.sandbox.workDir);
      for (const m of up.sandbox.mounts) m.path = resolve(baseDir, m.path);
    }
    if (up.transport !== 'stdio' && up.tls) {
      for (const k of ['ca', 'cert', 'key'] as const) if (up.tls[k] !== undefined) up.tls[k] = resolve(baseDir, up.tls[k]);
    }
  }
  // A custom guardrail named by path ("./dlp.mjs") is found next to the config; a bare name is a package.
  for (const g of cfg.guardrails.custom) if (g.module.startsWith('.') || g.module.startsWith('/')) g.module = resolve(baseDir, g.module);
}

/** Creates intermediate mappings, so an override works on a file that lacks the section. */
function setPath(data: unknown, path: readonly Segment[], value: unknown): void {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return; // the schema reports the file's shape
  let cur = data as Record<string | number, unknown>;
  path.forEach((seg, i) => {
    if (i === path.length - 1) cur[seg] = value;
    else {
      const next = cur[seg];
      cur = (next !== null && typeof next === 'object' ? next : (cur[seg] = {})) as Record<string | number, unknown>;
    }
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
