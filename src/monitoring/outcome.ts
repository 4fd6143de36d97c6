/**
 * A request's outcome as one bounded word, the same words the audit log records: "ok", "tool_error",
 * "input_required", the error catalogue's code (PC_…), "upstream_error" or "internal_error".
 */
import { isGatewayError, UpstreamRpcError } from '../core/errors.js';
import type { JsonObject } from '../core/jsonrpc.js';

export function outcomeOf(result: JsonObject | undefined, failure: unknown): string {
  if (failure !== undefined) return isGatewayError(failure) ? failure.code : failure instanceof UpstreamRpcError ? 'upstream_error' : 'internal_error';
  if (result?.isError === true) return 'tool_error';
  return result?.resultType === 'input_required' ? 'input_required' : 'ok';
}

/** Refusals that count towards a principal's burst of denials: the policy, integrity, guardrails or an approver said no. */
export const DENIAL_CODES: ReadonlySet<string> = new Set([
  'PC_POLICY_DENIED', 'PC_FORBIDDEN', 'PC_INSUFFICIENT_SCOPE', 'PC_QUARANTINED', 'PC_GUARDRAIL_BLOCKED', 'PC_APPROVAL_DENIED',
]);
