/**
 * compilePolicy: the `policy:` document → an immutable CompiledPolicy, or a PolicyError listing every problem.
 * Both layers end in the same Rule form: roles become rules whose principal matcher is the role; every CEL
 * condition is parsed, type-checked and planned here, once. Side-effect free: the same input gives an equivalent
 * policy and nothing outside the result is touched, so hot reload is compile-then-swap.
 */
import { formatPath } from '../config/paths.js';
import { closest } from '../config/suggest.js';
import { compileArgCheck } from './args.js';
import { compileCel } from './cel.js';
import type { PolicyDocument, RuleSpec } from './configSchema.js';
import { CompiledPolicy } from './engine.js';
import { PolicyError, type PolicyIssue } from './errors.js';
import { nameGlob, splitTarget, uriGlob, type Glob } from './glob.js';
import { compilePrincipals, compileTimeWindow } from './matchers.js';
import { FAMILY, ITEM_KINDS, KIND_ACTIONS, UNKNOWN_ACTION, UNKNOWN_ARGS, UNKNOWN_DETAIL, UNKNOWN_TAINT, type Condition, type ItemKind, type Rule, type TargetEntry } from './rule.js';
import type { Effect, RuleAction } from './types.js';
import { validatePolicyShape } from './validate.js';

export interface CompileOptions {
  /** Configured server names: a literal server in a pattern must be one of them, a glob must match one. */
  servers?: readonly string[];
  /** Configured tags: a rule's tags must be among them. */
  tags?: readonly string[];
  /** Prefix of every path in messages (where the document sits in the config). Default "policy". */
  base?: string;
}

interface Sink {
  issue(path: string, rule: string | undefined, message: string): void;
}

export function compilePolicy(doc: unknown, options: CompileOptions = {}): CompiledPolicy {
  const base = options.base ?? 'policy';
  const input = doc ?? {};
  const shape = validatePolicyShape(input, base);
  // Shape problems inside a rule leave the other rules to be compiled (a typo in CEL and a misspelt key are
  // reported together); a problem outside any rule stops here.
  const within = (path: string) => (i: PolicyIssue) => i.path === path || i.path.startsWith(`${path}.`) || i.path.startsWith(`${path}[`);
  const RULE_PATH = new RegExp(`^${escapeRe(base)}\\.(rules\\[\\d+\\]|roles(?:\\.[A-Za-z0-9_$-]+|\\[".*?"\\])\\.(allow|deny|approval)\\[\\d+\\])`);
  if (shape.some((i) => !RULE_PATH.test(i.path))) throw new PolicyError(shape);
  const d = input as PolicyDocument;
  const issues: PolicyIssue[] = [...shape];
  const sink: Sink = { issue: (path, rule, message) => issues.push(rule === undefined ? { path, message } : { path, rule, message }) };
  const at = (...segs: (string | number)[]) => `${base}.${formatPath(segs)}`;
  const specs: { spec: RuleSpec; path: string; id: string }[] = [];

  for (const [role, r] of Object.entries(d.roles ?? {})) {
    for (const effect of ['allow', 'deny', 'approval'] as const) {
      (r[effect] ?? []).forEach((g, i) => {
        const path = at('roles', role, effect, i);
        if (r.readOnly && effect !== 'deny' && g.readOnly === false) sink.issue(`${path}.readOnly`, g.id, `role ${role} is readOnly; a grant cannot widen it`);
        const readOnly = effect !== 'deny' && (g.readOnly ?? r.readOnly) === true;
        const spec: RuleSpec = { ...g, effect, principals: { roles: [role] }, ...(readOnly ? { readOnly } : {}) };
        specs.push({ spec, path, id: g.id ?? formatPath(['roles', role, effect, i]) });
      });
    }
  }
  (d.rules ?? []).forEach((spec, i) => specs.push({ spec, path: at('rules', i), id: spec.id ?? formatPath(['rules', i]) }));

  const seen = new Map<string, string>();
  const rules: Rule[] = [];
  for (const { spec, path, id } of specs) {
    if (shape.some(within(path))) continue;
    const first = seen.get(id);
    if (first !== undefined) sink.issue(`${path}.id`, id, `duplicate rule id (first used at ${first})`);
    seen.set(id, path);
    const rule = compileRule(spec, id, path, rules.length, options, sink);
    if (rule) rules.push(rule);
  }
  if (issues.length > 0) throw new PolicyError(issues);
  return new CompiledPolicy(rules);
}

function compileRule(spec: RuleSpec, id: string, path: string, order: number, options: CompileOptions, sink: Sink): Rule | undefined {
  const before = { count: 0 };
  const issue = (key: string, message: string) => {
    before.count++;
    sink.issue(`${path}.${key}`, spec.id ?? undefined, message);
  };
  const entries: TargetEntry[] = [];
  const kinds = new Set<ItemKind>();
  const known = options.servers;

  const serverGlob = (server: string, key: string): Glob => {
    const g = nameGlob(server);
    if (known && !known.some((s) => g.test(s))) {
      const guess = g.literal !== undefined ? closest(server, known) : undefined;
      const what = g.literal !== undefined ? 'unknown server' : 'pattern matches no server';
      issue(key, `${what} ${JSON.stringify(server)}${guess ? ` (did you mean "${guess}"?)` : ` (servers: ${known.join(', ')})`}`);
    }
    return g;
  };

  (spec.servers ?? []).forEach((s, i) => {
    entries.push({ family: '*', server: serverGlob(s, `servers[${i}]`), name: nameGlob('*') });
    for (const k of ITEM_KINDS) kinds.add(k);
  });
  const families = [
    ['tools', 'tool', nameGlob],
    ['resources', 'resource', uriGlob],
    ['prompts', 'prompt', nameGlob],
  ] as const;
  for (const [key, family, glob] of families) {
    (spec[key] ?? []).forEach((pattern, i) => {
      const parts = splitTarget(pattern);
      if (!parts) return issue(`${key}[${i}]`, `expected "server/name", got ${JSON.stringify(pattern)}`);
      entries.push({ family, server: serverGlob(parts[0], `${key}[${i}]`), name: glob(parts[1]) });
      for (const k of ITEM_KINDS) if (FAMILY[k] === family) kinds.add(k);
    });
  }
  if (entries.length === 0 && !spec.servers && !spec.tools && !spec.resources && !spec.prompts) for (const k of ITEM_KINDS) kinds.add(k);

  if (spec.approval && spec.effect !== 'approval') issue('approval', 'approval settings apply only to a rule with effect approval');
  if (spec.readOnly && spec.destructive) issue('destructive', 'readOnly and destructive together never match');
  if (spec.destructive) {
    for (const k of [...kinds]) if (k !== 'tool') kinds.delete(k);
    if (kinds.size === 0) issue('destructive', 'destructive applies to tools, and the rule targets none');
  }
  let actions: Set<RuleAction> | undefined;
  if (spec.actions) {
    actions = new Set(spec.actions);
    for (const a of actions) {
      if (![...kinds].some((k) => KIND_ACTIONS[k].has(a))) issue('actions', `action ${a} does not apply to ${[...kinds].map((k) => `${k}s`).join(', ') || 'anything targeted'}`);
    }
    for (const k of [...kinds]) if (![...actions].some((a) => KIND_ACTIONS[k].has(a))) kinds.delete(k);
  }
  let tags: Set<string> | undefined;
  if (spec.tags) {
    tags = new Set(spec.tags);
    if (options.tags) {
      const knownTags = options.tags;
      spec.tags.forEach((t, i) => {
        if (!knownTags.includes(t)) {
          const guess = closest(t, knownTags);
          issue(`tags[${i}]`, `unknown tag ${JSON.stringify(t)}${guess ? ` (did you mean "${guess}"?)` : ''}`);
        }
      });
    }
  }

  const conditions: Condition[] = [];
  if (spec.time) conditions.push(compileTimeWindow(spec.time, (k, m) => issue(`time.${k}`, m)));
  for (const [name, c] of Object.entries(spec.args ?? {})) {
    const check = compileArgCheck(name, c, (k, m) => issue(`args.${formatPath([name])}.${k}`, m));
    const principalCheck = check.principalCheck;
    if (principalCheck) conditions.push({ deps: 0, stable: true, text: `${name}: principal has claim ${c.claim ?? ''}`, check: (input) => principalCheck(input.principal) });
    conditions.push({ deps: UNKNOWN_ARGS, stable: false, text: check.text, check: (input) => check.check(input.args, input.principal) });
  }
  if (spec.when !== undefined) {
    const r = compileCel(spec.when);
    if (!r.ok) for (const m of r.messages) issue('when', m);
    else {
      const cel = r.cel;
      let deps = 0;
      for (const v of cel.reads) {
        if (v === 'args') deps |= UNKNOWN_ARGS;
        else if (v === 'action') deps |= UNKNOWN_ACTION;
        else if (v.startsWith('resource') && v !== 'resource.server') deps |= UNKNOWN_DETAIL;
        else if (v === 'context.taint' || v === 'context') deps |= UNKNOWN_TAINT;
      }
      conditions.push({
        deps,
        stable: [...cel.reads].every((v) => v === 'principal' || v === 'context' || v.startsWith('context.')),
        text: `when ${cel.source.trim()}`,
        check(input) {
          const v = cel.evaluate(input.cel);
          if (v === true) return undefined;
          if (v === false) return { reason: `when is false: ${cel.source.trim()}` };
          return { reason: `when could not be evaluated: ${v}`, error: true };
        },
      });
    }
  }
  if (before.count > 0) return undefined;
  return {
    id,
    path,
    order,
    effect: spec.effect satisfies Effect,
    description: spec.description,
    ...(spec.approval && { approval: spec.approval }),
    principals: compilePrincipals(spec.principals),
    target: { kinds, entries, actions, readOnly: spec.readOnly === true, destructive: spec.destructive === true, tags },
    stable: conditions.filter((c) => c.stable),
    varying: conditions.filter((c) => !c.stable),
  };
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
