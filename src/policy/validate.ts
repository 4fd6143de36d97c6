/**
 * Shape checking of a policy document against POLICY_SCHEMA (Ajv, draft 2020-12), with messages a person fixes
 * without reading JSON Schema. When the policy sits inside portcullis.yaml the config loader validates the same
 * schema first; this keeps compilePolicy safe on its own (tests, `portcullis policy test`).
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { formatPath, pointerToSegments } from '../config/paths.js';
import { closest } from '../config/suggest.js';
import { describe, typeName } from '../config/validate.js';
import type { SchemaNode } from '../config/schema.js';
import { POLICY_SCHEMA } from './configSchema.js';
import type { PolicyIssue } from './errors.js';

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  compiled ??= new Ajv2020({ allErrors: true, strict: true, verbose: true }).compile(POLICY_SCHEMA);
  return compiled;
}

/** Issues for `doc` (the value of the `policy:` key), with paths prefixed by `base`. */
export function validatePolicyShape(doc: unknown, base: string): PolicyIssue[] {
  const validate = validator();
  if (validate(doc)) return [];
  const seen = new Set<string>();
  const out: PolicyIssue[] = [];
  for (const e of oneOfBranches(validate.errors ?? [])) {
    const t = translate(e, doc);
    if (!t) continue;
    const path = [base, formatPath(t.segs)].filter(Boolean).join('.');
    if (seen.has(path)) continue;
    seen.add(path);
    out.push({ path, message: t.message });
  }
  return out;
}

/**
 * A value that may take two forms (`under`: a path or a list; `principals`: a mapping or a list) gets a type error
 * from the branch it did not take. Keep the errors of the branch it took; when it took none, say the forms once.
 */
export function oneOfBranches(errors: readonly ErrorObject[]): ErrorObject[] {
  const branchType = (e: ErrorObject) => e.keyword === 'type' && /\/oneOf\/\d+\/type$/.test(e.schemaPath);
  const out: ErrorObject[] = [];
  const merged = new Set<string>();
  for (const e of errors) {
    if (!branchType(e)) {
      out.push(e);
      continue;
    }
    const within = (x: ErrorObject) => x.instancePath === e.instancePath || x.instancePath.startsWith(`${e.instancePath}/`);
    const deeper = errors.some((x) => !branchType(x) && x.keyword !== 'oneOf' && within(x));
    if (deeper || merged.has(e.instancePath)) continue;
    merged.add(e.instancePath);
    const types = errors.filter((x) => branchType(x) && x.instancePath === e.instancePath).map((x) => String((x.params as { type?: unknown }).type));
    out.push({ ...e, params: { type: types.join(' or ') } });
  }
  return out;
}

function translate(e: ErrorObject, root: unknown): { segs: (string | number)[]; message: string } | undefined {
  const segs = pointerToSegments(e.instancePath, root);
  const p = e.params as Record<string, unknown>;
  const parent = e.parentSchema as SchemaNode | undefined;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(p.additionalProperty);
      const allowed = Object.keys(parent?.properties ?? {});
      const guess = closest(key, allowed);
      return { segs: [...segs, key], message: `unknown key (${guess ? `did you mean "${guess}"?` : `expected one of: ${allowed.join(', ')}`})` };
    }
    case 'required':
      return { segs: [...segs, String(p.missingProperty)], message: 'required key is missing' };
    case 'enum':
      return { segs, message: `must be one of ${(p.allowedValues as unknown[]).map(String).join(', ')} (got ${describe(e.data)})` };
    case 'type':
      return { segs, message: `must be ${String(p.type).split(' or ').map(typeName).join(' or ')} (got ${describe(e.data)})` };
    case 'pattern':
      return { segs, message: patternMessage(String(p.pattern), e.data) };
    case 'minItems':
      return { segs, message: 'must list at least one item' };
    case 'minLength':
      return { segs, message: 'must not be empty' };
    case 'uniqueItems':
      return { segs, message: `repeats an item (${describe((e.data as unknown[])[Number(p.i)])})` };
    case 'minimum':
    case 'maximum':
      return { segs, message: `must be ${String(p.comparison)} ${String(p.limit)} (got ${describe(e.data)})` };
    case 'oneOf':
      return undefined; // the branch errors say what is wrong
    default:
      return { segs, message: e.message ?? `fails ${e.keyword}` };
  }
}

function patternMessage(pattern: string, data: unknown): string {
  if (pattern === '^[^/]+/.+$') return `must be "server/name" (got ${describe(data)})`;
  if (pattern === '^[^/]+$') return `must be a server name without "/" (got ${describe(data)})`;
  if (pattern.startsWith('^([01]')) return `must be "HH:MM-HH:MM" (got ${describe(data)})`;
  if (pattern.startsWith('^[A-Za-z0-9]')) return `must be letters, digits and . _ : - (got ${describe(data)})`;
  return `must match ${pattern} (got ${describe(data)})`;
}

