/**
 * Redaction: each finding's span is replaced by a visible marker, `[REDACTED:aws-access-key]`, so the model and the
 * user both see that something was removed and why. Overlapping findings become one marker naming every rule.
 */
import type { Finding, Span } from './finding.js';
import { mapStrings } from './walk.js';

export function redactionMarker(rules: readonly string[]): string {
  return `[REDACTED:${rules.join('+')}]`;
}

/** `text` with the span of every finding (found in this same text) replaced by a marker. */
export function redact(text: string, findings: readonly Finding[]): string {
  const spans = mergeSpans(findings.filter((f) => f.span.start >= 0 && f.span.end <= text.length && f.span.start < f.span.end));
  let out = '';
  let at = 0;
  for (const { span, rules } of spans) {
    out += text.slice(at, span.start) + redactionMarker(rules);
    at = span.end;
  }
  return out + text.slice(at);
}

/** A copy of a JSON value (e.g. a tool result) with every finding from Scanner.scanContent redacted at its path. */
export function redactContent(value: unknown, findings: readonly Finding[], path = ''): unknown {
  const byPath = new Map<string, Finding[]>();
  for (const f of findings) byPath.set(f.path, [...(byPath.get(f.path) ?? []), f]);
  if (byPath.size === 0) return value;
  return mapStrings(value, path, (text, at) => {
    const here = byPath.get(at);
    return here ? redact(text, here) : text;
  });
}

interface MergedSpan { span: Span; rules: string[] }

function mergeSpans(findings: readonly Finding[]): MergedSpan[] {
  const sorted = [...findings].sort((a, b) => a.span.start - b.span.start || b.span.end - a.span.end);
  const merged: MergedSpan[] = [];
  for (const f of sorted) {
    const last = merged[merged.length - 1];
    if (last && f.span.start < last.span.end) {
      last.span.end = Math.max(last.span.end, f.span.end);
      if (!last.rules.includes(f.rule)) last.rules.push(f.rule);
    } else {
      merged.push({ span: { ...f.span }, rules: [f.rule] });
    }
  }
  return merged;
}
