/**
 * Runs the official MCP conformance suite (`@modelcontextprotocol/conformance`,
 * pinned in tools/conformance) against one MCP endpoint, for one frozen
 * requirement set, and judges the outcome.
 *
 *   tsx scripts/conformance.ts --url URL --requirements 2025-11-25|2026-07-28
 *       [--expected-failures FILE] [--label NAME] [--timeout MS] [--quiet]
 *
 * The suite needs Node >= 22, so it runs on the Node 22 binary installed in
 * tools/conformance (`npm run conformance:install`, i.e. `npm ci --prefix tools/conformance`).
 * Raw results (one checks.json per scenario) land in `.conformance-results/<label>/`,
 * next to `run.log` (the suite's output) and `summary.json` (this script's verdict).
 *
 * Verdict: only the scenarios the requirement set scores count (the set's
 * `not_scored` entries run and are reported, but never fail the run). The run
 * fails on any failing scored check not covered by an expected-failures entry,
 * on any expected-failures entry that no longer fails (stale), and on entries
 * that name scenarios or checks the run cannot judge. A check fails when its
 * status is FAILURE; WARNING (a SHOULD), INFO and SKIPPED do not fail.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { parse as parseYaml } from 'yaml';

export const REQUIREMENT_SETS = ['2025-11-25', '2026-07-28'] as const;
export type RequirementSet = (typeof REQUIREMENT_SETS)[number];

export const CONFORMANCE_VERSION = '0.2.0-alpha.12';
export const INSTALL_HINT = 'run `npm run conformance:install` (npm ci --prefix tools/conformance)';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_TOOLS_DIR = join(REPO_ROOT, 'tools', 'conformance');
export const DEFAULT_RESULTS_ROOT = join(REPO_ROOT, '.conformance-results');
export const DEFAULT_EXPECTED_FAILURES = join(REPO_ROOT, 'conformance', 'expected-failures.yaml');

export type CheckStatus = 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';

export interface Check {
  id: string;
  name?: string;
  status: CheckStatus;
  errorMessage?: string;
}

export interface ExpectedFailure {
  scenario: string;
  /** Only this check may fail; the scenario's other checks stay enforced. */
  check?: string;
  reason: string;
  spec: string;
}

export interface ScenarioOutcome {
  scenario: string;
  scored: boolean;
  /** Why the set runs it without scoring (extension, added-after-release, pending). */
  notScoredReason?: string;
  passed: number;
  failed: number;
  warnings: number;
  /** The checks that failed (status FAILURE). */
  failures: Array<{ id: string; message?: string }>;
  /** The checks that only warned (status WARNING: a SHOULD-level requirement). */
  warningChecks: Array<{ id: string; message?: string }>;
  resultDir?: string;
}

export interface ConformanceRunOptions {
  url: string;
  requirements: RequirementSet;
  /** YAML file of expected failures; `null` for none. Default: conformance/expected-failures.yaml when present. */
  expectedFailuresFile?: string | null;
  /** Results go to `<resultsRoot>/<label>`; default the requirement set. */
  label?: string;
  /** Per-scenario timeout handed to the suite (ms). Default 30000. */
  scenarioTimeoutMs?: number;
  toolsDir?: string;
  resultsRoot?: string;
  /** Stream the suite's output to this process's stdout. Default false. */
  echo?: boolean;
}

export interface ConformanceRunResult {
  ok: boolean;
  url: string;
  requirements: RequirementSet;
  label: string;
  resultsDir: string;
  /** The suite's own exit code (0 = its own verdict was a pass). */
  suiteExitCode: number | null;
  scenarios: ScenarioOutcome[];
  scored: { total: number; passed: number; failed: number };
  /** `<scenario>` or `<scenario>:<check>` failing without an expected-failures entry. */
  unexpectedFailures: string[];
  /** Expected-failure entries that failed as expected. */
  expectedFailures: string[];
  /** Expected-failure entries that now pass: remove them. */
  staleEntries: string[];
  /** Anything else that makes the run untrustworthy (bad config, missing results, suite crash). */
  problems: string[];
}

/** Paths of the pinned Node 22 binary and the suite's CLI; throws with the install hint when absent. */
export function conformanceTools(toolsDir: string = DEFAULT_TOOLS_DIR): { node: string; cli: string; requirementsDir: string } {
  const node = join(toolsDir, 'node_modules', '.bin', 'node');
  const pkgDir = join(toolsDir, 'node_modules', '@modelcontextprotocol', 'conformance');
  const cli = join(pkgDir, 'dist', 'index.js');
  if (!existsSync(node) || !existsSync(cli)) {
    throw new Error(`The conformance suite is not installed in ${toolsDir}: ${INSTALL_HINT}`);
  }
  const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version?: string }).version;
  if (version !== CONFORMANCE_VERSION) {
    throw new Error(`tools/conformance has @modelcontextprotocol/conformance ${version}, expected ${CONFORMANCE_VERSION}: ${INSTALL_HINT}`);
  }
  return { node, cli, requirementsDir: join(pkgDir, 'requirements') };
}

/** The scenarios a requirement set scores, and those it runs without scoring. */
export function loadRequirementSet(
  requirementsDir: string,
  revision: RequirementSet
): { scored: string[]; notScored: Map<string, string> } {
  const doc = parseYaml(readFileSync(join(requirementsDir, `${revision}.yaml`), 'utf8')) as {
    server?: string[];
    not_scored?: Array<{ scenario: string; leg: string; reason: string }>;
  };
  const notScored = new Map<string, string>();
  for (const entry of doc.not_scored ?? []) if (entry.leg === 'server') notScored.set(entry.scenario, entry.reason);
  return { scored: doc.server ?? [], notScored };
}

/** Reads the expected-failures file: a map from requirement set to entries. */
export function loadExpectedFailures(file: string, revision: RequirementSet): ExpectedFailure[] {
  const doc: unknown = parseYaml(readFileSync(file, 'utf8'));
  if (doc === null || doc === undefined) return [];
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error(`${file}: expected a mapping of requirement set to entries`);
  for (const key of Object.keys(doc)) {
    if (!(REQUIREMENT_SETS as readonly string[]).includes(key)) throw new Error(`${file}: unknown requirement set '${key}'`);
  }
  const list = (doc as Record<string, unknown>)[revision] ?? [];
  if (!Array.isArray(list)) throw new Error(`${file}: '${revision}' must be a list`);
  return list.map((raw, index): ExpectedFailure => {
    const where = `${file}: ${revision}[${index}]`;
    if (typeof raw !== 'object' || raw === null) throw new Error(`${where}: expected a mapping`);
    const entry = raw as Record<string, unknown>;
    for (const field of ['scenario', 'reason', 'spec'] as const) {
      if (typeof entry[field] !== 'string' || (entry[field] as string).trim() === '') {
        throw new Error(`${where}: '${field}' is required (an entry must say why the suite is wrong and quote the spec)`);
      }
    }
    if (entry.check !== undefined && typeof entry.check !== 'string') throw new Error(`${where}: 'check' must be a string`);
    return {
      scenario: entry.scenario as string,
      ...(typeof entry.check === 'string' ? { check: entry.check } : {}),
      reason: entry.reason as string,
      spec: entry.spec as string
    };
  });
}

const entryName = (entry: { scenario: string; check?: string }): string =>
  entry.check === undefined ? entry.scenario : `${entry.scenario}:${entry.check}`;

/** Judges scenario outcomes against the scored set and the expected failures. */
export function judge(
  scenarios: ScenarioOutcome[],
  checksByScenario: Map<string, Check[]>,
  expected: ExpectedFailure[]
): Pick<ConformanceRunResult, 'unexpectedFailures' | 'expectedFailures' | 'staleEntries' | 'problems'> {
  const unexpectedFailures: string[] = [];
  const expectedFailures: string[] = [];
  const staleEntries: string[] = [];
  const problems: string[] = [];
  const byName = new Map(scenarios.map(outcome => [outcome.scenario, outcome]));

  for (const entry of expected) {
    const outcome = byName.get(entry.scenario);
    if (outcome === undefined) problems.push(`expected failure ${entryName(entry)} names a scenario this requirement set does not run`);
    else if (!outcome.scored) problems.push(`expected failure ${entryName(entry)} names a scenario the set does not score`);
  }

  for (const outcome of scenarios.filter(s => s.scored)) {
    const entries = expected.filter(entry => entry.scenario === outcome.scenario);
    const wholesale = entries.find(entry => entry.check === undefined);
    if (wholesale !== undefined) {
      if (outcome.failed > 0) expectedFailures.push(entryName(wholesale));
      else staleEntries.push(entryName(wholesale));
      continue;
    }
    const perCheck = new Map(entries.map(entry => [entry.check as string, entry]));
    for (const failure of outcome.failures) {
      const entry = perCheck.get(failure.id);
      if (entry !== undefined) {
        if (!expectedFailures.includes(entryName(entry))) expectedFailures.push(entryName(entry));
      } else {
        unexpectedFailures.push(`${outcome.scenario}:${failure.id}${failure.message ? ` — ${failure.message}` : ''}`);
      }
    }
    // A per-check entry is stale once that check is observed passing; a check
    // that is absent or skipped (a prerequisite failed first) is tolerated.
    const checks = checksByScenario.get(outcome.scenario) ?? [];
    for (const entry of perCheck.values()) {
      const observed = checks.filter(check => check.id === entry.check);
      if (observed.length > 0 && observed.every(check => check.status === 'SUCCESS')) staleEntries.push(entryName(entry));
    }
  }
  return { unexpectedFailures, expectedFailures, staleEntries, problems };
}

/** Maps each scenario to the result directory the suite reported for it. */
export function parseResultDirs(output: string): Map<string, string> {
  const dirs = new Map<string, string>();
  let current: string | undefined;
  for (const line of output.split(/\r?\n/)) {
    const started = /^=== Running scenario: (.+) ===$/.exec(line.trim());
    if (started) {
      current = started[1];
      continue;
    }
    const saved = /^Results saved to (.+)$/.exec(line.trim());
    if (saved && current !== undefined) dirs.set(current, saved[1] as string);
  }
  return dirs;
}

/** The suite's own summary lines: `✓ name: N passed, M failed`. */
export function parseSummary(output: string): Map<string, { passed: number; failed: number }> {
  const summary = new Map<string, { passed: number; failed: number }>();
  const start = output.lastIndexOf('=== SUMMARY ===');
  if (start < 0) return summary;
  for (const line of output.slice(start).split(/\r?\n/)) {
    const match = /^[✓✗] (\S+): (\d+) passed, (\d+) failed$/.exec(line.trim());
    if (match) summary.set(match[1] as string, { passed: Number(match[2]), failed: Number(match[3]) });
  }
  return summary;
}

function outcomeOf(scenario: string, checks: Check[], scored: boolean, notScoredReason: string | undefined, resultDir?: string): ScenarioOutcome {
  const failing = checks.filter(check => check.status === 'FAILURE');
  const warning = checks.filter(check => check.status === 'WARNING');
  return {
    scenario,
    scored,
    ...(notScoredReason !== undefined ? { notScoredReason } : {}),
    passed: checks.filter(check => check.status === 'SUCCESS').length,
    failed: failing.length,
    warnings: warning.length,
    failures: failing.map(check => ({ id: check.id, ...(check.errorMessage ? { message: check.errorMessage } : {}) })),
    warningChecks: warning.map(check => ({ id: check.id, ...(check.errorMessage ? { message: check.errorMessage } : {}) })),
    ...(resultDir !== undefined ? { resultDir } : {})
  };
}

function runSuite(
  node: string,
  args: string[],
  options: { echo: boolean; timeoutMs: number; cwd: string }
): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  return new Promise((resolvePromise, reject) => {
    const env = { ...process.env };
    // The parent may run under a TypeScript loader; the suite is plain JS on Node 22.
    delete env.NODE_OPTIONS;
    const child = spawn(node, args, { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let timedOut = false;
    const collect = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      output += text;
      if (options.echo) process.stdout.write(text);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    }, options.timeoutMs);
    child.once('error', error => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', code => {
      clearTimeout(timer);
      resolvePromise({ code, output, timedOut });
    });
  });
}

/** Runs one requirement set against `url` and judges it. Never throws for a failing server; throws when the suite is not installed or the configuration is invalid. */
export async function runConformance(options: ConformanceRunOptions): Promise<ConformanceRunResult> {
  if (!(REQUIREMENT_SETS as readonly string[]).includes(options.requirements)) {
    throw new Error(`--requirements must be one of ${REQUIREMENT_SETS.join(', ')} (got ${options.requirements})`);
  }
  new URL(options.url); // throws on a malformed URL
  const tools = conformanceTools(options.toolsDir);
  const label = options.label ?? options.requirements;
  if (!/^[A-Za-z0-9._-]+$/.test(label)) throw new Error(`--label may only contain letters, digits, '.', '_' and '-' (got ${label})`);
  const resultsDir = join(options.resultsRoot ?? DEFAULT_RESULTS_ROOT, label);
  const suiteResultsDir = join(resultsDir, 'scenarios');
  const scenarioTimeoutMs = options.scenarioTimeoutMs ?? 30_000;

  const expectedFile =
    options.expectedFailuresFile === undefined
      ? existsSync(DEFAULT_EXPECTED_FAILURES)
        ? DEFAULT_EXPECTED_FAILURES
        : null
      : options.expectedFailuresFile;
  const expected = expectedFile === null ? [] : loadExpectedFailures(expectedFile, options.requirements);
  const requirementSet = loadRequirementSet(tools.requirementsDir, options.requirements);
  const planned = [...requirementSet.scored, ...requirementSet.notScored.keys()];

  await rm(resultsDir, { recursive: true, force: true });
  await mkdir(suiteResultsDir, { recursive: true });

  // The suite evaluates the same baseline itself; its verdict is cross-checked below.
  const args = [tools.cli, 'server', '--url', options.url, '--requirements', options.requirements];
  args.push('--timeout', String(scenarioTimeoutMs), '-o', suiteResultsDir);
  if (expected.length > 0) {
    const baselineFile = join(resultsDir, 'suite-baseline.yaml');
    await writeFile(baselineFile, `server:\n${expected.map(entry => `  - '${entryName(entry)}'`).join('\n')}\n`);
    args.push('--expected-failures', baselineFile);
  }

  const run = await runSuite(tools.node, args, {
    echo: options.echo ?? false,
    cwd: resultsDir,
    timeoutMs: planned.length * (scenarioTimeoutMs + 5_000) + 60_000
  });
  await writeFile(join(resultsDir, 'run.log'), run.output);

  const problems: string[] = [];
  if (run.timedOut) problems.push('the suite did not finish in time and was stopped');
  const dirs = parseResultDirs(run.output);
  const summary = parseSummary(run.output);
  const checksByScenario = new Map<string, Check[]>();
  const scenarios: ScenarioOutcome[] = [];
  for (const scenario of planned) {
    const scored = !requirementSet.notScored.has(scenario);
    const dir = dirs.get(scenario) ?? findResultDir(suiteResultsDir, scenario);
    let checks: Check[] | undefined;
    if (dir !== undefined && existsSync(join(dir, 'checks.json'))) {
      checks = JSON.parse(await readFile(join(dir, 'checks.json'), 'utf8')) as Check[];
    } else if (summary.has(scenario)) {
      const counts = summary.get(scenario)!;
      checks =
        counts.failed > 0
          ? [{ id: scenario, status: 'FAILURE', errorMessage: 'the suite could not run the scenario (see run.log)' }]
          : [];
    }
    if (checks === undefined) {
      if (scored) problems.push(`no result for scored scenario ${scenario}`);
      checks = [{ id: scenario, status: 'FAILURE', errorMessage: 'no result recorded' }];
    }
    checksByScenario.set(scenario, checks);
    scenarios.push(outcomeOf(scenario, checks, scored, requirementSet.notScored.get(scenario), dir));
    const reported = summary.get(scenario);
    const outcome = scenarios[scenarios.length - 1]!;
    if (reported !== undefined && reported.failed > 0 !== outcome.failed > 0) {
      problems.push(`${scenario}: the suite's summary (${reported.failed} failed) disagrees with its checks.json (${outcome.failed} failed)`);
    }
  }

  const verdict = judge(scenarios, checksByScenario, expected);
  problems.push(...verdict.problems);
  const scoredOutcomes = scenarios.filter(s => s.scored);
  const ownPass = verdict.unexpectedFailures.length === 0 && verdict.staleEntries.length === 0;
  if (!run.timedOut && (run.code === 0) !== ownPass) {
    problems.push(`the suite exited ${run.code} but this runner's verdict is ${ownPass ? 'pass' : 'fail'}`);
  }

  const result: ConformanceRunResult = {
    ok: ownPass && problems.length === 0,
    url: options.url,
    requirements: options.requirements,
    label,
    resultsDir,
    suiteExitCode: run.code,
    scenarios,
    scored: {
      total: scoredOutcomes.length,
      passed: scoredOutcomes.filter(s => s.failed === 0).length,
      failed: scoredOutcomes.filter(s => s.failed > 0).length
    },
    unexpectedFailures: verdict.unexpectedFailures,
    expectedFailures: verdict.expectedFailures,
    staleEntries: verdict.staleEntries,
    problems
  };
  await writeFile(join(resultsDir, 'summary.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/** Fallback when the output did not name a result dir: the suite names them `server-<scenario>-<timestamp>`. */
function findResultDir(root: string, scenario: string): string | undefined {
  if (!existsSync(root)) return undefined;
  const prefix = `server-${scenario.replace(/[^A-Za-z0-9_-]/g, '-')}-`;
  const matches = readdirSync(root)
    .filter(name => name.startsWith(prefix) && /^\d{4}-/.test(name.slice(prefix.length)))
    .sort();
  const last = matches[matches.length - 1];
  return last === undefined ? undefined : join(root, last);
}

/** A human-readable report of a run. */
export function formatReport(result: ConformanceRunResult): string {
  const lines: string[] = [];
  lines.push(`MCP conformance ${result.requirements} against ${result.url} [${result.label}]`);
  for (const outcome of result.scenarios) {
    const mark = outcome.failed > 0 ? '✗' : '✓';
    const tag = outcome.scored ? '' : ` (not scored: ${outcome.notScoredReason ?? 'unknown'})`;
    const warn = outcome.warnings > 0 ? `, ${outcome.warnings} warning(s)` : '';
    lines.push(`  ${mark} ${outcome.scenario}: ${outcome.passed} passed, ${outcome.failed} failed${warn}${tag}`);
    if (outcome.scored) {
      for (const failure of outcome.failures) lines.push(`      FAILURE ${failure.id}${failure.message ? `: ${failure.message}` : ''}`);
      for (const warning of outcome.warningChecks) lines.push(`      WARNING ${warning.id}${warning.message ? `: ${warning.message}` : ''}`);
    }
  }
  const section = (title: string, items: string[]): void => {
    if (items.length === 0) return;
    lines.push(title);
    for (const item of items) lines.push(`  - ${item}`);
  };
  section('Unexpected failures:', result.unexpectedFailures);
  section('Expected failures (suite defects, see conformance/expected-failures.yaml):', result.expectedFailures);
  section('Stale expected-failure entries (they pass now; remove them):', result.staleEntries);
  section('Problems:', result.problems);
  lines.push(`Results: ${result.resultsDir}`);
  lines.push(`Scored scenarios: ${result.scored.passed}/${result.scored.total} passing — ${result.ok ? 'PASS' : 'FAIL'}`);
  // The closing line counts everything that fails the run, not only failing scenarios.
  const failingScenarios = new Set(result.unexpectedFailures.map(item => item.split(':')[0]));
  const failed = failingScenarios.size + result.staleEntries.length + result.problems.length;
  lines.push(`conformance: ${result.scored.total - failingScenarios.size} passed, ${failed} failed`);
  return lines.join('\n');
}

async function main(): Promise<number> {
  const usage =
    'usage: tsx scripts/conformance.ts --url URL --requirements 2025-11-25|2026-07-28 [--expected-failures FILE|none] [--label NAME] [--timeout MS] [--quiet]';
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      requirements: { type: 'string' },
      'expected-failures': { type: 'string' },
      label: { type: 'string' },
      timeout: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false }
    },
    strict: true
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (values.url === undefined || values.requirements === undefined) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeout !== undefined && (!Number.isInteger(timeout) || timeout <= 0)) {
    process.stderr.write(`--timeout must be a positive number of milliseconds\n${usage}\n`);
    return 2;
  }
  const expectedFlag = values['expected-failures'];
  const result = await runConformance({
    url: values.url,
    requirements: values.requirements as RequirementSet,
    ...(expectedFlag !== undefined ? { expectedFailuresFile: expectedFlag === 'none' ? null : resolve(expectedFlag) } : {}),
    ...(values.label !== undefined ? { label: values.label } : {}),
    ...(timeout !== undefined ? { scenarioTimeoutMs: timeout } : {}),
    echo: !values.quiet
  });
  process.stdout.write(`\n${formatReport(result)}\n`);
  return result.ok ? 0 : 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    code => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(2);
    }
  );
}
