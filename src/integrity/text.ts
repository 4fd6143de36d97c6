/**
 * Text helpers for integrity scanning: NFKC normalisation, escaping hidden characters for a human reviewer, and
 * finding hidden characters (tag smuggling, zero-width, bidi controls, control characters, ANSI escapes).
 * The view pattern detectors match against is in matchView.ts.
 */
import type { Span } from './finding.js';

export function normalise(s: string): string {
  return s.normalize('NFKC');
}

/** True when every character is printable ASCII, tab, LF or CR: the common case, which needs no folding. */
const NOT_PLAIN = /[^\t\n\r\x20-\x7e]/;
export function isPlain(s: string): boolean {
  return !NOT_PLAIN.test(s);
}

export type HiddenClass = 'tag' | 'variation-selector' | 'zero-width' | 'bidi-control' | 'bidi-mark' | 'control' | 'ansi' | 'invisible';

const ZERO_WIDTH = new Set([0x200b, 0x200c, 0x200d, 0x2060, 0xfeff, 0x180e]);
const BIDI_MARKS = new Set([0x200e, 0x200f, 0x061c]);
/** Characters that render as nothing and have been used to hide text: soft hyphen, fillers, invisible operators. */
const INVISIBLE = new Set([0x00ad, 0x034f, 0x115f, 0x1160, 0x17b4, 0x17b5, 0x3164, 0xffa0, 0x2061, 0x2062, 0x2063, 0x2064, 0xfff9, 0xfffa, 0xfffb]);
/** Joiners and marks have legitimate uses next to non-Latin text and emoji; they are suspicious among ASCII. */
const CONTEXTUAL = new Set([0x200c, 0x200d, 0x200e, 0x200f, 0x061c]);

/** The hidden class of one code point (ANSI sequences are recognised separately, by their ESC). */
export function hiddenClassOf(cp: number): HiddenClass | undefined {
  if (cp < 0x80) return (cp < 0x20 && cp !== 0x09 && cp !== 0x0a && cp !== 0x0d) || cp === 0x7f ? 'control' : undefined;
  if (cp <= 0x9f) return 'control';
  if (cp >= 0xe0000 && cp <= 0xe007f) return 'tag';
  if ((cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef)) return 'variation-selector';
  if (ZERO_WIDTH.has(cp)) return 'zero-width';
  if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) return 'bidi-control';
  if (BIDI_MARKS.has(cp)) return 'bidi-mark';
  if (INVISIBLE.has(cp)) return 'invisible';
  return undefined;
}

/** Length of the ANSI escape sequence starting at `i` (which holds ESC), or 0 if it is a bare ESC. */
export function ansiLength(s: string, i: number): number {
  const next = s.charCodeAt(i + 1);
  if (next === 0x5b /* [ */) {
    // CSI: parameter bytes, intermediate bytes, one final byte; bounded so a long run cannot stall the scan.
    let j = i + 2;
    const limit = Math.min(s.length, i + 64);
    while (j < limit && s.charCodeAt(j) >= 0x30 && s.charCodeAt(j) <= 0x3f) j++;
    while (j < limit && s.charCodeAt(j) >= 0x20 && s.charCodeAt(j) <= 0x2f) j++;
    const final = s.charCodeAt(j);
    return j < limit && final >= 0x40 && final <= 0x7e ? j + 1 - i : 0;
  }
  if (next === 0x5d /* ] */) {
    // OSC (window titles, hyperlinks): ends with BEL or ESC \; any other control character means it is not one,
    // which also keeps a string of unterminated OSCs from being rescanned from every ESC.
    const limit = Math.min(s.length, i + 2048);
    for (let j = i + 2; j < limit; j++) {
      const c = s.charCodeAt(j);
      if (c === 0x07) return j + 1 - i;
      if (c === 0x1b) return s.charCodeAt(j + 1) === 0x5c ? j + 2 - i : 0;
      if (c < 0x20) return 0;
    }
    return 0;
  }
  return next >= 0x40 && next <= 0x5f ? 2 : 0;
}

export interface HiddenRun {
  hidden: HiddenClass;
  start: number;
  end: number;
  /** For tag runs: the ASCII message the tag characters spell out. */
  decoded?: string;
}

/**
 * Runs of hidden characters, grouped by class. Runs of one class separated by at most a few visible characters are
 * merged, so a word split by a zero-width space after every letter is one finding, not one per letter.
 */
export function findHidden(s: string): HiddenRun[] {
  if (isPlain(s)) return [];
  const runs: HiddenRun[] = [];
  const at = nonPlainRuns(s);
  let next = 0;
  for (let r = 0; r < at.length; r += 2) {
    for (let i = Math.max(at[r]!, next); i < at[r + 1]!; i = next) {
      const cp = s.codePointAt(i)!;
      const width = cp > 0xffff ? 2 : 1;
      next = i + width;
      if (cp === 0x1b) {
        const len = ansiLength(s, i);
        if (len > 0) { addRun(runs, 'ansi', i, i + len); next = i + len; continue; }
      }
      const hidden = hiddenClassOf(cp);
      if (hidden && !isBenignInPlace(s, i, cp, width)) addRun(runs, hidden, i, i + width);
    }
  }
  const kept = runs.filter((r) => r.hidden !== 'variation-selector' || countCodePoints(s, r) > 1);
  for (const r of kept) if (r.hidden === 'tag') r.decoded = decodeTags(s.slice(r.start, r.end));
  return kept;
}

/**
 * Runs of characters that are not printable ASCII, tab, LF or CR. A native scan with this small class skips ordinary
 * text far faster than a class listing every hidden character would; only the characters it stops at are classified.
 */
const NOT_PLAIN_RUNS = /[^\t\n\r\x20-\x7e]+/g;

let lastScanned: string | undefined;
let lastRuns: readonly number[] = [];

/**
 * Where the text's non-plain runs start and end, as [start, end, start, end, …]. The last text's are remembered:
 * findHidden and the match view (matchView.ts) both walk the same field in turn, and the scan is most of their cost.
 */
export function nonPlainRuns(s: string): readonly number[] {
  if (s === lastScanned) return lastRuns;
  const out: number[] = [];
  NOT_PLAIN_RUNS.lastIndex = 0;
  for (let m = NOT_PLAIN_RUNS.exec(s); m; m = NOT_PLAIN_RUNS.exec(s)) out.push(m.index, m.index + m[0].length);
  lastScanned = s;
  lastRuns = out;
  return out;
}

const MERGE_GAP = 4;

function addRun(runs: HiddenRun[], hidden: HiddenClass, start: number, end: number): void {
  const last = runs[runs.length - 1];
  // Variation selectors only count as a run when adjacent: one selector after an emoji is ordinary.
  const gap = hidden === 'variation-selector' ? 0 : MERGE_GAP;
  if (last && last.hidden === hidden && start - last.end <= gap) last.end = end;
  else runs.push({ hidden, start, end });
}

function isBenignInPlace(s: string, i: number, cp: number, width: number): boolean {
  if (cp === 0xfeff && i === 0) return true; // a byte-order mark
  if (!CONTEXTUAL.has(cp)) return false;
  const before = i > 0 ? s.codePointAt(i - 1 - (isLowSurrogate(s.charCodeAt(i - 1)) ? 1 : 0))! : 0;
  const after = i + width < s.length ? s.codePointAt(i + width)! : 0;
  return before >= 0x80 || after >= 0x80;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

function countCodePoints(s: string, span: Span): number {
  let n = 0;
  for (let i = span.start; i < span.end; i += s.codePointAt(i)! > 0xffff ? 2 : 1) n++;
  return n;
}

/** The ASCII text spelled by Unicode tag characters (U+E0020–U+E007E); other characters are ignored. */
export function decodeTags(s: string): string {
  let out = '';
  for (let i = 0; i < s.length;) {
    const cp = s.codePointAt(i)!;
    if (cp >= 0xe0020 && cp <= 0xe007e) out += String.fromCharCode(cp - 0xe0000);
    i += cp > 0xffff ? 2 : 1;
  }
  return out;
}

/**
 * The text with every hidden or control character written as an escape (`\u200B`, `\u{E0041}`, `\x1b`), and
 * backslashes doubled so an escape cannot be mistaken for text that merely looks like one.
 * `singleLine` also escapes tab, LF and CR, for excerpts in one-line reports; `keepBackslashes` is for text that
 * is already JSON-escaped.
 */
export function escapeForReview(s: string, options: { singleLine?: boolean; keepBackslashes?: boolean } = {}): string {
  const doubleBackslashes = !options.keepBackslashes;
  if (isPlain(s) && !(doubleBackslashes && s.includes('\\')) && !(options.singleLine && /[\t\n\r]/.test(s))) return s;
  let out = '';
  for (let i = 0; i < s.length;) {
    const cp = s.codePointAt(i)!;
    const width = cp > 0xffff ? 2 : 1;
    i += width;
    if (cp === 0x5c && doubleBackslashes) { out += '\\\\'; continue; }
    if (cp === 0x09 || cp === 0x0a || cp === 0x0d) { out += options.singleLine ? (cp === 0x09 ? '\\t' : cp === 0x0a ? '\\n' : '\\r') : String.fromCharCode(cp); continue; }
    if (hiddenClassOf(cp) !== undefined || (cp >= 0xd800 && cp <= 0xdfff)) { out += escapeCodePoint(cp); continue; }
    out += String.fromCodePoint(cp);
  }
  return out;
}

function escapeCodePoint(cp: number): string {
  if (cp <= 0xff) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (cp <= 0xffff) return `\\u${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return `\\u{${cp.toString(16).toUpperCase()}}`;
}

const EXCERPT_MAX = 160;

/** The matched text, escaped for a one-line report and shortened in the middle if long. */
export function excerptOf(text: string, span: Span): string {
  const raw = text.slice(span.start, span.end);
  const short = raw.length > EXCERPT_MAX ? `${raw.slice(0, EXCERPT_MAX / 2)}…${raw.slice(-EXCERPT_MAX / 2)}` : raw;
  return escapeForReview(short, { singleLine: true });
}

/** A secret's excerpt: enough to recognise which one it was, never the secret itself. */
export function maskedExcerpt(text: string, span: Span, keep = 4): string {
  const raw = text.slice(span.start, span.end);
  return `${escapeForReview(raw.slice(0, keep), { singleLine: true })}…(${raw.length} chars)`;
}
