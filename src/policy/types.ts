/**
 * The policy model: who (principal) wants to do what (action) to which thing (resource) in which situation
 * (context), and what the engine answers (decision). Plain data; the engine never mutates what it is given.
 */

/**
 * The caller as the policy sees it. Structurally a subset of the pipeline's Principal, so the request context's
 * principal can be passed as is.
 */
export interface PolicyPrincipal {
  readonly subject: string;
  readonly issuer?: string | undefined;
  readonly clientId?: string | undefined;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly groups: readonly string[];
  readonly tenant?: string | undefined;
  /** Further claims (e.g. customer_id), for argument constraints and CEL conditions. */
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly method: 'local' | 'bearer' | 'mtls';
}

/**
 * What is being done. `call` = tools/call, `read` = resources/read, `get` = prompts/get,
 * `complete` = completion/complete, `subscribe` = resources/subscribe; `list` asks whether the item may be
 * shown in a list (tools/list, …), which is true exactly when some other action on it could be allowed.
 */
export type Action = 'list' | 'call' | 'read' | 'get' | 'complete' | 'subscribe';
export const ACTIONS: readonly Action[] = ['list', 'call', 'read', 'get', 'complete', 'subscribe'];
/** The actions a rule may name (`list` is derived, never granted on its own). */
export type RuleAction = Exclude<Action, 'list'>;
export const RULE_ACTIONS: readonly RuleAction[] = ['call', 'read', 'get', 'complete', 'subscribe'];

export type ResourceKind = 'server' | 'tool' | 'resource' | 'template' | 'prompt';
export const RESOURCE_KINDS: readonly ResourceKind[] = ['server', 'tool', 'resource', 'template', 'prompt'];

/** MCP tool annotations: hints from the upstream, possibly overridden by configuration. */
export interface ToolAnnotations {
  readonly readOnlyHint?: boolean | undefined;
  readonly destructiveHint?: boolean | undefined;
  readonly idempotentHint?: boolean | undefined;
  readonly openWorldHint?: boolean | undefined;
}

export interface PolicyResource {
  readonly kind: ResourceKind;
  /** The upstream server's configured name. */
  readonly server: string;
  /** Tool or prompt name as the upstream knows it (not the namespaced name a virtual server shows). */
  readonly name?: string | undefined;
  /** Resource URI; for a template, its URI template. */
  readonly uri?: string | undefined;
  readonly annotations?: ToolAnnotations | undefined;
  /** Tags given to the item in configuration. */
  readonly tags?: readonly string[] | undefined;
}

/**
 * What a session has received that the guardrails let through (src/guardrails/taint.ts): the marks' labels
 * (`untrusted`, `sensitive`) and what made them (`secret`, `personal-data`, `injection`; an untrusted source gives
 * only `untrusted`).
 */
export type TaintName = 'untrusted' | 'sensitive' | 'secret' | 'personal-data' | 'injection';
export const TAINT_NAMES: readonly TaintName[] = ['untrusted', 'sensitive', 'secret', 'personal-data', 'injection'];

export interface PolicyContext {
  /** Tool arguments (call), prompt arguments (get); absent counts as no arguments. */
  readonly args?: Readonly<Record<string, unknown>> | undefined;
  readonly time: Date;
  readonly client?: { readonly name?: string | undefined; readonly version?: string | undefined } | undefined;
  readonly session?: string | undefined;
  readonly era: 'legacy' | 'modern';
  /** The endpoint (virtual server) the request came through. */
  readonly endpoint: string;
  /** The session's taint; absent: none. A list decision never knows it (conditions on it are left open there). */
  readonly taint?: readonly TaintName[] | undefined;
}

export type Effect = 'allow' | 'deny' | 'approval';
export const EFFECTS: readonly Effect[] = ['allow', 'deny', 'approval'];
export type Outcome = Effect;

/** A rule that decided the outcome. */
export interface DecidingRule {
  readonly id: string;
  readonly effect: Effect;
  readonly reason: string;
}

export interface Decision {
  readonly outcome: Outcome;
  /** Deny: every deny rule that matched. Approval: the approval rules, then the allow rules. Allow: the allow rules. */
  readonly rules: readonly DecidingRule[];
  readonly reason: string;
}

/** How one rule fared in a decision: `possible` when it depends on what a list cannot know (the arguments). */
export type RuleResult = 'match' | 'no match' | 'possible' | 'error';

export interface RuleTrace {
  readonly id: string;
  /** Where the rule is written, e.g. "policy.rules[3]". */
  readonly path: string;
  readonly effect: Effect;
  readonly result: RuleResult;
  /** Why it matched or not: the first condition that failed, or what matched. */
  readonly detail: string;
}

export interface Explanation {
  readonly decision: Decision;
  /** The rules the index offered for this server and kind, in file order. */
  readonly considered: readonly RuleTrace[];
  /** Rules never looked at because they target other servers or kinds. */
  readonly skipped: number;
  /** A human-readable trace of the above. */
  readonly text: string;
}
