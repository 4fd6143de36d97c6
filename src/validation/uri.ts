/**
 * Resource URIs from clients: refused when they could mean something else on the way (dot segments, encoded dots,
 * slashes, backslashes or NUL, control characters), normalised (scheme case, %-escape case, unreserved characters
 * decoded, repeated slashes in the path collapsed), and matched against what the server declares: its resources
 * exactly, or one of its URI templates (RFC 6570, every operator).
 */
import { unsafeUri } from '../policy/paths.js';

const URI = /^([A-Za-z][A-Za-z0-9+.-]*):(\/\/[^/?#]*)?([^?#]*)(\?[^#]*)?(#.*)?$/s;
const UNRESERVED = /%(4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|3[0-9]|2D|5F|7E)/gi;

export type Normalised = { readonly uri: string; readonly error?: undefined } | { readonly uri?: undefined; readonly error: string };

/** The URI in normal form, or why it is refused. */
export function normaliseUri(raw: string): Normalised {
  const unsafe = unsafeUri(raw);
  if (unsafe) return { error: `resource URI ${unsafe}` };
  const m = URI.exec(raw);
  if (!m) return { error: 'resource URI is not an absolute URI (scheme:...)' };
  const [, scheme, authority = '', path = '', query = '', fragment = ''] = m;
  const norm = (s: string) => s.replace(/%[0-9a-f]{2}/gi, (e) => e.toUpperCase()).replace(UNRESERVED, (e) => String.fromCharCode(parseInt(e.slice(1), 16)));
  // A path is collapsed only after an authority ("file:///a//b"); "urn:a//b" keeps its opaque part as written.
  const p = authority ? norm(path).replace(/\/{2,}/g, '/') : norm(path);
  return { uri: `${scheme!.toLowerCase()}:${authority}${p}${norm(query)}${fragment}` };
}

const templates = new Map<string, RegExp | null>();

/** Whether a (normalised) URI is an expansion of a URI template. */
export function matchesTemplate(uri: string, template: string): boolean {
  let re = templates.get(template);
  if (re === undefined) {
    re = compileTemplate(template);
    if (templates.size > 10_000) templates.clear();
    templates.set(template, re);
  }
  return re !== null && re.test(uri);
}

const OPERATOR: Record<string, string> = {
  '': '[^/?#]*',
  '+': '[^#]*',
  '#': '(?:#.*)?',
  '.': '(?:\\.[^/?#]*)*',
  '/': '(?:/[^/?#]*)*',
  ';': '(?:;[^/?#]*)*',
  '?': '(?:\\?[^#]*)?',
  '&': '(?:&[^#]*)*',
};

/** A template as an anchored regular expression; null when it is not a well-formed template. */
export function compileTemplate(template: string): RegExp | null {
  let out = '^';
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    const literal = open < 0 ? template.slice(i) : template.slice(i, open);
    if (literal.includes('}')) return null;
    out += escape(literal);
    if (open < 0) break;
    const close = template.indexOf('}', open);
    if (close < 0) return null;
    const expr = template.slice(open + 1, close);
    const op = /^[+#./;?&]/.test(expr) ? expr[0]! : '';
    if (!/^[A-Za-z0-9_%.,*:]+$/.test(expr.slice(op.length))) return null;
    out += OPERATOR[op];
    i = close + 1;
  }
  return new RegExp(out + '$', 's');
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
