/**
 * The `approvals:` key of portcullis.yaml: who approves calls that the policy (an `approval` rule) or the taint
 * tracker (guardrails.taint.action: approval) holds for a human, how many approvals it takes, and how long a call
 * waits. A rule's own `approval:` settings override these.
 */
import type { SchemaNode } from '../config/schema.js';
import { webhookSchema, type WebhookConfig } from '../egress/webhook.js';

export interface ApprovalsConfig {
  /** false: a call that needs approval is refused at once (PC_APPROVAL_REQUIRED) instead of waiting for one. */
  enabled: boolean;
  /** Roles any of which makes a principal an approver. */
  approverRoles: string[];
  /** Distinct approvers a call needs. */
  required: number;
  /** An approver must not be the caller. */
  fourEyes: boolean;
  /** A call undecided this long is denied. */
  timeoutSeconds: number;
  /**
   * How long one request waits for a decision: a 2025-11-25 call keeps waiting (a progress notification every
   * interval), a 2026-07-28 call is answered input_required after this long and its retry waits again.
   */
  waitSeconds: number;
  /** Decided approvals are kept this long for `approvals list --all` and the console. */
  retentionDays: number;
  webhook?: ApprovalWebhookConfig;
}

/** The approval webhook (src/egress/webhook.ts). */
export type ApprovalWebhookConfig = WebhookConfig;

export const APPROVALS_SCHEMA: SchemaNode = {
  type: 'object',
  default: {},
  additionalProperties: false,
  description: 'Human approval of calls that an approval rule or the taint tracker holds (docs/approvals.md). A rule\'s own approval: settings override these.',
  properties: {
    enabled: { type: 'boolean', default: true, description: 'false: a call that needs approval is refused at once (PC_APPROVAL_REQUIRED) instead of waiting for an approver.' },
    approverRoles: { type: 'array', default: ['approver'], items: { type: 'string', minLength: 1 }, minItems: 1, description: 'Roles any of which makes a principal an approver.' },
    required: { type: 'integer', minimum: 1, maximum: 10, default: 1, description: 'Distinct approvers a call needs.' },
    fourEyes: { type: 'boolean', default: true, description: 'An approver must not be the caller.' },
    timeoutSeconds: { type: 'integer', minimum: 1, maximum: 604_800, default: 900, description: 'A call undecided this long is denied.' },
    waitSeconds: { type: 'integer', minimum: 1, maximum: 300, default: 20, description: 'How long one request waits for a decision: a 2025-11-25 call keeps waiting with a progress notification at this interval; a 2026-07-28 call is answered input_required after this long and its retry waits again.' },
    retentionDays: { type: 'integer', minimum: 1, maximum: 3650, default: 30, description: 'Decided approvals are kept this long.' },
    webhook: webhookSchema('Notifies a URL of each new pending approval (JSON POST, through the SSRF-safe fetcher).'),
  },
};
