/**
 * Measures the integrity detectors against labelled data instead of asserting they work:
 *  - the tool-drift corpus (test/corpus/tool-drift-corpus, copied from ../shared/data): every malicious twin must be blocked, every benign
 *    twin must stay quiet (allow or monitor, never block), every "undeclared" twin must be surfaced for review
 *    (monitor) without being blocked — the README's definitions;
 *  - BIPIA indirect prompt-injection strings (test/corpus/bipia) inside a tool result, plain and hidden
 *    (Unicode tags, zero-width splitting, fullwidth and mathematical-bold letters);
 *  - false positives of the content detectors on real documentation: the README files of installed packages.
 *
 * `npx tsx scripts/integrity-corpus.ts` prints the figures and exits non-zero if any drift-corpus case is
 * misclassified or a hidden variant of a BIPIA string escapes where the plain string is caught.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { toolItem, type McpTool } from '../src/integrity/definitions.js';
import { compareItems } from '../src/integrity/drift.js';
import { SEVERITIES, type Finding, type Severity } from '../src/integrity/finding.js';
import { createScanner, type Scanner } from '../src/integrity/scanner.js';
import { admissionVerdict, type Action, type Verdict } from '../src/integrity/verdict.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** Copies of ../shared/data (see test/corpus/README.md): tests run from any checkout. */
export const SHARED_DATA = join(ROOT, 'test', 'corpus');

// ---- tool-drift corpus -------------------------------------------------------------------------------------------

type Group = 'malicious' | 'benign' | 'undeclared';
const EXPECTED: Record<Group, readonly Action[]> = { malicious: ['block'], benign: ['allow', 'monitor'], undeclared: ['monitor'] };

export interface DriftCaseResult {
  file: string;
  group: Group;
  id: string;
  labelled: string;
  verdict: Verdict;
  classification: string;
  ok: boolean;
}

interface CorpusCase { intent: string; baseline: McpTool; twin: McpTool; verified_verdict: { action: string } }

export function evaluateDriftCorpus(scanner: Scanner = createScanner()): DriftCaseResult[] {
  const dir = join(SHARED_DATA, 'tool-drift-corpus');
  const results: DriftCaseResult[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const corpus = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Partial<Record<Group, Record<string, CorpusCase | string>>>;
    for (const group of ['malicious', 'benign', 'undeclared'] as const) {
      for (const [id, c] of Object.entries(corpus[group] ?? {})) {
        if (typeof c !== 'object' || id.startsWith('_')) continue;
        const pinned = toolItem(c.baseline);
        const current = toolItem(c.twin);
        const drift = compareItems(pinned, current);
        const verdict = admissionVerdict(drift, scanner.scanDefinition(current));
        results.push({ file, group, id, labelled: c.verified_verdict.action, verdict, classification: drift.classification, ok: EXPECTED[group].includes(verdict.action) });
      }
    }
  }
  return results;
}

// ---- BIPIA --------------------------------------------------------------------------------------------------------

export type Variant = 'plain' | 'tag-smuggled' | 'zero-width' | 'fullwidth' | 'math-bold';
export const VARIANTS: readonly Variant[] = ['plain', 'tag-smuggled', 'zero-width', 'fullwidth', 'math-bold'];

/** Where the attack sits: the body of an e-mail a mail tool returned. */
function inCarrier(attack: string): string {
  return `From: alex@example.org\nSubject: Q3 numbers\n\nHi Sam,\n\nThanks for sending over the Q3 numbers; the revenue table looks right to me. ${attack}\n\nSee you on Thursday,\nAlex`;
}

const toTags = (s: string) => [...s.replace(/\s/g, ' ')].map((c) => String.fromCodePoint(0xe0000 + c.charCodeAt(0))).join('');
const mapLetters = (s: string, f: (c: number) => number | undefined) => [...s].map((ch) => { const to = f(ch.charCodeAt(0)); return to === undefined ? ch : String.fromCodePoint(to); }).join('');

export function variantOf(attack: string, variant: Variant): string {
  switch (variant) {
    case 'plain': return inCarrier(attack);
    // The visible text is harmless; the attack is only in tag characters.
    case 'tag-smuggled': return inCarrier(`Best wishes to the team.${toTags(` ${attack}`)}`);
    case 'zero-width': return inCarrier(attack.replace(/([A-Za-z])(?=[A-Za-z])/g, '$1\u200b'));
    case 'fullwidth': return inCarrier(mapLetters(attack, (c) => (c === 0x20 ? 0x3000 : c > 0x20 && c < 0x7f ? c + 0xfee0 : undefined)));
    case 'math-bold': return inCarrier(mapLetters(attack, (c) => (c >= 65 && c <= 90 ? 0x1d400 + c - 65 : c >= 97 && c <= 122 ? 0x1d41a + c - 97 : undefined)));
  }
}

export interface BipiaResult {
  set: string;
  category: string;
  index: number;
  /** A prompt-injection finding (any severity). */
  detected: Record<Variant, boolean>;
  worst: Record<Variant, Severity | undefined>;
  /** Any finding of medium or higher from any rule (e.g. hidden-characters on tag smuggling). */
  flagged: Record<Variant, boolean>;
}

export function evaluateBipia(scanner: Scanner = createScanner()): BipiaResult[] {
  const results: BipiaResult[] = [];
  for (const set of ['text', 'code'] as const) {
    const data = JSON.parse(readFileSync(join(SHARED_DATA, 'bipia', `${set}_attack_train.json`), 'utf8')) as Record<string, string[]>;
    for (const [category, attacks] of Object.entries(data)) {
      attacks.forEach((attack, index) => {
        const detected = {} as Record<Variant, boolean>;
        const worst = {} as Record<Variant, Severity | undefined>;
        const flagged = {} as Record<Variant, boolean>;
        for (const v of VARIANTS) {
          const findings = scanner.scanContent(variantOf(attack, v), 'result');
          const injection = findings.filter((f) => f.rule === 'prompt-injection');
          detected[v] = injection.length > 0;
          worst[v] = worstOf(injection);
          flagged[v] = findings.some((f) => f.severity !== 'low');
        }
        results.push({ set, category, index, detected, worst, flagged });
      });
    }
  }
  return results;
}

function worstOf(findings: readonly Finding[]): Severity | undefined {
  return findings.reduce<Severity | undefined>((w, f) => (w === undefined || SEVERITIES.indexOf(f.severity) > SEVERITIES.indexOf(w) ? f.severity : w), undefined);
}

// ---- false positives on real documentation -------------------------------------------------------------------------

/** README files of the installed packages (two levels deep, sorted): real prose, code and examples. */
export function readmeCorpus(): { path: string; text: string }[] {
  const nm = join(ROOT, 'node_modules');
  const found: string[] = [];
  const visit = (dir: string, depth: number) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (/^readme\.md$/i.test(name) && statSync(p).isFile()) found.push(p);
      else if (depth > 0 && !name.startsWith('.') && statSync(p).isDirectory()) visit(p, depth - 1);
    }
  };
  visit(nm, 2);
  const docs = join(nm, '@modelcontextprotocol', 'server-everything', 'dist', 'docs');
  for (const name of readdirSync(docs).sort()) found.push(join(docs, name));
  return found.map((p) => ({ path: p.slice(nm.length + 1), text: readFileSync(p, 'utf8') }));
}

export interface ContentFalsePositives { documents: number; bytes: number; byRule: Map<string, Record<Severity, number>>; injectionDocs: { path: string; findings: Finding[] }[] }

export function evaluateReadmes(scanner: Scanner = createScanner()): ContentFalsePositives {
  const docs = readmeCorpus();
  const byRule = new Map<string, Record<Severity, number>>();
  const injectionDocs: { path: string; findings: Finding[] }[] = [];
  for (const doc of docs) {
    const findings = scanner.scanContent({ content: [{ type: 'text', text: doc.text }] }, 'result');
    for (const f of findings) {
      const counts = byRule.get(f.rule) ?? { low: 0, medium: 0, high: 0, critical: 0 };
      counts[f.severity]++;
      byRule.set(f.rule, counts);
    }
    const injection = findings.filter((f) => f.rule === 'prompt-injection');
    if (injection.length) injectionDocs.push({ path: doc.path, findings: injection });
  }
  return { documents: docs.length, bytes: docs.reduce((n, d) => n + d.text.length, 0), byRule, injectionDocs };
}

// ---- report --------------------------------------------------------------------------------------------------------

const pct = (n: number, d: number) => `${n}/${d}${d ? ` (${Math.round((100 * n) / d)}%)` : ''}`;

function printDrift(results: DriftCaseResult[]): number {
  console.log('Tool-drift corpus (malicious must block; benign allow/monitor; undeclared monitor)');
  const groups = new Map<string, DriftCaseResult[]>();
  for (const r of results) groups.set(`${r.file.replace('-cases.json', '')} ${r.group}`, [...(groups.get(`${r.file.replace('-cases.json', '')} ${r.group}`) ?? []), r]);
  for (const [name, rs] of groups) {
    const fired = rs.filter((r) => r.verdict.action === 'block').length;
    const label = rs[0]!.group === 'malicious' ? `detected ${pct(fired, rs.length)}` : `false positives (blocked) ${pct(fired, rs.length)}`;
    console.log(`  ${name.padEnd(32)} ${label}`);
    for (const r of rs) {
      console.log(`    ${r.ok ? 'ok  ' : 'FAIL'} ${r.id.padEnd(40)} ${r.verdict.action.padEnd(8)} (${r.verdict.severity ?? 'none'}, drift ${r.classification}; labelled ${r.labelled})`);
      if (!r.ok || process.env.VERBOSE) for (const reason of r.verdict.reasons.slice(0, 4)) console.log(`           ${reason}`);
    }
  }
  // The stricter policy a gateway may choose instead: every change that is not provably tightening is blocked
  // until re-approved. Printed so the cost of that choice on the benign controls is visible.
  const strict = (r: DriftCaseResult) => r.verdict.action === 'block' || r.classification === 'changed' || r.classification === 'added';
  const count = (group: Group) => { const rs = results.filter((r) => r.group === group); return pct(rs.filter(strict).length, rs.length); };
  console.log(`  strict policy (block every non-tightening change): malicious blocked ${count('malicious')}, benign blocked ${count('benign')}, undeclared blocked ${count('undeclared')}`);
  return results.filter((r) => !r.ok).length;
}

function printBipia(results: BipiaResult[]): number {
  console.log('\nBIPIA indirect prompt injection inside a tool result (rule prompt-injection; any severity / high)');
  const categories = new Map<string, BipiaResult[]>();
  for (const r of results) categories.set(`${r.set}: ${r.category}`, [...(categories.get(`${r.set}: ${r.category}`) ?? []), r]);
  for (const [name, rs] of categories) {
    console.log(`  ${name.padEnd(44)} ${pct(rs.filter((r) => r.detected.plain).length, rs.length).padEnd(10)}  high ${rs.filter((r) => r.worst.plain === 'high' || r.worst.plain === 'critical').length}`);
  }
  for (const set of ['text', 'code']) {
    const rs = results.filter((r) => r.set === set);
    console.log(`  ${`${set} total`.padEnd(44)} ${VARIANTS.map((v) => `${v} ${pct(rs.filter((r) => r.detected[v]).length, rs.length)}`).join('  ')}`);
    console.log(`  ${`${set} flagged by any rule (>= medium)`.padEnd(44)} ${VARIANTS.map((v) => `${v} ${pct(rs.filter((r) => r.flagged[v]).length, rs.length)}`).join('  ')}`);
  }
  // A hidden variant must never do better than the plain text at escaping detection.
  const escapes = results.filter((r) => r.detected.plain && VARIANTS.some((v) => !r.detected[v]));
  for (const r of escapes) console.log(`  ESCAPE ${r.set}/${r.category}#${r.index}: ${VARIANTS.filter((v) => !r.detected[v]).join(', ')}`);
  return escapes.length;
}

function printReadmes(fp: ContentFalsePositives): void {
  console.log(`\nContent detectors on real documentation: ${fp.documents} README/doc files, ${(fp.bytes / 1024 / 1024).toFixed(2)} MiB, scanned as tool results`);
  for (const [rule, c] of [...fp.byRule].sort()) console.log(`  ${rule.padEnd(26)} ${SEVERITIES.map((s) => `${s} ${c[s]}`).join('  ')}`);
  console.log(`  documents with a prompt-injection finding: ${fp.injectionDocs.length}`);
  for (const d of fp.injectionDocs) for (const f of d.findings) console.log(`    ${f.severity.padEnd(7)} ${d.path}: ${f.excerpt.slice(0, 140)}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const scanner = createScanner();
  const driftFailures = printDrift(evaluateDriftCorpus(scanner));
  const escapes = printBipia(evaluateBipia(scanner));
  printReadmes(evaluateReadmes(scanner));
  console.log(`\n${driftFailures === 0 && escapes === 0 ? 'PASS' : 'FAIL'}: ${driftFailures} drift-corpus case(s) misclassified, ${escapes} hidden BIPIA variant(s) escaping`);
  process.exitCode = driftFailures === 0 && escapes === 0 ? 0 : 1;
}
