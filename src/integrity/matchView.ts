/**
 * The match view: the text pattern detectors run on, so that hidden characters and compatibility forms cannot be
 * used to split or disguise a phrase ("ig\u200Bnore", tag-smuggled ASCII, fullwidth "ｉｇｎｏｒｅ").
 */
import type { Span } from './finding.js';
import { ansiLength, hiddenClassOf, isPlain, nonPlainRuns } from './text.js';

/**
 * The text pattern detectors match against: tag characters decoded to the ASCII they hide, zero-width, bidi,
 * control characters and ANSI escapes removed, curly quotes and dashes made ASCII, everything else NFKC per code
 * point (fullwidth and mathematical letters become plain letters). Plain ASCII text is its own view.
 *
 * `pieces` maps the view back to the original, as triples (view offset, original offset, step): from its view offset
 * on, a piece copied with step 1 maps each character to its own original offset, and an expansion (step 0) maps all
 * its characters to the one character it came from. Kept per piece rather than per character: the view is built for
 * every scanned result with any non-ASCII character in it, and is looked back into only when something is found.
 */
export interface MatchView {
  text: string;
  pieces?: Int32Array;
}

let lastInput: string | undefined;
let lastView: MatchView | undefined;

/** Detectors each ask for the view of the same field in turn, so the last one is remembered. */
export function matchView(s: string): MatchView {
  if (s === lastInput && lastView) return lastView;
  const view = isPlain(s) ? { text: s } : foldText(s);
  lastInput = s;
  lastView = view;
  return view;
}

/** The span in the original text of a span found in its match view. */
export function toOriginal(view: MatchView, span: Span): Span {
  if (!view.pieces) return span;
  return { start: originalOffset(view, span.start), end: originalOffset(view, span.end) };
}

/** Where the view's character at `at` came from; the view's end maps to the original's end. */
function originalOffset(view: MatchView, at: number): number {
  const p = view.pieces!;
  const count = p.length / 3 - 1; // the last triple is the end marker
  if (at >= view.text.length) return p[count * 3 + 1]!;
  let lo = 0;
  let hi = count - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (p[mid * 3]! <= at) lo = mid; else hi = mid - 1;
  }
  return p[lo * 3 + 1]! + (at - p[lo * 3]!) * p[lo * 3 + 2]!;
}

const ASCII_LOOKALIKE: ReadonlyMap<number, string> = new Map([
  [0x2018, "'"], [0x2019, "'"], [0x201a, "'"], [0x201b, "'"], [0x2032, "'"], [0x02bc, "'"],
  [0x201c, '"'], [0x201d, '"'], [0x201e, '"'], [0x201f, '"'], [0x2033, '"'],
  [0x2010, '-'], [0x2011, '-'], [0x2012, '-'], [0x2013, '-'], [0x2014, '-'], [0x2015, '-'], [0x2212, '-'],
]);

const nfkcCache = new Map<number, string>();
const NFKC_CACHE_MAX = 8192;

function nfkcOf(cp: number): string {
  let folded = nfkcCache.get(cp);
  if (folded === undefined) {
    if (nfkcCache.size >= NFKC_CACHE_MAX) nfkcCache.clear();
    folded = String.fromCodePoint(cp).normalize('NFKC');
    nfkcCache.set(cp, folded);
  }
  return folded;
}

/** Builds the match view: plain runs are copied whole, and only the other characters are looked at one by one. */
function foldText(s: string): MatchView {
  const parts: string[] = [];
  const pieces: number[] = [];
  let length = 0;
  const emit = (chunk: string, origin: number, step: 0 | 1) => {
    if (chunk.length === 0) return;
    parts.push(chunk);
    pieces.push(length, origin, step);
    length += chunk.length;
  };
  let at = 0;
  const runs = nonPlainRuns(s);
  for (let r = 0; r < runs.length; r += 2) {
    const end = runs[r + 1]!;
    let i = Math.max(runs[r]!, at);
    if (i >= end) continue; // consumed by an ANSI sequence that began in an earlier run
    if (i > at) emit(s.slice(at, i), at, 1);
    for (; i < end; i = at) {
      const cp = s.codePointAt(i)!;
      let width = cp > 0xffff ? 2 : 1;
      if (cp === 0x1b) width = Math.max(1, ansiLength(s, i));
      else if (cp >= 0xe0020 && cp <= 0xe007e) emit(String.fromCharCode(cp - 0xe0000), i, 0);
      else if (hiddenClassOf(cp) === undefined) emit(ASCII_LOOKALIKE.get(cp) ?? nfkcOf(cp), i, 0);
      // Anything else is hidden: dropped, it renders as nothing.
      at = i + width;
    }
  }
  if (at < s.length) emit(s.slice(at), at, 1);
  pieces.push(length, s.length, 0);
  return { text: parts.join(''), pieces: Int32Array.from(pieces) };
}
