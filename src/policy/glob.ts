/**
 * Glob patterns for names and URIs. In names (servers, tools, prompts) `*` matches any run of characters. In URIs
 * `*` stays within a path segment and `**` crosses segments. Every other character is literal (no `?`, no classes),
 * and a pattern always matches the whole string.
 */

export interface Glob {
  readonly source: string;
  /** The pattern has no wildcard: it matches exactly this string (what the rule index keys on). */
  readonly literal: string | undefined;
  /** The pattern matches every string. */
  readonly any: boolean;
  test(s: string): boolean;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

export function nameGlob(source: string): Glob {
  return build(source, (p) => p.split('*').map(escape).join('.*'));
}

export function uriGlob(source: string): Glob {
  // A lone "*" in a URI must not cross "/", so it keeps the regular expression.
  const single = !source.replace(/\*\*/g, '').includes('*');
  return build(
    source,
    (p) =>
      p
        .split('**')
        .map((part) => part.split('*').map(escape).join('[^/]*'))
        .join('.*'),
    !single,
  );
}

function build(source: string, toRegex: (p: string) => string, starStaysInSegment = false): Glob {
  if (!source.includes('*')) return { source, literal: source, any: false, test: (s) => s === source };
  if (/^\*+$/.test(source)) return { source, literal: undefined, any: true, test: () => true };
  // One "*" (the common "read_*", "*_file"): string comparisons instead of a regular expression.
  const star = source.indexOf('*');
  if (star === source.lastIndexOf('*') && !starStaysInSegment) {
    const head = source.slice(0, star);
    const tail = source.slice(star + 1);
    const min = head.length + tail.length;
    return { source, literal: undefined, any: false, test: (s) => s.length >= min && s.startsWith(head) && s.endsWith(tail) };
  }
  const re = new RegExp(`^${toRegex(source)}$`, 's');
  return { source, literal: undefined, any: false, test: (s) => re.test(s) };
}

/** "filesystem/read_*" → ["filesystem", "read_*"]: servers never contain "/", so the first one separates. */
export function splitTarget(pattern: string): [server: string, rest: string] | undefined {
  const i = pattern.indexOf('/');
  if (i <= 0 || i === pattern.length - 1) return undefined;
  return [pattern.slice(0, i), pattern.slice(i + 1)];
}
