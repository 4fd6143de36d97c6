/**
 * Parked calls and their decisions, in the shared records so every replica and the CLI see the same queue, and a
 * pending approval survives a restart. The request is one record, written once; each approver's decision is a
 * record of its own (keyed by approval and approver), so concurrent decisions from several places never overwrite
 * each other and an approver cannot count twice. The status is derived from the decisions and the clock.
 */
import { randomUUID } from 'node:crypto';
import type { JsonObject } from '../core/jsonrpc.js';
import type { RecordStore } from '../storage/types.js';

export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired';

export interface ApprovalRequirement {
  required: number;
  fourEyes: boolean;
  approverRoles: string[];
  timeoutSeconds: number;
}

/** Who asked, for what, and why it needs approval: everything an approver sees. */
export interface ApprovalRequest {
  id: string;
  createdAt: number;
  expiresAt: number;
  /** The caller: issuer + subject (the binding key), and what to show. */
  principal: { key: string; subject: string; issuer: string; clientId?: string | undefined };
  client?: { name?: string | undefined; version?: string | undefined } | undefined;
  session?: string | undefined;
  endpoint: string;
  server: string;
  method: string;
  /** The tool, prompt or resource as the upstream knows it, and as the client named it. */
  item: string;
  shownItem: string;
  /** The arguments as they will be forwarded (after guardrail redaction). */
  arguments?: JsonObject | undefined;
  reason: string;
  rules: { id: string; reason: string }[];
  findings: { guardrail: string; rule: string; severity: string; action: string; path: string }[];
  requirement: ApprovalRequirement;
  /** Digest of principal, endpoint, method and parameters: an identical retry finds this approval again. */
  requestDigest: string;
}

export interface ApprovalDecision {
  approver: { key: string; subject: string };
  decision: 'approve' | 'deny';
  reason?: string | undefined;
  at: number;
}

export interface ApprovalView extends ApprovalRequest {
  status: ApprovalStatus;
  decisions: ApprovalDecision[];
  /** Set once the approved call has been forwarded (an approval is good for one call). */
  executedAt?: number | undefined;
}

const REQUESTS = 'approvals';
const DECISIONS = 'approvals:decisions';
const DAY_MS = 86_400_000;

export function statusOf(req: ApprovalRequest, decisions: readonly ApprovalDecision[], now = Date.now()): ApprovalStatus {
  if (decisions.some((d) => d.decision === 'deny')) return 'denied';
  const approvers = new Set(decisions.filter((d) => d.decision === 'approve').map((d) => d.approver.key));
  if (approvers.size >= req.requirement.required) return 'approved';
  return now >= req.expiresAt ? 'expired' : 'pending';
}

export class ApprovalStore {
  constructor(private readonly records: RecordStore, private readonly retentionMs: number) {}

  async create(req: Omit<ApprovalRequest, 'id'>): Promise<ApprovalRequest> {
    const full: ApprovalRequest = { id: randomUUID(), ...req };
    await this.records.put(REQUESTS, full.id, full as unknown as JsonObject, {
      ttlMs: full.expiresAt - Date.now() + this.retentionMs,
      tags: { request: full.requestDigest },
    });
    return full;
  }

  async get(id: string): Promise<ApprovalView | undefined> {
    const r = await this.records.get(REQUESTS, id);
    return r ? this.view(id, r) : undefined;
  }

  /** A pending (or approved and not yet executed) approval of the same request by the same principal. */
  async findReusable(requestDigest: string): Promise<ApprovalView | undefined> {
    const found = await this.records.findByTag(REQUESTS, 'request', requestDigest);
    for (const r of found.reverse()) {
      const v = await this.view(r.key, r.value);
      if (v.status === 'pending' || (v.status === 'approved' && v.executedAt === undefined)) return v;
    }
    return undefined;
  }

  /** Every approval kept, newest first; `status` narrows the list. */
  async list(status?: ApprovalStatus): Promise<ApprovalView[]> {
    const all = await Promise.all((await this.records.list(REQUESTS)).map((r) => this.view(r.key, r.value)));
    return all.filter((v) => status === undefined || v.status === status).sort((a, b) => b.createdAt - a.createdAt);
  }

  /** Records one approver's decision (a second decision by the same approver replaces the first). */
  async decide(id: string, d: ApprovalDecision): Promise<void> {
    await this.records.put(DECISIONS, `${id}:${d.approver.key}`, d as unknown as JsonObject, { ttlMs: this.retentionMs + DAY_MS, tags: { approval: id } });
  }

  /** Marks an approved call as forwarded; false when it already was (an approval is good for one call). */
  async consume(id: string): Promise<boolean> {
    const before = await this.records.consume(REQUESTS, id, 'executedAt', Date.now());
    return before !== undefined && before.executedAt === undefined;
  }

  private async view(id: string, value: JsonObject): Promise<ApprovalView> {
    const req = value as unknown as ApprovalRequest & { executedAt?: number };
    const decisions = (await this.records.findByTag(DECISIONS, 'approval', id)).map((r) => r.value as unknown as ApprovalDecision).sort((a, b) => a.at - b.at);
    return { ...req, id, status: statusOf(req, decisions), decisions };
  }
}
