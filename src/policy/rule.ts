/**
 * The internal rule form both layers compile to, and how one rule is evaluated. A rule is: who (principal
 * matcher), what (target: kinds, server/name globs, actions, annotations, tags) and when (conditions: time window,
 * argument constraints, CEL). Evaluation is three-valued so that lists can be decided with the same code as calls:
 * a condition that reads something a list cannot know (the arguments) is "possible" rather than true or false.
 */
import type { Failure } from './args.js';
import type { ApprovalSpec } from './configSchema.js';
import { celContext, celPrincipal, celResource, celValue, type CelBindings } from './cel.js';
import type { Glob } from './glob.js';
import type { Action, Effect, PolicyContext, PolicyPrincipal, PolicyResource, ResourceKind, RuleAction } from './types.js';

/**
 * What the decision cannot know (bit flags): the arguments, the exact action, the item within its server, the
 * session's taint (lists are decided without it: src/policy/engine.ts).
 */
export const UNKNOWN_ARGS = 1;
export const UNKNOWN_ACTION = 2;
export const UNKNOWN_DETAIL = 4;
export const UNKNOWN_TAINT = 8;

/** Rule results, ordered so that combining conditions is `min`. */
export const NO = 0;
export const POSSIBLE = 1;
export const MATCH = 2;
/** Matched because a condition could not be evaluated (restrictive rules only). */
export const ERROR = 3;
export type RuleCode = typeof NO | typeof POSSIBLE | typeof MATCH | typeof ERROR;

export type ItemKind = Exclude<ResourceKind, 'server'>;
export const ITEM_KINDS: readonly ItemKind[] = ['tool', 'resource', 'template', 'prompt'];

/** The actions that make sense on each kind; a rule without `actions` covers all of its kinds' actions. */
export const KIND_ACTIONS: Readonly<Record<ItemKind, ReadonlySet<RuleAction>>> = {
  tool: new Set(['call']),
  resource: new Set(['read', 'subscribe']),
  template: new Set(['read', 'subscribe', 'complete']),
  prompt: new Set(['get', 'complete']),
};

/** Which family of target patterns names an item of this kind (templates are matched by resource patterns). */
export const FAMILY: Readonly<Record<ItemKind, TargetEntry['family']>> = { tool: 'tool', resource: 'resource', template: 'resource', prompt: 'prompt' };

export interface TargetEntry {
  /** '*' for a whole server (`servers:`). */
  readonly family: 'tool' | 'resource' | 'prompt' | '*';
  readonly server: Glob;
  /** Tool or prompt name, or resource URI. */
  readonly name: Glob;
}

export interface Target {
  readonly kinds: ReadonlySet<ItemKind>;
  /** Empty: every server and every item. */
  readonly entries: readonly TargetEntry[];
  readonly actions: ReadonlySet<RuleAction> | undefined;
  readonly readOnly: boolean;
  readonly destructive: boolean;
  readonly tags: ReadonlySet<string> | undefined;
}

export interface PrincipalMatcher {
  test(p: PolicyPrincipal): boolean;
  /** Why the principal does not match (only asked after test() said no). */
  why(p: PolicyPrincipal): string;
}

export interface Condition {
  /** UNKNOWN_* flags: what the condition reads that a decision may not know. */
  readonly deps: number;
  /**
   * Reads only the principal and the context (not the item, action or arguments): the same for every item of a
   * list, so a filter evaluates it once.
   */
  readonly stable: boolean;
  /** As written, for traces. */
  readonly text: string;
  check(input: EvalInput): Failure | undefined;
}

export interface Rule {
  readonly id: string;
  /** Where it is written: "policy.rules[3]". */
  readonly path: string;
  /** Position in the policy; decisions list rules in this order. */
  readonly order: number;
  readonly effect: Effect;
  readonly description: string | undefined;
  /** Approval rules: how their approvals are given. */
  readonly approval?: ApprovalSpec | undefined;
  readonly principals: PrincipalMatcher | undefined;
  readonly target: Target;
  /** Conditions that read only the principal and the context, then the others; each list cheapest first. */
  readonly stable: readonly Condition[];
  readonly varying: readonly Condition[];
}

/** Per-filter state shared by the decisions of one list: per-rule results that do not depend on the item, CEL values built once. */
export interface Shared {
  /** By rule order: 0 not yet known, 1 the principal matches, 2 it does not. */
  readonly principalMemo: Int8Array;
  /** By rule order: 0 not yet known, else checkConditions' bits (FAILED, UNKNOWN, ERRORED) for the stable conditions, plus 8. */
  readonly stableMemo: Int8Array;
  principalCel?: CelBindings['principal'];
  contextCel?: CelBindings['context'];
}

/** One decision's inputs; the CEL bindings are built only if a CEL condition is reached. */
export class EvalInput {
  private bindings: CelBindings | undefined;

  constructor(
    readonly principal: PolicyPrincipal,
    /** For a list decision, the kind's first action (what CEL sees); UNKNOWN_ACTION says it stands for any. */
    readonly action: Action,
    readonly resource: PolicyResource,
    readonly args: Readonly<Record<string, unknown>>,
    readonly context: PolicyContext,
    readonly unknown: number,
    readonly shared: Shared | undefined,
  ) {}

  get cel(): CelBindings {
    if (!this.bindings) {
      const s = this.shared;
      const principal = s ? (s.principalCel ??= celPrincipal(this.principal)) : celPrincipal(this.principal);
      const context = s ? (s.contextCel ??= celContext(this.context)) : celContext(this.context);
      this.bindings = { principal, action: this.action, resource: celResource(this.resource), args: celValue(this.args), context };
    }
    return this.bindings;
  }
}

/** Bits of checkConditions' answer. */
const FAILED = 1;
const UNKNOWN = 2;
const ERRORED = 4;

/**
 * Evaluates one rule. `why`, when given, receives the reason for the result (traces only; the hot path passes
 * nothing and builds no strings).
 */
export function evaluateRule(rule: Rule, input: EvalInput, why?: string[]): RuleCode {
  const shared = input.shared;
  if (rule.principals) {
    const memo = shared?.principalMemo;
    let ok: boolean;
    const m = memo?.[rule.order];
    if (m) ok = m === 1;
    else {
      ok = rule.principals.test(input.principal);
      if (memo) memo[rule.order] = ok ? 1 : 2;
    }
    if (!ok) {
      why?.push(rule.principals.why(input.principal));
      return NO;
    }
  }
  // Within a list, a rule whose stable conditions already failed is out before its target is even looked at.
  const memo = why || rule.stable.length === 0 ? undefined : shared?.stableMemo;
  const m = memo?.[rule.order];
  if (m && (m - 8) & FAILED) return NO;
  let result: RuleCode = matchTarget(rule.target, input, why);
  if (result === NO) return NO;
  let bits = 0;
  if (rule.stable.length > 0) {
    if (m) bits = m - 8;
    else {
      bits = checkConditions(rule, rule.stable, input, why);
      if (memo) memo[rule.order] = bits + 8;
    }
    if (bits & FAILED) return NO;
  }
  if (rule.varying.length > 0) {
    bits |= checkConditions(rule, rule.varying, input, why);
    if (bits & FAILED) return NO;
  }
  if (bits & UNKNOWN) result = POSSIBLE;
  if ((bits & ERRORED) !== 0 && result === MATCH) return ERROR;
  if (result === MATCH) why?.push('every condition holds');
  return result;
}

/** FAILED as soon as one condition is false; else UNKNOWN and ERRORED as met (errors only count for restrictive rules). */
function checkConditions(rule: Rule, conditions: readonly Condition[], input: EvalInput, why?: string[]): number {
  let bits = 0;
  for (const c of conditions) {
    if (c.deps & input.unknown) {
      bits |= UNKNOWN;
      why?.push(`${c.text}: depends on ${describeUnknown(c.deps & input.unknown)}, not known here`);
      continue;
    }
    const f = c.check(input);
    if (!f) continue;
    if (f.error && rule.effect !== 'allow') {
      bits |= ERRORED;
      why?.push(`${f.reason} (counted as ${input.unknown ? 'holding' : 'a match'}: a ${rule.effect} rule fails closed)`);
      continue;
    }
    why?.push(f.error ? `${f.reason} (an allow rule does not match when it cannot be evaluated)` : f.reason);
    return FAILED;
  }
  return bits;
}

function describeUnknown(flags: number): string {
  const parts: string[] = [];
  if (flags & UNKNOWN_ARGS) parts.push('the arguments');
  if (flags & UNKNOWN_ACTION) parts.push('the action');
  if (flags & UNKNOWN_DETAIL) parts.push('the item');
  if (flags & UNKNOWN_TAINT) parts.push('the session\'s taint');
  return parts.join(' and ');
}

function matchTarget(t: Target, input: EvalInput, why?: string[]): RuleCode {
  const r = input.resource;
  if (r.kind === 'server') {
    let whole = t.entries.length === 0;
    if (!whole) {
      let any = false;
      for (const e of t.entries) {
        if (!e.server.test(r.server)) continue;
        any = true;
        if (e.family === '*') whole = true;
      }
      if (!any) {
        why?.push(`targets other servers than ${r.server}`);
        return NO;
      }
    }
    if (whole && t.kinds.size === ITEM_KINDS.length && !t.actions && !t.readOnly && !t.destructive && !t.tags) return MATCH;
    why?.push(`may apply to some items of ${r.server}`);
    return POSSIBLE;
  }
  const kind = r.kind;
  if (!t.kinds.has(kind)) {
    why?.push(`does not apply to ${kind}s`);
    return NO;
  }
  let result: RuleCode = MATCH;
  const kindActions = KIND_ACTIONS[kind];
  if (input.unknown & UNKNOWN_ACTION) {
    if (t.actions) {
      let n = 0;
      for (const a of kindActions) if (t.actions.has(a)) n++;
      if (n === 0) {
        why?.push(`covers no action on ${kind}s`);
        return NO;
      }
      if (n < kindActions.size) result = POSSIBLE;
    }
  } else if (!(t.actions ?? kindActions).has(input.action as RuleAction)) {
    why?.push(`does not apply to ${input.action} on ${kind}s`);
    return NO;
  }
  if (t.entries.length > 0) {
    const family = FAMILY[kind];
    const name = kind === 'resource' || kind === 'template' ? r.uri : r.name;
    let best: RuleCode = NO;
    for (const e of t.entries) {
      if ((e.family !== '*' && e.family !== family) || !e.server.test(r.server)) continue;
      const m: RuleCode = e.family === '*' || e.name.any ? MATCH
        : kind === 'template' ? (name === undefined || templateMayMatch(name, e.name) ? POSSIBLE : NO)
        : name !== undefined && e.name.test(name) ? MATCH : NO;
      if (m > best) best = m;
      if (best === MATCH) break;
    }
    if (best === NO) {
      why?.push(`${r.server}/${name ?? '?'} matches none of ${patterns(t, family)}`);
      return NO;
    }
    if (best < result) result = best;
  }
  if (kind === 'tool' && (t.readOnly || t.destructive)) {
    const readOnly = r.annotations?.readOnlyHint === true;
    if (t.readOnly && !readOnly) {
      why?.push('the tool is not annotated readOnlyHint: true');
      return NO;
    }
    if (t.destructive && (readOnly || r.annotations?.destructiveHint === false)) {
      why?.push('the tool is not destructive (read-only, or destructiveHint: false)');
      return NO;
    }
  }
  if (t.tags) {
    const tags = t.tags;
    if (!(r.tags ?? []).some((x) => tags.has(x))) {
      why?.push(`the item has none of the tags ${[...tags].join(', ')}`);
      return NO;
    }
  }
  return result;
}

/**
 * Whether some expansion of a URI template could match a URI glob. Sound, not exact: an expansion starts with the
 * template's literal head and ends with its literal tail, and a match starts with the glob's head (before its first
 * `*`) and ends with its tail (after its last `*`); when neither head is a prefix of the other, or neither tail a
 * suffix of the other, nothing can match. So a rule on "docs/file:///pub/**" never shows the template
 * "file:///home/{user}", and a read of one of its URIs is never allowed by it either.
 */
export function templateMayMatch(template: string, pattern: Glob): boolean {
  const tOpen = template.indexOf('{');
  if (tOpen < 0) return pattern.test(template);
  const glob = pattern.source;
  const tHead = template.slice(0, tOpen);
  const tTail = template.slice(template.lastIndexOf('}') + 1);
  const star = glob.indexOf('*');
  const gHead = star < 0 ? glob : glob.slice(0, star);
  const gTail = star < 0 ? glob : glob.slice(glob.lastIndexOf('*') + 1);
  const heads = tHead.startsWith(gHead) || gHead.startsWith(tHead);
  const tails = tTail.endsWith(gTail) || gTail.endsWith(tTail);
  return heads && tails;
}

function patterns(t: Target, family: TargetEntry['family']): string {
  return t.entries
    .filter((e) => e.family === family || e.family === '*')
    .map((e) => (e.family === '*' ? `${e.server.source} (server)` : `${e.server.source}/${e.name.source}`))
    .join(', ');
}
