/**
 * The shape of an audit record. An event is what a caller reports; the log adds the sequence number and the hash
 * of the record before it, and the record's own hash covers every field (src/audit/chain.ts).
 */
import type { JsonObject } from '../core/jsonrpc.js';

/**
 * `request`: one client request through the pipeline. `admin.*`: a change made with the CLI or console (e.g.
 * admin.servers.approve). `approval.*`, `guardrail.*`: decisions and findings reported by those stages.
 * `audit.*`: the log's own maintenance (audit.prune). `anomaly.*`: alerts of the anomaly detector (src/monitoring).
 */
export type AuditType = 'request' | `admin.${string}` | `approval.${string}` | `guardrail.${string}` | `audit.${string}` | `anomaly.${string}`;

/** What a request used, as the policy resolved it (the upstream's own names). */
export interface AuditItem {
  kind: string;
  name: string;
  action?: string | undefined;
}

export interface AuditFinding {
  guardrail: string;
  rule: string;
  severity: string;
  action: string;
  category: string;
  /** `server-request`: in a sampling or elicitation request the upstream sent the client. */
  direction: 'argument' | 'result' | 'server-request';
  path: string;
  excerpt?: string | undefined;
}

export interface AuditEvent {
  type: AuditType;
  /** Epoch ms when it happened (a request: when it arrived). Default: now. */
  time?: number | undefined;
  /** Principal subject, its issuer, and the OAuth client it came through. */
  principal?: string | undefined;
  issuer?: string | undefined;
  client?: string | undefined;
  session?: string | undefined;
  /** The endpoint key, e.g. "server:fs" or "virtual:default". */
  endpoint?: string | undefined;
  upstream?: string | undefined;
  method?: string | undefined;
  item?: AuditItem | undefined;
  /** JSON-RPC request id, as the client sent it. */
  requestId?: string | number | undefined;
  era?: string | undefined;
  transport?: string | undefined;
  /** The policy decision and the rules that made it. */
  decision?: { outcome: string; rules: string[] } | undefined;
  /** Arguments and result after the configured content mode (src/audit/content.ts). */
  arguments?: unknown;
  result?: unknown;
  /** "ok", "tool_error", or the error code that ended the request. */
  outcome?: string | undefined;
  /** The failure, when there was one: the stable code, the stage that raised it, its message. */
  error?: { code: string; stage?: string | undefined; message: string } | undefined;
  latencyMs?: number | undefined;
  /** What the guardrails found in the arguments and the result (excerpts are masked). */
  findings?: AuditFinding[] | undefined;
  /** Whatever else the event is about (an admin change's target, a guardrail's findings). */
  detail?: JsonObject | undefined;
}

/** A stored record: the event plus its place in the chain. */
export interface AuditRecord extends AuditEvent {
  seq: number;
  time: number;
  /** Hash of the record before (the anchor's hash after pruning; "" before the first record ever). */
  prev: string;
  /** SHA-256 (base64url) of the record's canonical JSON without this field. */
  hash: string;
}

/** The columns a store keeps beside the body, for filtering exports without parsing every record. */
export interface AuditRow {
  seq: number;
  time: number;
  type: string;
  principal: string | null;
  upstream: string | null;
  outcome: string | null;
  /** Canonical JSON of the record without `hash`: exactly what was hashed. */
  body: string;
  prev: string;
  hash: string;
}

export interface AuditFilter {
  since?: number | undefined;
  until?: number | undefined;
  principal?: string | undefined;
  type?: string | undefined;
  upstream?: string | undefined;
  outcome?: string | undefined;
}

/** The chain's newest record. */
export interface ChainHead {
  seq: number;
  hash: string;
  time: number;
}
