/**
 * ${VAR} and ${VAR:-default} in string scalars, applied to the parsed YAML tree rather than the raw text so a
 * variable's value can never change the structure of the file (no injected keys, no broken quoting).
 * Keys are never interpolated. `$${` is a literal `${`. `:-` uses the default when VAR is unset or empty.
 * `${secret:NAME}` is not substituted here: where it is allowed, a value with references becomes a template
 * (secretRefs.ts).
 */
import { isMap, isScalar, isSeq, type Document, type LineCounter } from 'yaml';
import type { ConfigIssue } from './error.js';
import { formatPath, locate, segmentsToPointer, type Segment } from './paths.js';
import { SECRET_LOCATIONS, SECRET_NAME, secretAllowedAt, templateText, type TemplatePart } from './secretRefs.js';

export type Env = Readonly<Record<string, string | undefined>>;

const TOKEN = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const EXPR = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;
const SECRET_EXPR = /^secret:(.*)$/s;

/**
 * Result of one string: the new text, or why it cannot be built. `parts` is the value as literal text and
 * `${secret:NAME}` references; `secrets` tells whether there are any (then `value` is only meaningful as a template).
 */
export function interpolateString(text: string, env: Env): { value: string; substituted: boolean; parts: TemplatePart[]; secrets: boolean } | { error: string } {
  let error: string | undefined;
  let substituted = false;
  const parts: TemplatePart[] = [];
  let literal = '';
  let last = 0;
  for (const m of text.matchAll(TOKEN)) {
    const [match, body] = m as unknown as [string, string | undefined];
    literal += text.slice(last, m.index);
    last = m.index! + match.length;
    if (match === '$${') {
      literal += '${';
      continue;
    }
    if (body === undefined) {
      error ??= 'unterminated ${ (write $${ for a literal ${)';
      literal += match;
      continue;
    }
    const secret = SECRET_EXPR.exec(body);
    if (secret) {
      const name = secret[1] as string;
      if (!SECRET_NAME.test(name)) error ??= `invalid secret name in \${secret:${name.slice(0, 40)}} (letters, digits, "_", "-" and ".", starting with a letter or digit)`;
      parts.push(literal, { secret: name });
      literal = '';
      continue;
    }
    const m2 = EXPR.exec(body);
    if (!m2) {
      error ??= `invalid variable reference \${${body}} (expected \${NAME}, \${NAME:-default} or \${secret:NAME})`;
      literal += match;
      continue;
    }
    const name = m2[1] as string;
    const fallback = m2[2];
    substituted = true;
    const set = env[name];
    if (fallback !== undefined) {
      literal += set ? set : fallback;
    } else if (set === undefined) {
      error ??= `environment variable ${name} is not set (give a default with \${${name}:-value}, or write $\${ for a literal \${)`;
      literal += match;
    } else {
      literal += set;
    }
  }
  literal += text.slice(last);
  if (error !== undefined) return { error };
  const secrets = parts.length > 0;
  parts.push(literal);
  return { value: secrets ? templateText(parts) : literal, substituted, parts: parts.filter((p) => p !== ''), secrets };
}

/**
 * Rewrites every string scalar value of the document in place. Returns the problems, and the JSON Pointers of
 * the values that came from a substitution (the validator may turn those into the number or boolean a key expects),
 * and where secret references are (by dotted path). Where references are allowed, values become templates.
 */
export function interpolateDocument(doc: Document, lc: LineCounter, env: Env): { issues: ConfigIssue[]; substituted: Set<string>; secretPositions: Map<string, { line?: number; column?: number }> } {
  const issues: ConfigIssue[] = [];
  const substituted = new Set<string>();
  const secretPositions = new Map<string, { line?: number; column?: number }>();

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
        const where = { path: formatPath(segs), ...locate(doc, lc, segs) };
        if (r.secrets && secretAllowedAt(segs)) {
          node.value = templateText(r.parts);
          secretPositions.set(where.path, { line: where.line, column: where.column });
        } else if (!r.secrets && secretAllowedAt(segs) && r.value.includes('${secret:')) {
          // Text that reads as a reference (from $${secret:...} or a variable's value) would be taken for one later.
          issues.push({ ...where, message: 'a literal "${secret:" cannot appear here: it would read as a secret reference' });
        } else if (r.secrets) {
          // Elsewhere a value may be shown to clients, printed or logged, which a secret must never be.
          issues.push({ ...where, message: `\${secret:...} can only be used in ${SECRET_LOCATIONS}` });
        } else {
          node.value = r.value;
        }
      }
    }
  };
  walk(doc.contents, []);
  return { issues, substituted, secretPositions };
}
