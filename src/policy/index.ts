/**
 * The policy engine: compile a `policy:` document once, then decide every call, read and list with it.
 * Everything the rest of the gateway needs is exported here.
 */
export { compilePolicy, type CompileOptions } from './compile.js';
export type { CompiledPolicy, RuleInfo } from './engine.js';
export { PolicyError, isPolicyError, formatPolicyIssues, POLICY_ERROR_CODE, type PolicyIssue } from './errors.js';
export {
  POLICY_SCHEMA,
  POLICY_SCHEMA_DOCUMENT,
  type PolicyDocument,
  type RoleSpec,
  type RuleSpec,
  type GrantSpec,
  type PrincipalMatchSpec,
  type ArgConstraintSpec,
  type TimeWindowSpec,
  type Weekday,
} from './configSchema.js';
export { parseTable, runTable, formatResults, TableError, type TableCase, type CaseResult, type TableOptions } from './table.js';
export { explainCommand, testCommand, parsePrincipal, type ExplainArgs, type PolicyCommandInput, type CommandResult } from './cli.js';
export { CEL_VARIABLES } from './cel.js';
export { TAINT_NAMES } from './types.js';
export type {
  Action,
  Decision,
  DecidingRule,
  Effect,
  Explanation,
  Outcome,
  PolicyContext,
  PolicyPrincipal,
  PolicyResource,
  ResourceKind,
  RuleAction,
  RuleResult,
  RuleTrace,
  TaintName,
  ToolAnnotations,
} from './types.js';
