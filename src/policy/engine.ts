/**
 * The compiled policy: one decision function for calls, reads and lists. `filter` keeps the items whose
 * `decide(…, 'list', …)` is not deny (through a fast path of the same evaluation), and a list decision is the call decision with what a list cannot know (arguments, the session's
 * taint; for a template, the URI; for a server, which item) left open: an item is shown when some allow rule can still match and no deny rule
 * matches whatever those unknowns turn out to be. So an item a principal could use is never hidden, and an item
 * denied outright is never shown.
 *
 * Order of precedence: deny, then approval, then allow, then the default (deny, "no rule allows"). An approval rule
 * does not grant anything by itself: it makes an allowed use wait for approval.
 */
import { EvalInput, ERROR, KIND_ACTIONS, MATCH, NO, POSSIBLE, UNKNOWN_ACTION, UNKNOWN_ARGS, UNKNOWN_DETAIL, UNKNOWN_TAINT, evaluateRule, type Rule, type RuleCode, type Shared } from './rule.js';
import type { ApprovalSpec } from './configSchema.js';
import { RuleIndex, type Tiers } from './ruleIndex.js';
import { unsafeUri } from './paths.js';
import { formatExplanation } from './explain.js';
import type { Action, Decision, DecidingRule, Effect, Explanation, PolicyContext, PolicyPrincipal, PolicyResource, RuleResult, RuleTrace } from './types.js';

/** What a policy says about one of its rules (for listings, the console, `policy explain`). */
export interface RuleInfo {
  readonly id: string;
  readonly path: string;
  readonly effect: Effect;
  readonly description: string | undefined;
  /** Approval rules: how their approvals are given. */
  readonly approval?: ApprovalSpec | undefined;
}

interface Hit {
  readonly rule: Rule;
  readonly code: RuleCode;
}

const NO_ARGS: Readonly<Record<string, unknown>> = Object.freeze({});
const RESULT_NAMES: Record<RuleCode, RuleResult> = { [NO]: 'no match', [POSSIBLE]: 'possible', [MATCH]: 'match', [ERROR]: 'error' };

export class CompiledPolicy {
  readonly rules: readonly RuleInfo[];
  /** Some condition reads context.taint: only then does the gateway read the session's taint marks for a decision. */
  readonly readsTaint: boolean;
  private readonly all: readonly Rule[];
  private readonly index: RuleIndex;

  constructor(rules: readonly Rule[]) {
    this.all = Object.freeze([...rules]);
    this.index = new RuleIndex(this.all);
    this.readsTaint = this.all.some((r) => [...r.stable, ...r.varying].some((c) => (c.deps & UNKNOWN_TAINT) !== 0));
    this.rules = Object.freeze(this.all.map((r) => Object.freeze({ id: r.id, path: r.path, effect: r.effect, description: r.description, ...(r.approval && { approval: r.approval }) })));
    Object.freeze(this);
  }

  /** The decision for one action. `list` answers whether the item may be shown. */
  decide(principal: PolicyPrincipal, action: Action, resource: PolicyResource, context: PolicyContext): Decision {
    return this.decideWith(principal, action, resource, context, undefined);
  }

  /** The items the principal may see: those whose `list` decision is not deny. Same decision function as calls. */
  filter<T extends PolicyResource>(principal: PolicyPrincipal, items: readonly T[], context: PolicyContext): T[] {
    const shared: Shared = { principalMemo: new Int8Array(this.all.length), stableMemo: new Int8Array(this.all.length) };
    const scoped = new Map<Tiers, Scoped>();
    return items.filter((item) => this.visible(principal, item, context, shared, scoped));
  }

  /** The decision with every rule the index offered and why each matched or not. */
  explain(principal: PolicyPrincipal, action: Action, resource: PolicyResource, context: PolicyContext): Explanation {
    const decision = this.decide(principal, action, resource, context);
    const input = this.input(principal, action, resource, context, undefined);
    const considered: RuleTrace[] = [];
    if (input) {
      for (const rule of candidates(this.index.lookup(resource))) {
        const why: string[] = [];
        const code = evaluateRule(rule, input, why);
        considered.push({ id: rule.id, path: rule.path, effect: rule.effect, result: RESULT_NAMES[code], detail: why.join('; ') });
      }
    }
    const skipped = this.all.length - considered.length;
    const partial = { decision, considered, skipped };
    return { ...partial, text: formatExplanation(partial, principal, action, resource, context) };
  }

  private decideWith(principal: PolicyPrincipal, action: Action, resource: PolicyResource, context: PolicyContext, shared: Shared | undefined): Decision {
    const input = this.input(principal, action, resource, context, shared);
    if (!input) {
      const reason = `resource URI ${unsafeUri(resource.uri ?? '') ?? 'is unsafe'}`;
      return { outcome: 'deny', rules: [{ id: 'builtin:unsafe-uri', effect: 'deny', reason }], reason };
    }
    const buckets = this.index.lookup(resource);
    const deny = this.tier(buckets, 'deny', input, false);
    if (deny.length > 0) {
      const rules = deny.map((h) => this.deciding(h, input));
      return { outcome: 'deny', rules, reason: `denied by ${quote(rules)}` };
    }
    const approval = this.tier(buckets, 'approval', input, true);
    const allow = this.tier(buckets, 'allow', input, true);
    if (allow.length === 0) {
      const reason = approval.length > 0 ? `no rule allows (${quote(approval.map((h) => h.rule))} require approval of what something else allows)` : 'no rule allows';
      return { outcome: 'deny', rules: [], reason };
    }
    const allowed = allow.map((h) => this.deciding(h, input));
    if (approval.length === 0) return { outcome: 'allow', rules: allowed, reason: `allowed by ${quote(allowed)}` };
    const approvals = approval.map((h) => this.deciding(h, input));
    return { outcome: 'approval', rules: [...approvals, ...allowed], reason: `approval required by ${quote(approvals)} (allowed by ${quote(allowed)})` };
  }

  /**
   * The fast path of filter: no reasons, stop at the first deny and at the first allow. Buckets are narrowed to the
   * principal's rules once per list (items of one server share their buckets), so an item costs the few rules that
   * are both for this principal and on this server.
   */
  private visible(principal: PolicyPrincipal, resource: PolicyResource, context: PolicyContext, shared: Shared, scoped: Map<Tiers, Scoped>): boolean {
    const input = this.input(principal, 'list', resource, context, shared);
    if (!input) return false;
    const buckets = this.index.lookup(resource).map((b) => scoped.get(b) ?? scope(b, principal, shared, scoped));
    for (const b of buckets) for (const r of b.deny) if (evaluateRule(r, input) >= MATCH) return false;
    for (const b of buckets) for (const r of b.allow) if (evaluateRule(r, input) !== NO) return true;
    return false;
  }

  /** Matching rules of one effect in policy order; possible matches count for allow and approval, not for deny. */
  private tier(buckets: readonly Tiers[], effect: Effect, input: EvalInput, possibleCounts: boolean): Hit[] {
    const hits: Hit[] = [];
    for (const b of buckets) {
      for (const rule of b[effect]) {
        if (buckets.length > 1 && hasRule(hits, rule)) continue;
        const code = evaluateRule(rule, input);
        if (code >= MATCH || (possibleCounts && code === POSSIBLE)) hits.push({ rule, code });
      }
    }
    if (buckets.length > 1) hits.sort((a, b) => a.rule.order - b.rule.order);
    return hits;
  }

  private deciding(h: Hit, input: EvalInput): DecidingRule {
    const { rule, code } = h;
    let reason = rule.description ?? `${rule.effect} rule matched`;
    if (code === POSSIBLE) reason = `${rule.description ?? `${rule.effect} rule`} (may apply, depending on the arguments)`;
    if (code === ERROR) {
      const why: string[] = [];
      evaluateRule(rule, input, why);
      reason = why.join('; ');
    }
    return { id: rule.id, effect: rule.effect, reason };
  }

  /** The evaluation input, with what this kind of decision cannot know; undefined for a URI refused outright. */
  private input(principal: PolicyPrincipal, action: Action, resource: PolicyResource, context: PolicyContext, shared: Shared | undefined): EvalInput | undefined {
    const kind = resource.kind;
    if (kind === 'resource' && resource.uri !== undefined && unsafeUri(resource.uri)) return undefined;
    // A template's URI is a pattern, not a resource; a completion asks for argument values, it does not use them.
    let unknown = (kind === 'template' ? UNKNOWN_DETAIL : 0) | (action === 'complete' ? UNKNOWN_ARGS : 0);
    let act = action;
    // Lists leave the taint open: a client keeps its list and is not told when its session becomes tainted, so a
    // tool hidden by taint would turn a refusal with a reason into "Unknown tool". The use is decided with it.
    if (kind === 'server') {
      unknown = UNKNOWN_ARGS | UNKNOWN_ACTION | UNKNOWN_DETAIL | UNKNOWN_TAINT;
    } else if (action === 'list') {
      const actions = KIND_ACTIONS[kind];
      act = actions.values().next().value as Action;
      unknown |= UNKNOWN_ARGS | UNKNOWN_TAINT | (actions.size > 1 ? UNKNOWN_ACTION : 0);
    }
    return new EvalInput(principal, act, resource, context.args ?? NO_ARGS, context, unknown, shared);
  }
}

/** A bucket's deny and allow rules that are for one principal (what a list decision looks at). */
interface Scoped {
  readonly deny: readonly Rule[];
  readonly allow: readonly Rule[];
}

function scope(b: Tiers, principal: PolicyPrincipal, shared: Shared, scoped: Map<Tiers, Scoped>): Scoped {
  const memo = shared.principalMemo;
  const mine = (r: Rule): boolean => {
    if (!r.principals) return true;
    let m = memo[r.order];
    if (!m) memo[r.order] = m = r.principals.test(principal) ? 1 : 2;
    return m === 1;
  };
  const s: Scoped = { deny: b.deny.filter(mine), allow: b.allow.filter(mine) };
  scoped.set(b, s);
  return s;
}

/** A loop, not `some` with a closure: this runs for every rule a decision looks at. */
function hasRule(hits: readonly Hit[], rule: Rule): boolean {
  for (const h of hits) if (h.rule === rule) return true;
  return false;
}

/** Rules from the buckets, each once, in policy order. */
function candidates(buckets: readonly Tiers[]): Rule[] {
  const set = new Set<Rule>();
  for (const b of buckets) for (const effect of ['deny', 'approval', 'allow'] as const) for (const r of b[effect]) set.add(r);
  return [...set].sort((a, b) => a.order - b.order);
}

function quote(rules: readonly { id: string }[]): string {
  return rules.map((r) => JSON.stringify(r.id)).join(', ');
}
