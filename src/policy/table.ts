/**
 * Decision tables: a YAML list of cases (principal, action, item, arguments, expected outcome) run against a
 * compiled policy, for `portcullis policy test` and for checking a policy in CI.
 *
 *   principals:                       # optional, reusable by name
 *     alice: { subject: alice, roles: [analyst] }
 *   cases:                            # or the file is just this list
 *     - name: analysts read reports
 *       principal: alice              # a name above, or an inline principal
 *       tool: filesystem/read_text_file   # or prompt:, server:, template:, resource: "server/uri" or {kind, server, …}
 *       annotations: { readOnlyHint: true }
 *       args: { path: /srv/reports/q1.txt }
 *       taint: [sensitive, secret]    # optional: what the session has received (context.taint)
 *       expect: allow                 # allow | deny | approval
 *       visible: true                 # optional: whether lists show the item
 *       rules: [roles.analyst.allow[0]]   # optional: the deciding rules, exactly
 */
import { parse as parseYaml } from 'yaml';
import type { CompiledPolicy } from './engine.js';
import { describeResource } from './explain.js';
import { splitTarget } from './glob.js';
import { ACTIONS, EFFECTS, RESOURCE_KINDS, TAINT_NAMES } from './types.js';
import type { Action, Decision, Outcome, PolicyContext, PolicyPrincipal, PolicyResource, ResourceKind, TaintName, ToolAnnotations } from './types.js';

export interface TableCase {
  readonly name: string;
  readonly principal: PolicyPrincipal;
  readonly action: Action;
  readonly resource: PolicyResource;
  readonly context: PolicyContext;
  readonly expect: Outcome;
  readonly visible: boolean | undefined;
  readonly rules: readonly string[] | undefined;
}

export interface CaseResult {
  readonly case: TableCase;
  readonly pass: boolean;
  readonly decision: Decision;
  /** Whether `filter` shows the item (always computed). */
  readonly visible: boolean;
  /** What differs from the expectation; empty when the case passes. */
  readonly problems: readonly string[];
}

export interface TableOptions {
  /** Fills in what configuration knows about an item (annotations, tags) before deciding. */
  resolve?: (r: PolicyResource) => PolicyResource;
  /** The time of cases that give none. */
  now?: Date;
}

export class TableError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'TableError';
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const CASE_KEYS = new Set([
  ...['name', 'principal', 'action', 'tool', 'prompt', 'server', 'template', 'resource', 'annotations', 'tags', 'args'],
  ...['time', 'era', 'endpoint', 'client', 'session', 'taint', 'expect', 'visible', 'rules'],
]);
const PRINCIPAL_KEYS = new Set(['subject', 'issuer', 'clientId', 'scopes', 'roles', 'groups', 'tenant', 'attributes', 'method']);

/** Parses a table from YAML text; throws TableError listing every problem. */
export function parseTable(text: string, options: TableOptions = {}): TableCase[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new TableError([`not valid YAML: ${(e as Error).message}`]);
  }
  const problems: string[] = [];
  const named = new Map<string, PolicyPrincipal>();
  let cases: unknown = doc;
  if (isObj(doc)) {
    for (const k of Object.keys(doc)) if (k !== 'principals' && k !== 'cases') problems.push(`${k}: unknown key (expected principals, cases)`);
    if (doc.principals !== undefined) {
      if (!isObj(doc.principals)) problems.push('principals: must be a mapping of name → principal');
      else for (const [n, p] of Object.entries(doc.principals)) {
        const r = toPrincipal(p, `principals.${n}`, problems);
        if (r) named.set(n, r);
      }
    }
    cases = doc.cases;
  }
  if (!Array.isArray(cases)) throw new TableError([...problems, 'expected a list of cases (or a mapping with cases:)']);
  const out: TableCase[] = [];
  cases.forEach((c, i) => {
    const r = toCase(c, `cases[${i}]`, named, options, problems);
    if (r) out.push(r);
  });
  if (problems.length > 0) throw new TableError(problems);
  return out;
}

/** A principal from a table or the command line; missing lists default to empty, method to "bearer". */
export function toPrincipal(v: unknown, at: string, problems: string[]): PolicyPrincipal | undefined {
  if (!isObj(v)) return void problems.push(`${at}: must be a principal (a mapping with subject, roles, …)`);
  const before = problems.length;
  for (const k of Object.keys(v)) if (!PRINCIPAL_KEYS.has(k)) problems.push(`${at}.${k}: unknown key (expected ${[...PRINCIPAL_KEYS].join(', ')})`);
  if (typeof v.subject !== 'string' || v.subject === '') problems.push(`${at}.subject: required (a string)`);
  const list = (k: string): string[] => {
    const x = v[k];
    if (x === undefined) return [];
    if (Array.isArray(x) && x.every((s) => typeof s === 'string')) return x as string[];
    problems.push(`${at}.${k}: must be a list of strings`);
    return [];
  };
  const str = (k: string): string | undefined => {
    const x = v[k];
    if (x === undefined || typeof x === 'string') return x;
    problems.push(`${at}.${k}: must be a string`);
    return undefined;
  };
  const method = v.method ?? 'bearer';
  if (method !== 'local' && method !== 'bearer' && method !== 'mtls') problems.push(`${at}.method: must be local, bearer or mtls`);
  if (v.attributes !== undefined && !isObj(v.attributes)) problems.push(`${at}.attributes: must be a mapping`);
  const p: PolicyPrincipal = {
    subject: String(v.subject),
    issuer: str('issuer'),
    clientId: str('clientId'),
    tenant: str('tenant'),
    scopes: list('scopes'),
    roles: list('roles'),
    groups: list('groups'),
    attributes: isObj(v.attributes) ? v.attributes : {},
    method: method as PolicyPrincipal['method'],
  };
  return problems.length === before ? p : undefined;
}

/** "filesystem/read_text_file" with a kind → the item; undefined (and a problem) when malformed. */
export function toResource(kind: ResourceKind, spec: string, at: string, problems: string[]): PolicyResource | undefined {
  if (kind === 'server') return spec && !spec.includes('/') ? { kind, server: spec } : void problems.push(`${at}: must be a server name`);
  const parts = splitTarget(spec);
  if (!parts) return void problems.push(`${at}: must be "server/${kind === 'resource' || kind === 'template' ? 'uri' : 'name'}" (got ${JSON.stringify(spec)})`);
  const [server, rest] = parts;
  return kind === 'resource' || kind === 'template' ? { kind, server, uri: rest } : { kind, server, name: rest };
}

/** The action a case means when it names none: the kind's main use. */
export function defaultAction(kind: ResourceKind): Action {
  return ({ server: 'list', tool: 'call', resource: 'read', template: 'complete', prompt: 'get' } as const)[kind];
}

function toCase(c: unknown, at: string, named: Map<string, PolicyPrincipal>, options: TableOptions, problems: string[]): TableCase | undefined {
  if (!isObj(c)) return void problems.push(`${at}: must be a mapping`);
  const before = problems.length;
  for (const k of Object.keys(c)) if (!CASE_KEYS.has(k)) problems.push(`${at}.${k}: unknown key`);
  const name = typeof c.name === 'string' ? c.name : at;
  let principal: PolicyPrincipal | undefined;
  if (typeof c.principal === 'string') {
    principal = named.get(c.principal);
    if (!principal) problems.push(`${at}.principal: no principal named ${JSON.stringify(c.principal)}`);
  } else principal = toPrincipal(c.principal, `${at}.principal`, problems);

  let resource: PolicyResource | undefined;
  const given = (['tool', 'prompt', 'server', 'template', 'resource'] as const).filter((k) => c[k] !== undefined);
  if (given.length !== 1) problems.push(`${at}: name exactly one of tool, prompt, server, template, resource`);
  else {
    const k = given[0] as 'tool' | 'prompt' | 'server' | 'template' | 'resource';
    const v = c[k];
    if (k === 'resource' && isObj(v)) resource = toResourceObject(v, `${at}.resource`, problems);
    else if (typeof v === 'string') resource = toResource(k, v, `${at}.${k}`, problems);
    else problems.push(`${at}.${k}: must be a string`);
  }
  if (resource && c.annotations !== undefined) {
    if (isObj(c.annotations)) resource = { ...resource, annotations: c.annotations as ToolAnnotations };
    else problems.push(`${at}.annotations: must be a mapping`);
  }
  if (resource && c.tags !== undefined) {
    if (Array.isArray(c.tags) && c.tags.every((t) => typeof t === 'string')) resource = { ...resource, tags: c.tags as string[] };
    else problems.push(`${at}.tags: must be a list of strings`);
  }
  if (resource && options.resolve) resource = options.resolve(resource);

  const action = c.action ?? (resource ? defaultAction(resource.kind) : 'call');
  if (typeof action !== 'string' || !(ACTIONS as readonly string[]).includes(action)) problems.push(`${at}.action: must be one of ${ACTIONS.join(', ')}`);
  if (typeof c.expect !== 'string' || !(EFFECTS as readonly string[]).includes(c.expect)) problems.push(`${at}.expect: required, one of ${EFFECTS.join(', ')}`);
  if (c.visible !== undefined && typeof c.visible !== 'boolean') problems.push(`${at}.visible: must be true or false`);
  if (c.rules !== undefined && !(Array.isArray(c.rules) && c.rules.every((r) => typeof r === 'string'))) problems.push(`${at}.rules: must be a list of rule ids`);
  if (c.args !== undefined && !isObj(c.args)) problems.push(`${at}.args: must be a mapping`);
  const time = c.time === undefined ? (options.now ?? new Date()) : c.time instanceof Date ? c.time : new Date(String(c.time));
  if (Number.isNaN(time.getTime())) problems.push(`${at}.time: not a date (use ISO 8601, e.g. 2025-03-03T10:00:00Z)`);
  if (c.era !== undefined && c.era !== 'legacy' && c.era !== 'modern') problems.push(`${at}.era: must be legacy or modern`);
  const taint = c.taint === undefined ? undefined : parseTaint(c.taint, `${at}.taint`, problems);
  if (problems.length > before || !principal || !resource) return undefined;
  const text = (o: Obj, k: string) => (typeof o[k] === 'string' ? o[k] : undefined);
  const client = isObj(c.client) ? { name: text(c.client, 'name'), version: text(c.client, 'version') } : undefined;
  return {
    name,
    principal,
    action: action as Action,
    resource,
    context: {
      args: c.args as Obj | undefined,
      time,
      era: (c.era as 'legacy' | 'modern' | undefined) ?? 'modern',
      endpoint: typeof c.endpoint === 'string' ? c.endpoint : 'default',
      client,
      session: typeof c.session === 'string' ? c.session : undefined,
      taint,
    },
    expect: c.expect as Outcome,
    visible: c.visible as boolean | undefined,
    rules: c.rules as string[] | undefined,
  };
}

/** A list of taint names (context.taint), from a table (a list) or the command line (comma-separated). */
export function parseTaint(v: unknown, at: string, problems: string[]): TaintName[] | undefined {
  const list = typeof v === 'string' ? v.split(',').map((t) => t.trim()).filter(Boolean) : v;
  if (!Array.isArray(list) || !list.every((t) => (TAINT_NAMES as readonly unknown[]).includes(t))) {
    problems.push(`${at}: must be a list of ${TAINT_NAMES.join(', ')}`);
    return undefined;
  }
  return list as TaintName[];
}

function toResourceObject(v: Obj, at: string, problems: string[]): PolicyResource | undefined {
  const kind = v.kind ?? 'resource';
  if (typeof kind !== 'string' || !(RESOURCE_KINDS as readonly string[]).includes(kind)) return void problems.push(`${at}.kind: must be one of ${RESOURCE_KINDS.join(', ')}`);
  if (typeof v.server !== 'string') return void problems.push(`${at}.server: required (a string)`);
  for (const k of Object.keys(v)) if (!['kind', 'server', 'name', 'uri', 'annotations', 'tags'].includes(k)) problems.push(`${at}.${k}: unknown key`);
  return {
    kind: kind as ResourceKind,
    server: v.server,
    name: typeof v.name === 'string' ? v.name : undefined,
    uri: typeof v.uri === 'string' ? v.uri : undefined,
    annotations: isObj(v.annotations) ? (v.annotations as ToolAnnotations) : undefined,
    tags: Array.isArray(v.tags) ? v.tags.filter((t): t is string => typeof t === 'string') : undefined,
  };
}

export function runTable(policy: CompiledPolicy, cases: readonly TableCase[]): CaseResult[] {
  return cases.map((c) => {
    const decision = policy.decide(c.principal, c.action, c.resource, c.context);
    const visible = policy.filter(c.principal, [c.resource], c.context).length === 1;
    const problems: string[] = [];
    if (decision.outcome !== c.expect) problems.push(`expected ${c.expect}, got ${decision.outcome} (${decision.reason})`);
    if (c.visible !== undefined && visible !== c.visible) problems.push(`expected the item ${c.visible ? 'shown' : 'hidden'} in lists, but it is ${visible ? 'shown' : 'hidden'}`);
    if (c.rules !== undefined) {
      const got = decision.rules.map((r) => r.id);
      if (got.length !== c.rules.length || got.some((id, i) => id !== c.rules?.[i])) problems.push(`expected deciding rules ${JSON.stringify(c.rules)}, got ${JSON.stringify(got)}`);
    }
    return { case: c, pass: problems.length === 0, decision, visible, problems };
  });
}

/** One line a case (`ok` / `FAIL`) and a summary, as `policy test` prints. */
export function formatResults(results: readonly CaseResult[]): string {
  const lines = results.map((r, i) => {
    const head = `${r.pass ? 'ok  ' : 'FAIL'} ${i + 1} ${r.case.name}: ${r.case.action} ${describeResource(r.case.resource)} → ${r.decision.outcome}`;
    return r.pass ? head : [head, ...r.problems.map((p) => `       ${p}`)].join('\n');
  });
  const failed = results.filter((r) => !r.pass).length;
  lines.push(`${results.length - failed} passed, ${failed} failed`);
  return lines.join('\n');
}
