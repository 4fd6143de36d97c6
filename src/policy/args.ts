/**
 * Argument constraints of the friendly layer (`args: { path: { under: /srv/reports } }`), compiled once into
 * checks. A check answers undefined when the constraint holds, else why not; a value that is unsafe rather than
 * merely different (a path with ".." or NUL) is an error, which deny and approval rules treat as a match.
 */
import type { ArgConstraintSpec } from './configSchema.js';
import { checkUnder, normalisePath, unsafePath } from './paths.js';
import type { PolicyPrincipal } from './types.js';

export interface Failure {
  readonly reason: string;
  /** The value is unsafe or could not be judged: restrictive rules count this as a match. */
  readonly error?: boolean;
}

export interface ArgCheck {
  readonly name: string;
  /** The constraint as written, for traces: `path under /srv/reports`. */
  readonly text: string;
  check(args: Readonly<Record<string, unknown>>, principal: PolicyPrincipal): Failure | undefined;
  /**
   * What the principal alone must satisfy whatever the arguments (a `claim` constraint needs the claim): checked
   * in list decisions too, so an item is not shown to a principal who could never call it.
   */
  readonly principalCheck: ((principal: PolicyPrincipal) => Failure | undefined) | undefined;
}

/** Compiles one argument's constraints; problems are reported through `issue` (relative key, message). */
export function compileArgCheck(name: string, spec: ArgConstraintSpec, issue: (key: string, message: string) => void): ArgCheck {
  const tests: ((v: unknown, p: PolicyPrincipal) => Failure | undefined)[] = [];
  const text: string[] = [];
  const arg = `argument '${name}'`;

  if (spec.type !== undefined) {
    const type = spec.type;
    text.push(`is ${type}`);
    tests.push((v) => (jsonType(v) === type || (type === 'number' && jsonType(v) === 'integer') ? undefined : { reason: `${arg} is ${jsonType(v)}, not ${type}` }));
  }
  if (spec.equals !== undefined) {
    const want = spec.equals;
    text.push(`equals ${JSON.stringify(want)}`);
    tests.push((v) => (deepEqual(v, want) ? undefined : { reason: `${arg} is not ${JSON.stringify(want)}` }));
  }
  if (spec.claim !== undefined) {
    const path = spec.claim.split('.');
    text.push(`equals principal.attributes.${spec.claim}`);
    tests.push((v, p) => {
      const claim = dig(p.attributes, path);
      if (claim === undefined || claim === null) return { reason: `the principal has no claim ${spec.claim}` };
      return deepEqual(v, claim) ? undefined : { reason: `${arg} does not equal the principal's claim ${spec.claim}` };
    });
  }
  if (spec.enum !== undefined) {
    const values = spec.enum;
    text.push(`in ${JSON.stringify(values)}`);
    tests.push((v) => (values.some((x) => deepEqual(v, x)) ? undefined : { reason: `${arg} is not one of ${JSON.stringify(values)}` }));
  }
  if (spec.pattern !== undefined) {
    let re: RegExp | undefined;
    try {
      re = new RegExp(`^(?:${spec.pattern})$`, 'u');
    } catch (e) {
      issue('pattern', `invalid regular expression: ${(e as Error).message}`);
    }
    const r = re;
    text.push(`matches /${spec.pattern}/`);
    if (r) tests.push((v) => (typeof v === 'string' && r.test(v) ? undefined : { reason: `${arg} does not match /${spec.pattern}/` }));
  }
  if (spec.min !== undefined || spec.max !== undefined) {
    const min = spec.min ?? -Infinity;
    const max = spec.max ?? Infinity;
    if (min > max) issue('min', `min (${min}) is greater than max (${max})`);
    const range = spec.min !== undefined && spec.max !== undefined ? `between ${min} and ${max}` : spec.min !== undefined ? `>= ${min}` : `<= ${max}`;
    text.push(range);
    tests.push((v) => (typeof v === 'number' && v >= min && v <= max ? undefined : { reason: `${arg} is not a number ${range}` }));
  }
  if (spec.minLength !== undefined || spec.maxLength !== undefined) {
    const lo = spec.minLength ?? 0;
    const hi = spec.maxLength ?? Infinity;
    if (lo > hi) issue('minLength', `minLength (${lo}) is greater than maxLength (${hi})`);
    text.push(`length ${lo}..${hi === Infinity ? '' : hi}`);
    tests.push((v) => {
      const n = typeof v === 'string' ? [...v].length : Array.isArray(v) ? v.length : undefined;
      return n !== undefined && n >= lo && n <= hi ? undefined : { reason: `${arg} has a length outside ${lo}..${hi === Infinity ? '' : hi}` };
    });
  }
  if (spec.under !== undefined) {
    const roots: string[] = [];
    for (const [i, r] of (Array.isArray(spec.under) ? spec.under : [spec.under]).entries()) {
      const bad = unsafePath(r);
      if (bad) issue(Array.isArray(spec.under) ? `under[${i}]` : 'under', `root ${JSON.stringify(r)} ${bad}`);
      else roots.push(normalisePath(r));
    }
    text.push(`under ${roots.join(' or ')}`);
    tests.push((v) => {
      const paths = typeof v === 'string' ? [v] : Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string') ? (v as string[]) : undefined;
      if (!paths) return { reason: `${arg} is not a path or a list of paths` };
      for (const p of paths) {
        const why = checkUnder(p, roots);
        if (why) return { reason: `${arg}: ${why}`, error: unsafePath(p) !== undefined };
      }
      return undefined;
    });
  }
  const optional = spec.optional === true;
  const claimPath = spec.claim?.split('.');
  return {
    name,
    principalCheck:
      claimPath && !optional
        ? (p) => {
            const claim = dig(p.attributes, claimPath);
            return claim === undefined || claim === null ? { reason: `the principal has no claim ${spec.claim ?? ''}` } : undefined;
          }
        : undefined,
    text: `${name} ${text.join(', ') || 'present'}${optional ? ' (optional)' : ''}`,
    check(args, principal) {
      const v = Object.hasOwn(args, name) ? args[name] : undefined;
      if (v === undefined) return optional ? undefined : { reason: `${arg} is missing` };
      for (const t of tests) {
        const f = t(v, principal);
        if (f) return f;
      }
      return undefined;
    },
  };
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function dig(root: unknown, path: readonly string[]): unknown {
  let cur = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** Equality of JSON values (no coercion: "42" is not 42). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
