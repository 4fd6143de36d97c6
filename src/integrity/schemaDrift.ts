/**
 * Drift of a JSON Schema (a tool's inputSchema or outputSchema), keyword by keyword. The rule is conservative:
 * a change is tightening only when every input valid after it was valid before (a bound added or narrowed, an enum
 * or type narrowed, an optional parameter removed, additionalProperties closed). Anything this module does not
 * understand — oneOf, $ref, if/then/else, a changed pattern — is a change, never assumed safe.
 */
import { childPath } from './jsonPath.js';
import { isObject } from './definitions.js';
import { loosening, sameJson, tightening, type DriftChange } from './driftChange.js';

const TEXT_KEYWORDS = new Set(['description', 'title', '$comment', 'markdownDescription']);
const VALUE_KEYWORDS = new Set(['default', 'examples']);
const HINT_KEYWORDS = new Set(['deprecated', 'readOnly', 'writeOnly']);
/** Smaller is stricter. */
const UPPER_BOUNDS = new Set(['maxLength', 'maximum', 'exclusiveMaximum', 'maxItems', 'maxProperties', 'maxContains']);
/** Larger is stricter. */
const LOWER_BOUNDS = new Set(['minLength', 'minimum', 'exclusiveMinimum', 'minItems', 'minProperties', 'minContains']);
/** Adding one is stricter; changing one proves nothing. */
const PRESENCE_CONSTRAINTS = new Set(['pattern', 'format', 'const', 'multipleOf']);
const CLOSING_KEYWORDS = new Set(['additionalProperties', 'unevaluatedProperties', 'additionalItems', 'unevaluatedItems']);
/** Each member narrowed ⇒ the whole narrowed (union or intersection); not true of oneOf. */
const MONOTONE_LISTS = new Set(['anyOf', 'allOf']);

export function compareSchema(before: unknown, after: unknown, path: string, out: DriftChange[]): void {
  if (sameJson(before, after)) return;
  if (!isObject(before) || !isObject(after)) {
    if (after === false || (before === true && isObject(after))) out.push(tightening(path, 'constraint-added', before, after, 'schema now rejects more'));
    else out.push(loosening(path, 'schema-changed', 'medium', before, after, 'schema replaced'));
    return;
  }
  compareParameters(before, after, path, out);
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (key === 'properties' || key === 'required') continue;
    const b = before[key];
    const a = after[key];
    if (!sameJson(b, a)) compareKeyword(key, b, a, childPath(path, key), out);
  }
}

function compareKeyword(key: string, b: unknown, a: unknown, path: string, out: DriftChange[]): void {
  if (TEXT_KEYWORDS.has(key)) {
    out.push(a === undefined
      ? loosening(path, 'text-changed', 'low', b, a, 'text removed')
      : loosening(path, 'text-changed', 'medium', b, a, b === undefined ? 'text added' : 'text changed'));
  } else if (VALUE_KEYWORDS.has(key)) out.push(loosening(path, 'value-changed', 'medium', b, a, `${key} changed`));
  else if (HINT_KEYWORDS.has(key)) out.push(loosening(path, 'value-changed', 'low', b, a, `${key} changed`));
  else if (UPPER_BOUNDS.has(key) || LOWER_BOUNDS.has(key)) out.push(compareBound(key, b, a, path));
  else if (PRESENCE_CONSTRAINTS.has(key)) out.push(comparePresence(key, b, a, path));
  else if (key === 'enum') out.push(compareEnum(b, a, path));
  else if (key === 'type') out.push(compareType(b, a, path));
  else if (key === 'uniqueItems') {
    out.push(a === true ? tightening(path, 'constraint-added', b, a, 'items must now be unique') : loosening(path, 'constraint-removed', 'low', b, a, 'items no longer need to be unique'));
  } else if (CLOSING_KEYWORDS.has(key)) compareClosing(key, b, a, path, out);
  else if (key === 'items' && isObject(b) && isObject(a)) compareSchema(b, a, path, out);
  else if ((MONOTONE_LISTS.has(key) || key === 'items' || key === 'prefixItems') && Array.isArray(b) && Array.isArray(a) && b.length === a.length) {
    b.forEach((member, i) => compareSchema(member, a[i], childPath(path, i), out));
  } else out.push(loosening(path, 'schema-changed', 'medium', b, a, `${key} changed (not provably tightening)`));
}

function compareBound(key: string, b: unknown, a: unknown, path: string): DriftChange {
  if (a === undefined) return loosening(path, 'constraint-removed', 'low', b, a, `${key} removed`);
  if (typeof a !== 'number' || (b !== undefined && typeof b !== 'number')) return loosening(path, 'constraint-changed', 'medium', b, a, `${key} changed`);
  if (b === undefined) return tightening(path, 'constraint-added', b, a, `${key} added`);
  const stricter = UPPER_BOUNDS.has(key) ? a < (b as number) : a > (b as number);
  return stricter
    ? tightening(path, 'constraint-tightened', b, a, `${key} narrowed`)
    : loosening(path, 'constraint-loosened', 'low', b, a, `${key} widened`);
}

function comparePresence(key: string, b: unknown, a: unknown, path: string): DriftChange {
  if (b === undefined) return tightening(path, 'constraint-added', b, a, `${key} added`);
  if (a === undefined) return loosening(path, 'constraint-removed', 'low', b, a, `${key} removed`);
  return loosening(path, 'constraint-changed', 'medium', b, a, `${key} changed (not provably narrower)`);
}

function compareEnum(b: unknown, a: unknown, path: string): DriftChange {
  if (a === undefined) return loosening(path, 'constraint-removed', 'low', b, a, 'enum removed');
  if (!Array.isArray(a) || (b !== undefined && !Array.isArray(b))) return loosening(path, 'schema-changed', 'medium', b, a, 'enum changed');
  if (b === undefined) return tightening(path, 'constraint-added', b, a, 'enum added');
  const allowed = (b as unknown[]).map((v) => JSON.stringify(v));
  const added = a.filter((v) => !(b as unknown[]).some((old) => sameJson(old, v)));
  return added.length === 0
    ? tightening(path, 'enum-narrowed', b, a, 'enum narrowed')
    : loosening(path, 'enum-widened', 'low', b, a, `enum gained ${added.map((v) => JSON.stringify(v)).join(', ')} (had ${allowed.length})`);
}

function typeSet(t: unknown): Set<string> | undefined {
  if (typeof t === 'string') return new Set([t]);
  if (Array.isArray(t) && t.every((x) => typeof x === 'string')) return new Set(t as string[]);
  return undefined;
}

function compareType(b: unknown, a: unknown, path: string): DriftChange {
  const before = b === undefined ? undefined : typeSet(b);
  const after = typeSet(a);
  if (a !== undefined && after && b === undefined) return tightening(path, 'constraint-added', b, a, 'type added');
  if (before && after && [...after].every((t) => before.has(t) || (t === 'integer' && before.has('number')))) {
    return tightening(path, 'type-narrowed', b, a, 'type narrowed');
  }
  return loosening(path, 'type-changed', 'medium', b, a, 'type changed');
}

const isOpen = (v: unknown) => v === undefined || v === true;

function compareClosing(key: string, b: unknown, a: unknown, path: string, out: DriftChange[]): void {
  if (isObject(b) && isObject(a)) compareSchema(b, a, path, out);
  else if (isOpen(b) && isOpen(a)) out.push(loosening(path, 'value-changed', 'low', b, a, `${key} made explicit or implicit (still open)`));
  else if (a === false || (isOpen(b) && isObject(a))) out.push(tightening(path, 'constraint-added', b, a, `${key} restricted`));
  else out.push(loosening(path, 'constraint-removed', 'medium', b, a, `${key} opened: undeclared fields now accepted`));
}

function requiredSet(schema: Record<string, unknown>): Set<string> {
  const req = schema.required;
  return new Set(Array.isArray(req) ? req.filter((r): r is string => typeof r === 'string') : []);
}

function propertiesOf(schema: Record<string, unknown>): Record<string, unknown> {
  return isObject(schema.properties) ? schema.properties : {};
}

/** Parameters are the union of `properties` and `required`; each is added, removed, renamed or compared. */
function compareParameters(before: Record<string, unknown>, after: Record<string, unknown>, path: string, out: DriftChange[]): void {
  const bp = propertiesOf(before);
  const ap = propertiesOf(after);
  const br = requiredSet(before);
  const ar = requiredSet(after);
  const bNames = new Set([...Object.keys(bp), ...br]);
  const aNames = new Set([...Object.keys(ap), ...ar]);
  const removed = [...bNames].filter((n) => !aNames.has(n));
  const added = [...aNames].filter((n) => !bNames.has(n));
  const at = (name: string) => childPath(childPath(path, 'properties'), name);

  const [gone, fresh] = [removed[0], added[0]];
  if (removed.length === 1 && added.length === 1 && gone !== undefined && fresh !== undefined && sameJson(bp[gone], ap[fresh]) && br.has(gone) === ar.has(fresh)) {
    out.push(loosening(at(fresh), 'param-renamed', 'medium', gone, fresh, `parameter "${gone}" renamed to "${fresh}" (same schema, same requiredness)`));
  } else {
    for (const name of removed) {
      out.push(br.has(name)
        ? loosening(at(name), 'param-removed-required', 'low', bp[name] ?? 'required', undefined, `required parameter "${name}" removed`)
        : tightening(at(name), 'param-removed', bp[name], undefined, `optional parameter "${name}" removed`));
    }
    for (const name of added) {
      out.push(ar.has(name)
        ? loosening(at(name), 'param-added-required', 'high', undefined, ap[name] ?? 'required', `new required parameter "${name}": every call must now supply it`)
        : loosening(at(name), 'param-added', 'low', undefined, ap[name], `new optional parameter "${name}"`));
    }
  }
  for (const name of bNames) {
    if (!aNames.has(name)) continue;
    if (!br.has(name) && ar.has(name)) out.push(loosening(at(name), 'param-now-required', 'medium', 'optional', 'required', `parameter "${name}" is now required`));
    if (br.has(name) && !ar.has(name)) out.push(loosening(at(name), 'param-now-optional', 'low', 'required', 'optional', `parameter "${name}" is now optional`));
    if (name in bp && name in ap) compareSchema(bp[name], ap[name], at(name), out);
    else if (name in bp !== name in ap) out.push(loosening(at(name), 'schema-changed', 'medium', bp[name], ap[name], `parameter "${name}" schema declared or undeclared`));
  }
}
