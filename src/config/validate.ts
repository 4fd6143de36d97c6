/**
 * Schema validation with Ajv (draft 2020-12): fills defaults in place, then turns Ajv's errors into messages a
 * person fixes without reading JSON Schema ("unknown key (did you mean ...)", "must be one of ...").
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { CONFIG_SCHEMA, ENV_NAME_PATTERN, HEADER_NAME_PATTERN, HEADER_VALUE_PATTERN, NAME_PATTERN, type SchemaNode } from './schema.js';
import { pointerToSegments, type PathIssue, type Segment } from './paths.js';
import { closest } from './suggest.js';
import { oneOfBranches } from '../policy/validate.js';

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (!compiled) {
    // verbose: errors carry the offending data and schema, which the messages below quote.
    const ajv = new Ajv2020({ allErrors: true, useDefaults: true, discriminator: true, verbose: true, strict: true });
    formats.default(ajv);
    compiled = ajv.compile(CONFIG_SCHEMA);
  }
  return compiled;
}

/**
 * Validates `data` and fills in defaults (mutating it). `substituted` holds JSON Pointers of values that came
 * from ${VAR}: such a string is converted when the key expects a number or boolean (`port: ${PORT}`).
 */
export function validateSchema(data: unknown, substituted: ReadonlySet<string> = new Set()): PathIssue[] {
  const validate = validator();
  for (let pass = 0; ; pass++) {
    if (validate(data)) return [];
    // The policy's shape is reported by compilePolicy (crossCheck), in the policy's own words.
    const errors = (validate.errors ?? []).filter((e) => e.instancePath !== '/policy' && !e.instancePath.startsWith('/policy/'));
    if (errors.length === 0) return [];
    if (pass === 0 && coerceSubstituted(data, errors, substituted)) continue;
    return dedupe(oneOfBranches(errors).flatMap((e) => translate(e, data) ?? []));
  }
}

function coerceSubstituted(data: unknown, errors: readonly ErrorObject[], substituted: ReadonlySet<string>): boolean {
  let changed = false;
  for (const e of errors) {
    if (e.keyword !== 'type' || !substituted.has(e.instancePath) || typeof e.data !== 'string') continue;
    const value = convert(e.data.trim(), String(e.params.type));
    if (value === undefined) continue;
    const segs = pointerToSegments(e.instancePath, data);
    const last = segs.pop();
    let parent: unknown = data;
    for (const s of segs) parent = (parent as Record<string | number, unknown>)[s];
    if (last !== undefined && parent !== null && typeof parent === 'object') {
      (parent as Record<string | number, unknown>)[last] = value;
      changed = true;
    }
  }
  return changed;
}

function convert(s: string, type: string): number | boolean | undefined {
  if (type === 'integer' && /^[-+]?\d+$/.test(s)) return Number(s);
  if (type === 'number' && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return Number(s);
  if (type === 'boolean' && /^(true|false)$/i.test(s)) return s.toLowerCase() === 'true';
  return undefined;
}

/** Several errors at one path say the same thing in different words; the first is the most basic (type before format). */
function dedupe(issues: PathIssue[]): PathIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = JSON.stringify(i.segs);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

const PATTERN_HINTS: Record<string, (got: string) => string> = {
  [NAME_PATTERN]: (got) =>
    `invalid name ${got}: use letters, digits and "-" (at most 63, not starting with "-"); "_" and "." are reserved because tools are exposed as {server}__{tool}`,
  [ENV_NAME_PATTERN]: (got) => `invalid environment variable name ${got}: letters, digits and "_", not starting with a digit`,
  [HEADER_NAME_PATTERN]: (got) => `invalid header name ${got}`,
  [HEADER_VALUE_PATTERN]: () => 'must not contain line breaks',
  '^https?://': (got) => `must be an http:// or https:// URL (got ${got})`,
};

function translate(e: ErrorObject, root: unknown): PathIssue | undefined {
  const segs: Segment[] = pointerToSegments(e.instancePath, root);
  const p = e.params as Record<string, unknown>;
  const parent = e.parentSchema as SchemaNode | undefined;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const allowed = Object.keys(parent?.properties ?? {});
      const guess = closest(key, allowed);
      const hint = guess ? `did you mean "${guess}"?` : `expected one of: ${allowed.join(', ')}`;
      return { segs: [...segs, key], key: true, message: `unknown key (${hint})` };
    }
    case 'required': {
      const key = String(p.missingProperty);
      const tags = parent?.discriminator?.propertyName === key ? ` (one of ${discriminatorValues(parent).join(', ')})` : '';
      return { segs: [...segs, key], message: `required key is missing${tags}` };
    }
    case 'discriminator':
      // A missing tag is already reported by "required".
      if (p.tagValue === undefined) return undefined;
      return {
        segs: [...segs, String(p.tag)],
        message: `must be one of ${discriminatorValues(parent).join(', ')} (got ${describe(p.tagValue)})`,
      };
    case 'propertyNames':
      return undefined; // the nested error names the key
    case 'oneOf':
      return undefined; // the branch errors say what is wrong
    case 'pattern': {
      const pattern = String(p.pattern);
      if (e.propertyName !== undefined) {
        const hint = PATTERN_HINTS[pattern]?.(describe(e.propertyName)) ?? `invalid key ${describe(e.propertyName)} (must match ${pattern})`;
        return { segs: [...segs, e.propertyName], key: true, message: hint };
      }
      return { segs, message: PATTERN_HINTS[pattern]?.(describe(e.data)) ?? patternMessage(pattern, e.data) };
    }
    case 'enum':
      return { segs, message: `must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')} (got ${describe(e.data)})` };
    case 'type':
      return { segs, message: `must be ${typeName(String(p.type))} (got ${describe(e.data)})` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { segs, message: `must be ${String(p.comparison)} ${String(p.limit)} (got ${describe(e.data)})` };
    case 'minLength':
      return { segs, message: p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters` };
    case 'minItems':
      return { segs, message: p.limit === 1 ? 'must list at least one item' : `must list at least ${String(p.limit)} items` };
    case 'uniqueItems': {
      const [first, dup] = [Number(p.i), Number(p.j)].sort((a, b) => a - b) as [number, number];
      return { segs: [...segs, dup], message: `repeats item [${first}] (${describe((e.data as unknown[])[dup])})` };
    }
    case 'format':
      return { segs, message: `must be a valid ${String(p.format)} (got ${describe(e.data)})` };
    default:
      return { segs, message: e.message ?? `fails ${e.keyword}` };
  }
}

function patternMessage(pattern: string, data: unknown): string {
  if (pattern.startsWith('^[a-zA-Z][a-zA-Z0-9+.-]*://')) return `must be an origin such as "https://console.example.com", without a path (got ${describe(data)})`;
  return `must match ${pattern} (got ${describe(data)})`;
}

function discriminatorValues(schema: SchemaNode | undefined): string[] {
  return (schema?.oneOf ?? []).flatMap((branch) => {
    const name = branch.$ref?.replace('#/$defs/', '');
    const tag = name ? CONFIG_SCHEMA.$defs?.[name]?.properties?.transport?.const : undefined;
    return tag ? [tag] : [];
  });
}

/** A JSON type as the user would say it. */
export function typeName(t: string): string {
  const names: Record<string, string> = {
    integer: 'an integer',
    number: 'a number',
    string: 'a string',
    boolean: 'true or false',
    object: 'a mapping (key: value)',
    array: 'a list',
  };
  return names[t] ?? t;
}

/** The offending value as the user wrote it, short enough for one line. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') {
    const s = JSON.stringify(v);
    return s.length > 60 ? s.slice(0, 57) + '..."' : s;
  }
  return String(v);
}
