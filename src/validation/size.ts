/**
 * Sizes of JSON values without serialising them: strings count their UTF-8 bytes (plus quotes), numbers their
 * digits, containers their punctuation. Escapes are not counted, so a value may serialise slightly larger; the
 * walk stops as soon as the limit is passed, so an oversized value costs no more than the limit to measure.
 */

/** The JSON size of `value` in bytes, or a number above `limit` as soon as it is known to exceed it. */
export function jsonSize(value: unknown, limit = Infinity): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') total += (v.length < 64 ? utf8Short(v) : Buffer.byteLength(v)) + 2;
    else if (typeof v === 'number') total += String(v).length;
    else if (typeof v === 'boolean') total += v ? 4 : 5;
    else if (v === null || v === undefined) total += 4;
    else if (Array.isArray(v)) {
      total += 1 + Math.max(v.length, 1);
      for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
    } else if (typeof v === 'object') {
      const keys = Object.keys(v);
      total += 1 + Math.max(keys.length, 1);
      for (const k of keys) {
        total += (k.length < 64 ? utf8Short(k) : Buffer.byteLength(k)) + 3;
        stack.push((v as Record<string, unknown>)[k]);
      }
    }
    if (total > limit) return total;
  }
  return total;
}

/** UTF-8 length of a short string without a native call. */
function utf8Short(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

/** The first argument larger than `limit`, as a message; undefined when every argument fits. */
export function oversizedArgument(args: Readonly<Record<string, unknown>> | undefined, limit: number): string | undefined {
  if (!args) return undefined;
  for (const k of Object.keys(args)) {
    const size = jsonSize(args[k], limit);
    if (size > limit) return `argument '${k}' is larger than the limit of ${limit} bytes (limits.maxArgumentBytes)`;
  }
  return undefined;
}
