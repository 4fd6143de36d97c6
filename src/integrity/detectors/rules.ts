/**
 * The machinery shared by the phrase-based detectors: a rule is a compiled regular expression with a severity and a
 * message, matched against the match view of a field (see matchView.ts), with spans mapped back to the original text.
 *
 * Every expression here must run in linear time: literal anchors, bounded gaps (`[^.!?\n]{0,80}`), no nested
 * quantifiers, no alternations whose branches can match the same text. test/integrity.redos.test.ts holds them to it.
 */
import type { FieldContext, Finding, Severity, Span, Target } from '../finding.js';
import { matchView, toOriginal, type MatchView } from '../matchView.js';
import { excerptOf } from '../text.js';

export interface PhraseRule {
  /** The expression; its flags are ignored (every rule is matched case-insensitively, `^` at line starts). */
  re: RegExp;
  /** A severity, or one per target when the same phrase means more in a definition than in a web page. */
  severity: Severity | Readonly<Partial<Record<Target, Severity>>>;
  message: string;
  /** An extra check of the matched text the expression cannot express cheaply (e.g. "not a private IP address"). */
  accept?: (matched: string) => boolean;
}

export function severityFor(rule: PhraseRule, target: Target): Severity | undefined {
  return typeof rule.severity === 'string' ? rule.severity : rule.severity[target];
}

interface Compiled { re: RegExp; rules: { rule: PhraseRule; severity: Severity; group: string }[] }

const RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };
const compiledCache = new WeakMap<readonly PhraseRule[], Map<Target, Compiled | undefined>>();

/**
 * The rules that apply to a target, joined into one alternation (most severe first, so it wins a tie): one pass over
 * the text instead of one per rule, which is most of the cost of scanning a result. Compiled once per list and target.
 *
 * Consecutive rules that all start with a word boundary share it: `\b(?:A|B)` instead of `\bA|\bB`, the same
 * language in the same order, but the engine gives up on a position inside a word after one test instead of one per
 * rule — most positions are inside words, and this halves the cost of the prompt-injection rules on prose.
 */
function compiled(rules: readonly PhraseRule[], target: Target): Compiled | undefined {
  let byTarget = compiledCache.get(rules);
  if (!byTarget) compiledCache.set(rules, (byTarget = new Map()));
  if (byTarget.has(target)) return byTarget.get(target);
  const active = rules
    .flatMap((rule) => { const severity = severityFor(rule, target); return severity ? [{ rule, severity }] : []; })
    .sort((a, b) => RANK[b.severity] - RANK[a.severity])
    .map((r, i) => ({ ...r, group: `r${i}` }));
  const result = active.length === 0 ? undefined : {
    re: new RegExp(joinAlternatives(active.map((r) => ({ group: r.group, source: r.rule.re.source }))), 'gim'),
    rules: active,
  };
  byTarget.set(target, result);
  return result;
}

/**
 * `(?<g>source)|…`, with the leading `\b` of consecutive sources hoisted into one group (see compiled()). When every
 * hoisted rule can only start matching at a word character and every other rule only at a punctuation character
 * (`<`, `[`, `|`, `#`), no position can start a match of both kinds, so their relative order decides nothing: then
 * all the hoisted rules share one group, and the engine tests the boundary once per position instead of once per run.
 */
export function joinAlternatives(parts: readonly { group: string; source: string }[]): string {
  const rests = parts.map((p) => withoutLeadingBoundary(p.source));
  const disjoint = parts.every((p, i) => (rests[i] !== undefined ? startsWithWordChar(rests[i]) : startsWithPunctuation(p.source)));
  const ordered = disjoint ? [...parts.keys()].sort((a, b) => Number(rests[a] === undefined) - Number(rests[b] === undefined)) : [...parts.keys()];
  const out: string[] = [];
  let run: string[] = [];
  const flush = () => {
    if (run.length) out.push(`\\b(?:${run.join('|')})`);
    run = [];
  };
  for (const i of ordered) {
    const { group, source } = parts[i]!;
    const rest = rests[i];
    if (rest === undefined) { flush(); out.push(`(?<${group}>${source})`); } else run.push(`(?<${group}>${rest})`);
  }
  flush();
  return out.join('|');
}

/** Every top-level alternative starts with an ASCII letter that is not optional, or a group whose alternatives all do. */
function startsWithWordChar(source: string): boolean {
  return topLevelAlternatives(source)?.every((a) => {
    if (/^[A-Za-z](?![?*]|\{0)/.test(a)) return true;
    const inner = groupBody(a);
    return inner !== undefined && startsWithWordChar(inner);
  }) ?? false;
}

/** Every top-level alternative starts with a literal `<`, `[`, `|` or `#` that is not optional. */
function startsWithPunctuation(source: string): boolean {
  return topLevelAlternatives(source)?.every((a) => /^(?:<|\\\[|\\\||#)(?![?*]|\{0)/.test(a)) ?? false;
}

/** The body of the non-capturing or named group `a` starts with, if it starts with one and is not quantified. */
function groupBody(a: string): string | undefined {
  const open = /^\((?:\?:|\?<[A-Za-z]\w*>)/.exec(a);
  if (!open) return undefined;
  let close: number | undefined;
  walkSyntax(a, (c, i, depth) => {
    if (c !== ')' || depth !== 0) return true;
    close = i;
    return false;
  });
  return close === undefined || /^[?*]|^\{0/.test(a.slice(close + 1)) ? undefined : a.slice(open[0].length, close);
}

/**
 * The source without its leading `\b` when every top-level alternative starts with one (`\bA|\bB` → `A|B`), so
 * that `\b(?:A|B)` means the same; otherwise undefined.
 */
export function withoutLeadingBoundary(source: string): string | undefined {
  const alternatives = topLevelAlternatives(source);
  if (!alternatives?.every((a) => a.startsWith('\\b'))) return undefined;
  return alternatives.map((a) => a.slice(2)).join('|');
}

/** Splits a pattern at its top-level `|` (not inside a group or a class, not escaped); undefined if unbalanced. */
function topLevelAlternatives(source: string): string[] | undefined {
  const parts: string[] = [];
  let start = 0;
  let balanced = true;
  const end = walkSyntax(source, (c, i, depth) => {
    if (depth < 0) return (balanced = false);
    if (c === '|' && depth === 0) { parts.push(source.slice(start, i)); start = i + 1; }
    return true;
  });
  if (!balanced || end !== 0) return undefined;
  parts.push(source.slice(start));
  return parts;
}

/**
 * Visits the syntax characters of a pattern outside classes and escapes, with the group depth after an opening
 * parenthesis or a closing one; stops when `visit` returns false. Returns the final depth (NaN inside an open class).
 */
function walkSyntax(source: string, visit: (c: string, i: number, depth: number) => boolean): number {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') { i++; continue; }
    if (inClass) { if (c === ']') inClass = false; continue; }
    if (c === '[') { inClass = true; continue; }
    if (c === '(') depth++;
    else if (c === ')') depth--;
    if (!visit(c, i, depth)) return depth;
  }
  return inClass ? NaN : depth;
}

/** Runs the rules over the field's match view; overlapping findings keep only the most severe. */
export function matchPhrases(ruleId: string, rules: readonly PhraseRule[], text: string, field: FieldContext): Finding[] {
  const c = compiled(rules, field.target);
  if (!c) return [];
  const view = matchView(text);
  const found: Finding[] = [];
  c.re.lastIndex = 0;
  for (let m = c.re.exec(view.text); m; m = c.re.exec(view.text)) {
    const hit = c.rules.find((r) => m.groups?.[r.group] !== undefined);
    if (!hit || m[0].length === 0 || (hit.rule.accept && !hit.rule.accept(m[0]))) {
      c.re.lastIndex = m.index + 1; // let another rule try from the next position
      continue;
    }
    found.push(findingAt(ruleId, hit.severity, hit.rule.message, text, view, { start: m.index, end: m.index + m[0].length }, field.path));
  }
  return keepMostSevere(found);
}

export function findingAt(rule: string, severity: Severity, message: string, text: string, view: MatchView, viewSpan: Span, path: string): Finding {
  const span = toOriginal(view, viewSpan);
  return { rule, severity, message, path, span, excerpt: excerptOf(text, span) };
}

/**
 * Of findings whose spans overlap, keeps the most severe (the first found on a tie), in text order. Findings are
 * grouped into clusters of overlapping spans first, so the pairwise choice only ever looks inside one small cluster.
 */
export function keepMostSevere(findings: Finding[]): Finding[] {
  if (findings.length < 2) return findings;
  const sorted = [...findings].sort((a, b) => a.span.start - b.span.start);
  const kept: Finding[] = [];
  let cluster: Finding[] = [];
  let clusterEnd = -1;
  const flush = () => {
    const byRank = cluster.sort((a, b) => RANK[b.severity] - RANK[a.severity] || a.span.start - b.span.start);
    const chosen: Finding[] = [];
    for (const f of byRank) if (!chosen.some((k) => k.span.start < f.span.end && f.span.start < k.span.end)) chosen.push(f);
    kept.push(...chosen.sort((a, b) => a.span.start - b.span.start));
  };
  for (const f of sorted) {
    if (cluster.length > 0 && f.span.start >= clusterEnd) { flush(); cluster = []; }
    cluster.push(f);
    clusterEnd = Math.max(clusterEnd, f.span.end);
  }
  flush();
  return kept;
}

/** Start of the sentence containing `at`: just after the previous newline or `.`/`!`/`?` followed by a space. */
export function sentenceStart(s: string, at: number, maxBack = 240): number {
  const floor = Math.max(0, at - maxBack);
  for (let i = at - 1; i >= floor; i--) {
    const c = s.charCodeAt(i);
    if (c === 0x0a) return i + 1;
    if ((c === 0x2e || c === 0x21 || c === 0x3f) && isSpace(s.charCodeAt(i + 1))) return i + 2;
  }
  return floor;
}

/** End of the sentence containing `at` (exclusive, the terminator included). */
export function sentenceEnd(s: string, at: number, maxForward = 240): number {
  const ceiling = Math.min(s.length, at + maxForward);
  for (let i = at; i < ceiling; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x0a) return i;
    if ((c === 0x2e || c === 0x21 || c === 0x3f || c === 0x3a) && (i + 1 >= s.length || isSpace(s.charCodeAt(i + 1)))) return i + 1;
  }
  return ceiling;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}
