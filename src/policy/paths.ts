/**
 * Path and URI safety for argument constraints and resource rules. The upstream resolves paths itself (and
 * server-filesystem expands "~"), so anything whose meaning could change on the way is refused rather than
 * normalised: ".." segments (even ones that would stay inside), "~", relative paths, backslashes, NUL and
 * control characters, and %-escapes (a tool that decodes them would see "../").
 */

const CONTROL = /[\u0000-\u001f\u007f]/;
const PERCENT_ESCAPE = /%[0-9a-fA-F]{2}/;

/** Why a path argument is refused, or undefined when it is a plain absolute path. */
export function unsafePath(p: string): string | undefined {
  if (p.includes('\u0000')) return 'contains a NUL byte';
  if (CONTROL.test(p)) return 'contains a control character';
  if (p.includes('\\')) return 'contains a backslash';
  if (PERCENT_ESCAPE.test(p)) return 'contains a %-escape';
  if (!p.startsWith('/')) return 'is not an absolute path';
  if (p.split('/').includes('..')) return 'contains a ".." segment';
  return undefined;
}

/** "/srv//reports/./q1/" → "/srv/reports/q1". Only for paths unsafePath accepted. */
export function normalisePath(p: string): string {
  return '/' + p.split('/').filter((s) => s !== '' && s !== '.').join('/');
}

/** Whether a normalised path is the root or below it (segment-wise: /srv/reports-old is not under /srv/reports). */
export function isUnder(normalised: string, root: string): boolean {
  if (root === '/') return true;
  return normalised === root || normalised.startsWith(root + '/');
}

/**
 * Checks a path against roots (already normalised). Returns undefined when it is under one of them,
 * else why not.
 */
export function checkUnder(p: string, roots: readonly string[]): string | undefined {
  const bad = unsafePath(p);
  if (bad) return `path ${JSON.stringify(p)} ${bad}`;
  const n = normalisePath(p);
  if (roots.some((r) => isUnder(n, r))) return undefined;
  return `path ${JSON.stringify(n)} is not under ${roots.join(' or ')}`;
}

/** Why a resource URI is refused before any rule sees it: dot segments, encoded separators, NUL, control characters. */
export function unsafeUri(uri: string): string | undefined {
  if (CONTROL.test(uri)) return 'contains a NUL byte or control character';
  if (uri.includes('\\')) return 'contains a backslash';
  if (/%(2e|2f|5c|00)/i.test(uri)) return 'contains an encoded dot, slash, backslash or NUL';
  const path = uri.replace(/[?#].*$/s, '');
  if (path.split('/').some((s) => s === '..' || s === '.')) return 'contains a dot segment';
  return undefined;
}
