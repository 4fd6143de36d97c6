/**
 * Paths into the config, in the three spellings we meet: segment arrays (our own walks), JSON Pointers (Ajv's
 * instancePath) and the dotted form users read in messages. Also maps a path back to a line and column of the YAML.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

export type Segment = string | number;

const PLAIN_KEY = /^[A-Za-z0-9_$-]+$/;

/** ["upstreams", "fs", "args", 0] -> "upstreams.fs.args[0]"; odd keys are quoted: env["A.B"]. */
export function formatPath(segs: readonly Segment[]): string {
  let out = '';
  for (const s of segs) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (PLAIN_KEY.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** Ajv instancePath ("/upstreams/fs/args/0") -> segments; numbers for array indices, told apart by the data. */
export function pointerToSegments(pointer: string, data: unknown): Segment[] {
  if (pointer === '') return [];
  const segs: Segment[] = [];
  let cur: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      const i = Number(key);
      segs.push(i);
      cur = cur[i];
    } else {
      segs.push(key);
      cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[key] : undefined;
    }
  }
  return segs;
}

/** "policy.rules[3].when" or 'roles["a.b"].allow[0]' -> segments: the inverse of formatPath. */
export function parsePath(path: string): Segment[] {
  const segs: Segment[] = [];
  const re = /\.?([A-Za-z0-9_$-]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < path.length && (m = re.exec(path))) {
    if (m[1] !== undefined) segs.push(m[1]);
    else if (m[2] !== undefined) segs.push(Number(m[2]));
    else segs.push(JSON.parse(m[3]!) as string);
  }
  return segs;
}

export function segmentsToPointer(segs: readonly Segment[]): string {
  return segs.map((s) => '/' + String(s).replace(/~/g, '~0').replace(/\//g, '~1')).join('');
}

export interface Position {
  line: number;
  column: number;
}

/**
 * Where a path is written in the file. With `key`, points at the key of the last segment (for "unknown key"
 * messages); when the path is absent (a default, a missing key) points at the key of the deepest ancestor that
 * exists, the line a reader scans for ("fs:" rather than its first child).
 */
export function locate(doc: Document, lc: LineCounter, segs: readonly Segment[], opts: { key?: boolean } = {}): Position | undefined {
  let node: unknown = doc.contents;
  // Where to point when the walk stops early: the key that introduced the deepest node found.
  let anchor: Node | undefined = isNode(node) ? node : undefined;
  for (let i = 0; i < segs.length; i++) {
    if (isAlias(node)) node = node.resolve(doc);
    const seg = segs[i];
    const last = i === segs.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return pos(lc, anchor);
      const key = isNode(pair.key) ? pair.key : anchor;
      // An empty value ("key:") has no useful range of its own; its key is where the user looks.
      const empty = !isNode(pair.value) || (isScalar(pair.value) && pair.value.value === null);
      if (last) return pos(lc, opts.key || empty ? key : (pair.value as Node));
      node = pair.value;
      anchor = key;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!isNode(item)) return pos(lc, anchor);
      node = anchor = item;
    } else return pos(lc, anchor);
  }
  return pos(lc, isNode(node) ? node : anchor);
}

function isNode(n: unknown): n is Node {
  return isScalar(n) || isMap(n) || isSeq(n) || isAlias(n);
}

function pos(lc: LineCounter, node: Node | undefined): Position | undefined {
  const offset = node?.range?.[0];
  if (offset === undefined) return undefined;
  const { line, col } = lc.linePos(offset);
  return { line, column: col };
}

/** A problem found on the data, before it is given a position in the file. */
export interface PathIssue {
  segs: Segment[];
  /** Point at the key rather than the value (unknown keys, bad names). */
  key?: boolean;
  message: string;
}
