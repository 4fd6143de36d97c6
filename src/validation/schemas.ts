/**
 * JSON Schema validation of tool arguments and results (Ajv, draft 2020-12). Validators are compiled once per
 * schema and cached: first by the schema object (the catalogue keeps one object per tool definition), then by the
 * digest of its canonical JSON, so a definition that is fetched again, or the same schema on two servers, is not
 * compiled twice. Nothing is ever fetched: a `$ref` that does not resolve inside the schema makes it unusable,
 * and a tool whose schema is unusable is refused rather than passed unchecked.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { RE2JS } from '@bufbuild/re2';
import { digest } from '../core/canonical.js';
import { isObject } from '../core/jsonrpc.js';

/** A compiled schema, or why it cannot be used. */
export type Compiled = { readonly validate: ValidateFunction; readonly error?: undefined } | { readonly validate?: undefined; readonly error: string };

const MAX_CACHED = 2000;
const MAX_MESSAGES = 5;

/**
 * `pattern` and `patternProperties` come from upstream schemas, i.e. from untrusted servers: a backtracking engine
 * would let one pattern (`^(a+)+$`) stall the gateway on a crafted argument. RE2 (@bufbuild/re2, already here for
 * CEL) runs in linear time; a pattern it cannot compile (backreferences, lookaround) makes the schema unusable, and
 * the tool is refused with that reason rather than checked by a backtracking engine.
 */
const linearRegExp = Object.assign((pattern: string) => {
  const re = RE2JS.compile(pattern);
  // Ajv keys compiled patterns by toString(): it must name the pattern, or every pattern would share the first.
  return { test: (s: string) => re.test(s), toString: () => `re2:${pattern}` };
}, { code: 'linearRegExp' });

function newAjv(): Ajv2020 {
  // strict: false — upstream schemas carry keywords of their own (x-mcp-header, examples from generators);
  // unknown keywords are ignored, never errors. No loadSchema: remote references are never fetched.
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true, inlineRefs: true, code: { regExp: linearRegExp } });
  formats.default(ajv);
  return ajv;
}

export class SchemaCache {
  private ajv = newAjv();
  private readonly byObject = new WeakMap<object, Compiled>();
  private readonly byDigest = new Map<string, Compiled>();
  /** How many schemas were compiled (tests and benchmarks read this). */
  compiled = 0;

  /** The validator for a schema; undefined when there is no schema (nothing to check). */
  get(schema: unknown): Compiled | undefined {
    if (!isObject(schema)) return undefined;
    let c = this.byObject.get(schema);
    if (c) return c;
    let key: string;
    try {
      key = digest(schema);
    } catch (e) {
      c = { error: `the schema is not JSON (${(e as Error).message})` };
      this.byObject.set(schema, c);
      return c;
    }
    c = this.byDigest.get(key);
    if (c) {
    } else {
      c = this.compile(schema);
      this.byDigest.set(key, c);
      if (this.byDigest.size > MAX_CACHED) this.evict();
    }
    this.byObject.set(schema, c);
    return c;
  }

  private compile(schema: Record<string, unknown>): Compiled {
    // MCP schemas are 2020-12 unless they say otherwise; a draft-07 $schema would make Ajv2020 refuse the schema,
    // and a root $id would collide between tools that share it. Both are dropped at the root only.
    const { $schema: _s, $id: _i, ...body } = schema;
    this.compiled++;
    try {
      return { validate: this.ajv.compile(body) };
    } catch (e) {
      return { error: describeCompileError(e) };
    }
  }

  /**
   * Too many distinct schemas (an upstream churning definitions): start over with a fresh Ajv instance, which
   * forgets every schema the old one held. Validators already handed out keep working.
   */
  private evict(): void {
    this.byDigest.clear();
    this.ajv = newAjv();
  }
}

function describeCompileError(e: unknown): string {
  const m = (e as Error).message ?? String(e);
  if (/can't resolve reference|resolve reference/i.test(m)) return `it has a $ref that does not resolve within the schema (remote references are not fetched): ${m}`;
  return m;
}

/** One readable line per problem, e.g. `path: must match pattern "^/srv/"`, `missing required argument 'path'`. */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined, root: string): string {
  const lines: string[] = [];
  for (const e of errors ?? []) {
    const line = describeError(e, root);
    if (!lines.includes(line)) lines.push(line);
    if (lines.length === MAX_MESSAGES) break;
  }
  const more = (errors?.length ?? 0) > lines.length ? ` (and ${(errors?.length ?? 0) - lines.length} more)` : '';
  return lines.join('; ') + more;
}

function describeError(e: ErrorObject, root: string): string {
  const at = pointerPath(e.instancePath);
  const where = at ? `${at}: ` : root ? `${root}: ` : '';
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return at ? `${at}: missing required property '${String(p.missingProperty)}'` : `missing required ${root ? `${root.replace(/s$/, '')} ` : ''}'${String(p.missingProperty)}'`;
    case 'additionalProperties':
      return at ? `${at}: unknown property '${String(p.additionalProperty)}'` : `unknown ${root ? `${root.replace(/s$/, '')} ` : 'property '}'${String(p.additionalProperty)}'`;
    case 'type':
      return `${where}must be ${String(p.type)}`;
    case 'enum':
      return `${where}must be one of ${JSON.stringify(p.allowedValues)}`;
    case 'const':
      return `${where}must be ${JSON.stringify(p.allowedValue)}`;
    default:
      return `${where}${e.message ?? `fails ${e.keyword}`}`;
  }
}

/** "/path/0/name" → "path[0].name". */
function pointerPath(pointer: string): string {
  if (!pointer) return '';
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`))
    .join('');
}

/**
 * Operator tightening: `additionalProperties: false` in a config schema means "nothing beyond what the upstream
 * declares", which JSON Schema alone would read as "nothing beyond the config schema's own properties". So the
 * upstream's property names are admitted into the tightening schema. Memoised per pair of objects.
 */
const admitted = new WeakMap<object, WeakMap<object, Record<string, unknown>>>();
export function admitUpstreamProperties(tightening: Record<string, unknown>, upstream: unknown): Record<string, unknown> {
  if (tightening.additionalProperties !== false || !isObject(upstream) || !isObject(upstream.properties)) return tightening;
  let inner = admitted.get(tightening);
  if (!inner) admitted.set(tightening, (inner = new WeakMap()));
  let out = inner.get(upstream);
  if (!out) {
    const own = isObject(tightening.properties) ? tightening.properties : {};
    const properties: Record<string, unknown> = {};
    for (const k of Object.keys(upstream.properties)) properties[k] = true;
    out = { ...tightening, properties: { ...properties, ...own } };
    inner.set(upstream, out);
  }
  return out;
}
