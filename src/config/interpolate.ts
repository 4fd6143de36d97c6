/**
 * ${VAR} and ${VAR:-default} in string scalars, applied to the parsed YAML tree rather than the raw text so a
 * variable's value can never change the structure of the file (no injected keys, no broken quoting).
 * Keys are never interpolated. `$${` is a literal `${`. `:-` uses the default when VAR is unset or empty.
 */
import { isMap, isScalar, isSeq, type Document, type LineCounter } from 'yaml';
import type { ConfigIssue } from './error.js';
import { formatPath, locate, segmentsToPointer, type Segment } from './paths.js';

export type Env = Readonly<Record<string, string | undefined>>;

const TOKEN = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const EXPR = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/** Result of one string: the new text, or why it cannot be built. */
export function interpolateString(text: string, env: Env): { value: string; substituted: boolean } | { error: string } {
  let error: string | undefined;
  let substituted = false;
  const value = text.replace(TOKEN, (match, body: string | undefined) => {
    if (match === '$${') return '${';
    if (body === undefined) {
      error ??= 'unterminated ${ (write $${ for a literal ${)';
      return match;
    }
    const m = EXPR.exec(body);
    if (!m) {
      error ??= `invalid variable reference \${${body}} (expected \${NAME} or \${NAME:-default})`;
      return match;
    }
    const name = m[1] as string;
    const fallback = m[2];
    substituted = true;
    const set = env[name];
    if (fallback !== undefined) return set ? set : fallback;
    if (set === undefined) {
      error ??= `environment variable ${name} is not set (give a default with \${${name}:-value}, or write $\${ for a literal \${)`;
      return match;
    }
    return set;
  });
  return error === undefined ? { value, substituted } : { error };
}

/**
 * Rewrites every string scalar value of the document in place. Returns the problems, and the JSON Pointers of
 * the values that came from a substitution (the validator may turn those into the number or boolean a key expects).
 */
export function interpolateDocument(doc: Document, lc: LineCounter, env: Env): { issues: ConfigIssue[]; substituted: Set<string> } {
  const issues: ConfigIssue[] = [];
  const substituted = new Set<string>();

  const walk = (node: unknown, segs: Segment[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (isScalar(pair.key)) walk(pair.value, [...segs, String(pair.key.value)]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...segs, i]));
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
      const r = interpolateString(node.value, env);
      if ('error' in r) {
        issues.push({ path: formatPath(segs), ...locate(doc, lc, segs), message: r.error });
      } else {
        if (r.substituted) substituted.add(segmentsToPointer(segs));
        node.value = r.value;
      }
    }
  };
  walk(doc.contents, []);
  return { issues, substituted };
}
