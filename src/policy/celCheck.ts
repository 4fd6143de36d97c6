/**
 * Static type checking of CEL conditions. @bufbuild/cel 0.6 parses and evaluates but its checker is neither
 * exported nor complete (constants and identifiers only), so policy conditions are checked here: every identifier,
 * field, function and overload is resolved against the declared variables and the environment's own function
 * table (env.funcs carries each overload's signature), so a typo is a load error instead of a runtime error that
 * would silently turn a rule off. Also records which variables an expression reads (for list decisions).
 */
import type { CelEnv, CelType, parse } from '@bufbuild/cel';
import { closest } from '../config/suggest.js';

export type Expr = ReturnType<typeof parse>['expr'];
type SourceInfo = ReturnType<typeof parse>['sourceInfo'];

/**
 * Checker types: CEL's, plus records (objects with known fields; maps with string keys at run time), and strings
 * with a closed set of values (a string at run time; comparing one with a literal outside the set is a load error).
 */
export type CType =
  | { readonly k: 'dyn' | 'bool' | 'int' | 'uint' | 'double' | 'string' | 'bytes' | 'null' | 'type' | 'timestamp' | 'duration' }
  | { readonly k: 'string'; readonly of: string; readonly values: readonly string[] }
  | { readonly k: 'list'; readonly elem: CType }
  | { readonly k: 'map'; readonly key: CType; readonly value: CType }
  | { readonly k: 'record'; readonly name: string; readonly fields: Readonly<Record<string, CType>> };

export const T = {
  dyn: { k: 'dyn' },
  bool: { k: 'bool' },
  int: { k: 'int' },
  uint: { k: 'uint' },
  double: { k: 'double' },
  string: { k: 'string' },
  bytes: { k: 'bytes' },
  null: { k: 'null' },
  type: { k: 'type' },
  timestamp: { k: 'timestamp' },
  duration: { k: 'duration' },
  list: (elem: CType): CType => ({ k: 'list', elem }),
  map: (key: CType, value: CType): CType => ({ k: 'map', key, value }),
  record: (name: string, fields: Record<string, CType>): CType => ({ k: 'record', name, fields }),
  /** A string that is always one of `values`; `of` names it in messages ("context.taint"). */
  oneOf: (of: string, values: readonly string[]): CType => ({ k: 'string', of, values }),
} as const;

export function typeName(t: CType): string {
  switch (t.k) {
    case 'list':
      return `list(${typeName(t.elem)})`;
    case 'map':
      return `map(${typeName(t.key)}, ${typeName(t.value)})`;
    case 'record':
      return t.name;
    default:
      return t.k;
  }
}

interface Overload {
  readonly target: CType | undefined;
  readonly args: readonly CType[];
  readonly result: CType;
}

export interface CheckIssue {
  message: string;
  /** 0-based offset into the expression, when known. */
  offset?: number;
}

export interface CheckResult {
  type: CType;
  issues: CheckIssue[];
  /** Declared variables read, with `resource.<field>` and `context.<field>` for their fields read directly. */
  reads: Set<string>;
}

const TYPE_NAMES = new Set(['int', 'uint', 'double', 'string', 'bool', 'bytes', 'list', 'map', 'null_type', 'type', 'dyn']);
const NUMERIC = new Set(['int', 'uint', 'double']);

function fromCel(t: CelType): CType {
  switch (t.kind) {
    case 'list':
      return T.list(fromCel(t.element));
    case 'map':
      return T.map(fromCel(t.key), fromCel(t.value));
    case 'object':
      if (t.name === 'google.protobuf.Timestamp') return T.timestamp;
      if (t.name === 'google.protobuf.Duration') return T.duration;
      return T.dyn;
    case 'scalar':
      return t.name === 'null_type' ? T.null : ({ k: t.name } as CType);
  }
}

/** The overload table of an environment, by function name. Built once per environment. */
export function overloadTable(env: CelEnv): Map<string, Overload[]> {
  const table = new Map<string, Overload[]>();
  for (const f of env.funcs) {
    const list = table.get(f.name) ?? [];
    list.push({ target: f.target && fromCel(f.target), args: f.arguments.map(fromCel), result: fromCel(f.result) });
    table.set(f.name, list);
  }
  return table;
}

export function assignable(arg: CType, param: CType): boolean {
  if (param.k === 'dyn' || arg.k === 'dyn') return true;
  if (arg.k === 'record' && param.k === 'map') return assignable(T.string, param.key) && Object.values(arg.fields).every((f) => assignable(f, param.value));
  if (arg.k !== param.k) return false;
  if (arg.k === 'list' && param.k === 'list') return assignable(arg.elem, param.elem);
  if (arg.k === 'map' && param.k === 'map') return assignable(arg.key, param.key) && assignable(arg.value, param.value);
  if (arg.k === 'record' && param.k === 'record') return arg.name === param.name;
  return true;
}

/** Whether == between the two could ever be true (CEL compares numbers across int, uint and double). */
function comparable(a: CType, b: CType): boolean {
  if (a.k === 'dyn' || b.k === 'dyn' || a.k === 'null' || b.k === 'null') return true;
  if (NUMERIC.has(a.k) && NUMERIC.has(b.k)) return true;
  const mapLike = (t: CType) => t.k === 'map' || t.k === 'record';
  if (mapLike(a) && mapLike(b)) return true;
  return a.k === b.k;
}

function same(a: CType, b: CType): boolean {
  return typeName(a) === typeName(b);
}

const join = (a: CType, b: CType): CType => (same(a, b) ? a : T.dyn);

export class Checker {
  private readonly funcs: Map<string, Overload[]>;
  private scopes: Map<string, CType>[] = [];
  private issues: CheckIssue[] = [];
  private reads = new Set<string>();
  private positions: Record<string, number> = {};

  constructor(
    env: CelEnv,
    private readonly variables: Readonly<Record<string, CType>>,
  ) {
    this.funcs = overloadTable(env);
  }

  check(expr: Expr, sourceInfo: SourceInfo): CheckResult {
    this.scopes = [];
    this.issues = [];
    this.reads = new Set();
    this.positions = (sourceInfo?.positions ?? {}) as Record<string, number>;
    const type = this.expr(expr);
    return { type, issues: this.issues, reads: this.reads };
  }

  private fail(e: Expr, message: string): CType {
    const offset = this.positions[String(e.id)];
    this.issues.push(offset === undefined ? { message } : { message, offset });
    return T.dyn;
  }

  private expr(e: Expr): CType {
    const kind = e.exprKind;
    switch (kind.case) {
      case 'constExpr':
        return this.constant(kind.value.constantKind.case);
      case 'identExpr':
        return this.ident(e, kind.value.name);
      case 'selectExpr':
        return this.select(e, kind.value.operand, kind.value.field, kind.value.testOnly);
      case 'callExpr':
        return this.call(e, kind.value.function, kind.value.target, kind.value.args);
      case 'listExpr': {
        const elems = kind.value.elements.map((x) => this.expr(x));
        return T.list(elems.reduce<CType | undefined>((a, b) => (a ? join(a, b) : b), undefined) ?? T.dyn);
      }
      case 'structExpr': {
        if (kind.value.messageName) return this.fail(e, `message construction (${kind.value.messageName}{…}) is not supported`);
        let key: CType | undefined;
        let value: CType | undefined;
        for (const entry of kind.value.entries) {
          if (entry.keyKind.case !== 'mapKey' || !entry.value) return this.fail(e, 'malformed map literal');
          const k = this.expr(entry.keyKind.value);
          const v = this.expr(entry.value);
          key = key ? join(key, k) : k;
          value = value ? join(value, v) : v;
        }
        return T.map(key ?? T.dyn, value ?? T.dyn);
      }
      case 'comprehensionExpr':
        return this.comprehension(kind.value);
      default:
        return this.fail(e, 'empty expression');
    }
  }

  private constant(c: string | undefined): CType {
    switch (c) {
      case 'boolValue':
        return T.bool;
      case 'int64Value':
        return T.int;
      case 'uint64Value':
        return T.uint;
      case 'doubleValue':
        return T.double;
      case 'stringValue':
        return T.string;
      case 'bytesValue':
        return T.bytes;
      case 'nullValue':
        return T.null;
      case 'durationValue':
        return T.duration;
      case 'timestampValue':
        return T.timestamp;
      default:
        return T.dyn;
    }
  }

  private local(name: string): CType | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const t = this.scopes[i]?.get(name);
      if (t) return t;
    }
    return undefined;
  }

  private ident(e: Expr, name: string): CType {
    const local = this.local(name);
    if (local) return local;
    const global = this.variables[name];
    if (global) {
      this.reads.add(name);
      return global;
    }
    if (TYPE_NAMES.has(name)) return T.type;
    const candidates = [...Object.keys(this.variables), ...this.scopes.flatMap((s) => [...s.keys()])];
    const guess = closest(name, candidates);
    return this.fail(e, `undeclared reference to '${name}'${guess ? ` (did you mean '${guess}'?)` : ` (declared: ${Object.keys(this.variables).join(', ')})`}`);
  }

  private select(e: Expr, operand: Expr | undefined, field: string, testOnly: boolean): CType {
    if (!operand) return this.fail(e, 'malformed field selection');
    let t: CType;
    const op = operand.exprKind;
    if (op.case === 'identExpr' && op.value.name === 'resource' && !this.local('resource') && this.variables.resource) {
      // resource.server is known when listing a server; other fields are not: record them one by one.
      this.reads.add(`resource.${field}`);
      t = this.variables.resource;
    } else if (op.case === 'identExpr' && op.value.name === 'context' && !this.local('context') && this.variables.context) {
      // context.taint costs a storage read per request: recorded by field, so only policies that use it pay.
      // (`context` alone, e.g. context['taint'], is recorded as a whole: any field may be read.)
      this.reads.add(`context.${field}`);
      t = this.variables.context;
    } else t = this.expr(operand);
    const result = this.field(e, t, field);
    return testOnly ? T.bool : result;
  }

  private field(e: Expr, t: CType, field: string): CType {
    switch (t.k) {
      case 'dyn':
        return T.dyn;
      case 'record': {
        const f = t.fields[field];
        if (f) return f;
        const guess = closest(field, Object.keys(t.fields));
        return this.fail(e, `${t.name} has no field '${field}'${guess ? ` (did you mean '${guess}'?)` : ` (fields: ${Object.keys(t.fields).join(', ')})`}`);
      }
      case 'map':
        if (!assignable(T.string, t.key)) return this.fail(e, `cannot select '${field}' from ${typeName(t)}: keys are not strings`);
        return t.value;
      default:
        return this.fail(e, `cannot select field '${field}' from a value of type ${typeName(t)}`);
    }
  }

  private comprehension(c: Extract<Expr['exprKind'], { case: 'comprehensionExpr' }>['value']): CType {
    const range = c.iterRange ? this.expr(c.iterRange) : T.dyn;
    const vars = new Map<string, CType>();
    switch (range.k) {
      case 'list':
        if (c.iterVar2) vars.set(c.iterVar, T.int).set(c.iterVar2, range.elem);
        else vars.set(c.iterVar, range.elem);
        break;
      case 'map':
        vars.set(c.iterVar, range.key);
        if (c.iterVar2) vars.set(c.iterVar2, range.value);
        break;
      case 'record':
        vars.set(c.iterVar, T.string);
        if (c.iterVar2) vars.set(c.iterVar2, T.dyn);
        break;
      case 'dyn':
        vars.set(c.iterVar, T.dyn);
        if (c.iterVar2) vars.set(c.iterVar2, T.dyn);
        break;
      default:
        if (c.iterRange) this.fail(c.iterRange, `cannot iterate over a value of type ${typeName(range)}`);
        vars.set(c.iterVar, T.dyn);
    }
    const accu = c.accuInit ? this.expr(c.accuInit) : T.dyn;
    this.scopes.push(new Map([[c.accuVar, accu]]));
    this.scopes.push(vars);
    if (c.loopCondition) this.expr(c.loopCondition);
    if (c.loopStep) this.expr(c.loopStep);
    this.scopes.pop();
    const result = c.result ? this.expr(c.result) : T.dyn;
    this.scopes.pop();
    return result;
  }

  private call(e: Expr, fn: string, target: Expr | undefined, argExprs: Expr[]): CType {
    switch (fn) {
      case '_&&_':
      case '_||_':
      case '@not_strictly_false':
        for (const a of argExprs) this.expectBool(a, fn === '_&&_' ? '&&' : fn === '_||_' ? '||' : 'the macro');
        return T.bool;
      case '_?_:_': {
        const [c, a, b] = argExprs;
        if (c) this.expectBool(c, 'the condition of ?:');
        return a && b ? join(this.expr(a), this.expr(b)) : T.dyn;
      }
      case '_[_]':
        return this.index(e, argExprs);
      case '_==_':
      case '_!=_': {
        const [a, b] = argExprs.map((x) => this.expr(x)) as [CType, CType];
        if (!comparable(a, b)) this.fail(e, `cannot compare ${typeName(a)} with ${typeName(b)} (${fn === '_==_' ? '==' : '!='} is always ${fn !== '_==_'})`);
        else if (!this.knownValue(e, a, argExprs[1])) this.knownValue(e, b, argExprs[0]);
        return T.bool;
      }
      case '@in': {
        const [a, b] = argExprs.map((x) => this.expr(x)) as [CType, CType];
        if (b.k === 'list' && !comparable(a, b.elem)) return this.fail(e, `'in' looks for ${typeName(a)} in ${typeName(b)}`);
        if (b.k === 'list') this.knownValue(e, b.elem, argExprs[0]);
        return this.resolve(e, fn, undefined, [a, b]);
      }
    }
    if (target) {
      const qualified = qualifiedName(target);
      if (qualified && !this.local(qualified.split('.')[0] ?? '') && !this.variables[qualified.split('.')[0] ?? ''] && this.funcs.has(`${qualified}.${fn}`)) {
        return this.resolve(e, `${qualified}.${fn}`, undefined, argExprs.map((a) => this.expr(a)));
      }
      const t = this.expr(target);
      return this.resolve(e, fn, t, argExprs.map((a) => this.expr(a)));
    }
    return this.resolve(e, fn, undefined, argExprs.map((a) => this.expr(a)));
  }

  /** A string literal compared with a closed-set string must be one of its values (a typo would never match). */
  private knownValue(e: Expr, t: CType, literal: Expr | undefined): boolean {
    if (!('values' in t) || literal?.exprKind.case !== 'constExpr') return false;
    const c = literal.exprKind.value.constantKind;
    if (c.case !== 'stringValue' || t.values.includes(c.value)) return false;
    const guess = closest(c.value, t.values);
    this.fail(e, `${t.of} never holds '${c.value}'${guess ? ` (did you mean '${guess}'?)` : ''}; its values: ${t.values.join(', ')}`);
    return true;
  }

  private expectBool(a: Expr, where: string): void {
    const t = this.expr(a);
    if (t.k !== 'bool' && t.k !== 'dyn') this.fail(a, `${where} needs a bool, got ${typeName(t)}`);
  }

  private index(e: Expr, argExprs: Expr[]): CType {
    const [container, key] = argExprs;
    if (!container || !key) return this.fail(e, 'malformed index');
    const c = this.expr(container);
    const k = this.expr(key);
    switch (c.k) {
      case 'dyn':
        return T.dyn;
      case 'list':
        if (!assignable(k, T.int) && k.k !== 'uint') return this.fail(key, `a list index must be an int, got ${typeName(k)}`);
        return c.elem;
      case 'map':
        if (!assignable(k, c.key) && !(NUMERIC.has(k.k) && NUMERIC.has(c.key.k))) return this.fail(key, `a key of ${typeName(c)} cannot be ${typeName(k)}`);
        return c.value;
      case 'record': {
        if (!assignable(k, T.string)) return this.fail(key, `a field of ${c.name} is named by a string, got ${typeName(k)}`);
        const kk = key.exprKind;
        if (kk.case === 'constExpr' && kk.value.constantKind.case === 'stringValue') return this.field(key, c, kk.value.constantKind.value);
        return T.dyn;
      }
      default:
        return this.fail(e, `cannot index a value of type ${typeName(c)}`);
    }
  }

  private resolve(e: Expr, fn: string, target: CType | undefined, args: CType[]): CType {
    const display = displayName(fn);
    const overloads = this.funcs.get(fn);
    if (!overloads) {
      const guess = closest(fn, [...this.funcs.keys()].filter((n) => /^[a-zA-Z]/.test(n)));
      return this.fail(e, `undeclared function '${fn}'${guess ? ` (did you mean '${guess}'?)` : ''}`);
    }
    const shaped = overloads.filter((o) => (target ? o.target !== undefined : o.target === undefined) && o.args.length === args.length);
    const signature = `${target ? `${typeName(target)}.` : ''}${display}(${args.map(typeName).join(', ')})`;
    if (shaped.length === 0) {
      const forms = overloads.map((o) => `${o.target ? `${typeName(o.target)}.` : ''}${display}(${o.args.map(typeName).join(', ')})`);
      return this.fail(e, `no overload of '${display}' takes ${signature}; known: ${[...new Set(forms)].join(', ')}`);
    }
    const matching = shaped.filter((o) => (!target || !o.target || assignable(target, o.target)) && o.args.every((p, i) => assignable(args[i] as CType, p)));
    if (matching.length === 0) {
      const forms = shaped.map((o) => `${o.target ? `${typeName(o.target)}.` : ''}${display}(${o.args.map(typeName).join(', ')})`);
      return this.fail(e, `no matching overload for ${signature}; known: ${[...new Set(forms)].join(', ')}`);
    }
    return matching.map((o) => o.result).reduce(join);
  }
}

/** "strings" for `strings.quote(…)`, "a.b" for `a.b.f(…)`: a target that may be a namespace rather than a value. */
function qualifiedName(e: Expr): string | undefined {
  const k = e.exprKind;
  if (k.case === 'identExpr') return k.value.name;
  if (k.case === 'selectExpr' && k.value.operand && !k.value.testOnly) {
    const left = qualifiedName(k.value.operand);
    return left ? `${left}.${k.value.field}` : undefined;
  }
  return undefined;
}

/** "_+_" → "+", "!_" → "!", "-_" → "-" (as the user wrote them). */
function displayName(fn: string): string {
  const m = /^_(.+)_$/.exec(fn) ?? /^(.+)_$/.exec(fn);
  return m?.[1] ?? fn;
}

/** 1-based line and column of an offset in the expression text. */
export function lineColumn(source: string, offset: number): { line: number; column: number } {
  const before = source.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}
