/**
 * CEL conditions: the declared variables and their types, the environment (standard library, the strings
 * extension, and pathUnder), compile-once (parse → check → plan) and the bindings a decision evaluates against.
 */
import { celEnv, celFunc, CelScalar, isCelError, mapType, parse, plan, type CelInput } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { Checker, lineColumn, T, typeName, type CType } from './celCheck.js';
import { checkUnder, normalisePath, unsafePath } from './paths.js';
import { TAINT_NAMES, type PolicyContext, type PolicyPrincipal, type PolicyResource } from './types.js';

/** The variables a condition may use, with the fields the checker knows (a typo in a field name is a load error). */
export const CEL_VARIABLES: Readonly<Record<string, CType>> = {
  principal: T.record('principal', {
    subject: T.string,
    issuer: T.string,
    clientId: T.string,
    scopes: T.list(T.string),
    roles: T.list(T.string),
    groups: T.list(T.string),
    tenant: T.string,
    attributes: T.map(T.string, T.dyn),
    method: T.string,
  }),
  action: T.string,
  resource: T.record('resource', {
    kind: T.string,
    server: T.string,
    name: T.string,
    uri: T.string,
    annotations: T.record('annotations', { readOnlyHint: T.bool, destructiveHint: T.bool, idempotentHint: T.bool, openWorldHint: T.bool }),
    tags: T.list(T.string),
  }),
  args: T.map(T.string, T.dyn),
  context: T.record('context', {
    time: T.timestamp,
    client: T.record('client', { name: T.string, version: T.string }),
    session: T.string,
    era: T.string,
    endpoint: T.string,
    taint: T.list(T.oneOf('context.taint', TAINT_NAMES)),
  }),
};

/** pathUnder(path, root): the same check as the `under` argument constraint (unsafe paths are never under anything). */
const pathUnder = celFunc('pathUnder', [CelScalar.STRING, CelScalar.STRING], CelScalar.BOOL, (p, root) => {
  if (unsafePath(root)) return false;
  return checkUnder(p, [normalisePath(root)]) === undefined;
});

const OBJ = mapType(CelScalar.STRING, CelScalar.DYN);
const ENV = celEnv({
  funcs: [...strings, pathUnder],
  variables: { principal: OBJ, action: CelScalar.STRING, resource: OBJ, args: OBJ, context: OBJ },
});

let checker: Checker | undefined;

export interface CelBindings {
  principal: CelInput;
  action: string;
  resource: CelInput;
  args: CelInput;
  context: CelInput;
}

export interface CompiledCel {
  readonly source: string;
  /** Declared variables read; `resource.<field>`, `context.<field>` for their fields (`context` alone: all of it). */
  readonly reads: ReadonlySet<string>;
  /** true or false, or an error message (evaluation error, or a result that is not a bool). */
  evaluate(b: CelBindings): boolean | string;
}

export type CelCompileResult = { ok: true; cel: CompiledCel } | { ok: false; messages: string[] };

/** Parses, type-checks and plans a condition. Pure: the environment and checker are shared, stateless between calls. */
export function compileCel(source: string): CelCompileResult {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (e) {
    return { ok: false, messages: [syntaxMessage(e)] };
  }
  checker ??= new Checker(ENV, CEL_VARIABLES);
  const result = checker.check(parsed.expr, parsed.sourceInfo);
  const messages = result.issues.map((i) => {
    if (i.offset === undefined) return i.message;
    const { line, column } = lineColumn(source, i.offset);
    return `${i.message} (at ${line}:${column})`;
  });
  if (messages.length === 0 && result.type.k !== 'bool' && result.type.k !== 'dyn') {
    messages.push(`the condition must be a bool, but it is ${typeName(result.type)}`);
  }
  if (messages.length > 0) return { ok: false, messages };
  const run = plan(ENV, parsed);
  return {
    ok: true,
    cel: {
      source,
      reads: result.reads,
      evaluate(b) {
        const v = run(b as unknown as Parameters<typeof run>[0]);
        if (isCelError(v)) return v.message;
        if (typeof v === 'boolean') return v;
        return `the condition evaluated to a ${typeof v}, not a bool`;
      },
    },
  };
}

function syntaxMessage(e: unknown): string {
  const err = e as { rawMessage?: unknown; location?: { start?: { line?: number; column?: number } }; message?: unknown };
  const at = err.location?.start;
  if (typeof err.rawMessage === 'string' && at?.line !== undefined) return `syntax error: ${err.rawMessage} (at ${at.line}:${at.column ?? 1})`;
  return `syntax error: ${String(err.message ?? e)}`;
}

/** JSON-like values as CEL sees them: undefined dropped, non-data values made null. */
export function celValue(v: unknown, depth = 0): CelInput {
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'bigint') return v;
  if (depth > 32 || typeof v !== 'object') return null;
  if (v instanceof Date) return timestamp(v);
  if (Array.isArray(v)) return v.filter((x) => x !== undefined).map((x) => celValue(x, depth + 1));
  // fromEntries defines own properties: a "__proto__" key stays a key instead of replacing the prototype.
  return Object.fromEntries(Object.entries(v).flatMap(([k, x]) => (x === undefined ? [] : [[k, celValue(x, depth + 1)]])));
}

export function timestamp(d: Date): CelInput {
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return { $typeName: 'google.protobuf.Timestamp', seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1e6 } as unknown as CelInput;
}

export function celPrincipal(p: PolicyPrincipal): CelInput {
  return {
    subject: p.subject,
    issuer: p.issuer ?? '',
    clientId: p.clientId ?? '',
    scopes: [...p.scopes],
    roles: [...p.roles],
    groups: [...p.groups],
    tenant: p.tenant ?? '',
    attributes: celValue(p.attributes),
    method: p.method,
  };
}

/** MCP's documented defaults stand in for missing hints: not read-only, destructive, not idempotent, open world. */
export function celResource(r: PolicyResource): CelInput {
  const a = r.annotations;
  return {
    kind: r.kind,
    server: r.server,
    name: r.name ?? '',
    uri: r.uri ?? '',
    annotations: {
      readOnlyHint: a?.readOnlyHint ?? false,
      destructiveHint: a?.destructiveHint ?? true,
      idempotentHint: a?.idempotentHint ?? false,
      openWorldHint: a?.openWorldHint ?? true,
    },
    tags: [...(r.tags ?? [])],
  };
}

export function celContext(c: PolicyContext): CelInput {
  return {
    time: timestamp(c.time),
    client: { name: c.client?.name ?? '', version: c.client?.version ?? '' },
    session: c.session ?? '',
    era: c.era,
    endpoint: c.endpoint,
    taint: c.taint ? [...c.taint] : [],
  };
}
