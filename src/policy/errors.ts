/**
 * A policy that cannot be compiled. Problems are collected, not thrown one by one, so a user fixes the whole
 * policy in one pass. The issue shape extends the config loader's ConfigIssue (path + message), so the config
 * loader can give each one a line and column in portcullis.yaml.
 */

export interface PolicyIssue {
  /** Dotted path into the config, e.g. "policy.rules[3].when". */
  path: string;
  /** The id of the rule concerned, when it has one (otherwise the path names the rule: "policy.rules[3]"). */
  rule?: string;
  message: string;
}

export const POLICY_ERROR_CODE = 'PC_POLICY_INVALID';

export class PolicyError extends Error {
  readonly code = POLICY_ERROR_CODE;
  readonly issues: readonly PolicyIssue[];

  constructor(issues: readonly PolicyIssue[]) {
    super(formatPolicyIssues(issues));
    this.name = 'PolicyError';
    this.issues = Object.freeze([...issues]);
  }
}

/** One issue a line: `policy.rules[3].when: rule "deny-writes": undeclared reference to 'princpal' …`. */
export function formatPolicyIssues(issues: readonly PolicyIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.rule !== undefined && !i.path.startsWith(i.rule) ? `rule "${i.rule}": ` : ''}${i.message}`).join('\n');
}

/** Branch on the name, not instanceof: the CLI and the gateway may load different copies of this module. */
export function isPolicyError(e: unknown): e is PolicyError {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'PolicyError' && Array.isArray((e as { issues?: unknown }).issues);
}
