/**
 * Human approval of held calls: what a call needs (from the deciding rules or the defaults), parking it, deciding
 * it (approver role, four eyes, several approvers), and waiting for the outcome. Decisions made in this process wake
 * its waiters at once; decisions made elsewhere (another replica, the CLI) are seen by polling the shared store.
 */
import { EventEmitter } from 'node:events';
import type { CancelSignal } from '../core/cancel.js';
import type { Logger } from '../core/log.js';
import type { RecordStore } from '../storage/types.js';
import type { RuleInfo } from '../policy/index.js';
import { postWebhook } from '../egress/webhook.js';
import type { ApprovalsConfig } from './config.js';
import { ApprovalStore, type ApprovalDecision, type ApprovalRequest, type ApprovalRequirement, type ApprovalStatus, type ApprovalView } from './store.js';

export class ApprovalError extends Error {
  constructor(message: string, readonly code: 'unknown' | 'decided' | 'not-approver' | 'four-eyes') {
    super(message);
    this.name = 'ApprovalError';
  }
}

/** Who decides: a principal (console, API) or the operator at the command line. */
export interface Approver {
  key: string;
  subject: string;
  roles: readonly string[];
  /** The CLI runs with the storage's keys in hand: it is an approver by position, not by role. */
  operator?: boolean;
}

export interface ApprovalEvents {
  requested(view: ApprovalRequest): void;
  decided(view: ApprovalView, decision: ApprovalDecision): void;
}

const POLL_MS = 1000;

export class Approvals {
  readonly store: ApprovalStore;
  private readonly local = new EventEmitter();
  private readonly listeners: Partial<ApprovalEvents>[] = [];

  constructor(records: RecordStore, readonly config: ApprovalsConfig, private readonly log: Logger) {
    this.store = new ApprovalStore(records, config.retentionDays * 86_400_000);
    this.local.setMaxListeners(0);
  }

  /** Audit and notification hooks. */
  on(events: Partial<ApprovalEvents>): void {
    this.listeners.push(events);
  }

  /** What the deciding approval rules ask for, strictest wins; the defaults fill in what none says. */
  requirementFor(ruleIds: readonly string[], rules: readonly RuleInfo[]): ApprovalRequirement {
    const c = this.config;
    const specs = rules.filter((r) => r.effect === 'approval' && ruleIds.includes(r.id) && r.approval).map((r) => r.approval!);
    const roles = specs.flatMap((s) => s.approverRoles ?? []);
    return {
      required: Math.max(c.required, ...specs.map((s) => s.required ?? 0)),
      fourEyes: c.fourEyes || specs.some((s) => s.fourEyes === true),
      approverRoles: roles.length ? [...new Set(roles)] : c.approverRoles,
      timeoutSeconds: Math.min(c.timeoutSeconds, ...specs.map((s) => s.timeoutSeconds ?? Infinity)),
    };
  }

  async request(req: Omit<ApprovalRequest, 'id'>): Promise<ApprovalRequest> {
    const created = await this.store.create(req);
    for (const l of this.listeners) l.requested?.(created);
    void this.notify(created);
    return created;
  }

  async decide(id: string, approver: Approver, decision: 'approve' | 'deny', reason?: string): Promise<ApprovalView> {
    const before = await this.store.get(id);
    if (!before) throw new ApprovalError(`no approval ${id}`, 'unknown');
    if (before.status !== 'pending') throw new ApprovalError(`approval ${id} is already ${before.status}`, 'decided');
    const r = before.requirement;
    if (!approver.operator && !approver.roles.some((role) => r.approverRoles.includes(role))) {
      throw new ApprovalError(`${approver.subject} is not an approver of this call (roles needed: ${r.approverRoles.join(', ')})`, 'not-approver');
    }
    if (r.fourEyes && approver.key === before.principal.key) throw new ApprovalError('four eyes: the caller cannot approve their own call', 'four-eyes');
    const d: ApprovalDecision = { approver: { key: approver.key, subject: approver.subject }, decision, ...(reason !== undefined && { reason }), at: Date.now() };
    await this.store.decide(id, d);
    const after = (await this.store.get(id))!;
    for (const l of this.listeners) l.decided?.(after, d);
    this.local.emit(id);
    return after;
  }

  /**
   * Waits until the approval is decided or expires, at most `maxMs`; `onTick` runs every `tickMs` while it waits
   * (progress notifications). Returns the latest view; its status says whether it was decided.
   */
  async wait(id: string, opts: { maxMs: number; signal?: CancelSignal; tickMs?: number; onTick?: (view: ApprovalView) => void }): Promise<ApprovalView> {
    const deadline = Date.now() + opts.maxMs;
    let lastTick = Date.now();
    for (;;) {
      const view = await this.store.get(id);
      if (!view) throw new ApprovalError(`no approval ${id}`, 'unknown');
      if (view.status !== 'pending' || Date.now() >= deadline || opts.signal?.aborted) return view;
      if (opts.onTick && opts.tickMs !== undefined && Date.now() - lastTick >= opts.tickMs) {
        lastTick = Date.now();
        opts.onTick(view);
      }
      const until = Math.min(deadline, view.expiresAt) - Date.now();
      await this.sleep(id, Math.max(0, Math.min(POLL_MS, until)), opts.signal);
    }
  }

  private sleep(id: string, ms: number, signal?: CancelSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.local.off(id, done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.local.on(id, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private async notify(req: ApprovalRequest): Promise<void> {
    const hook = this.config.webhook;
    if (!hook) return;
    // What a chat channel needs to route the approver; the arguments stay in the gateway.
    const payload = {
      type: 'approval.requested', id: req.id, createdAt: new Date(req.createdAt).toISOString(), expiresAt: new Date(req.expiresAt).toISOString(),
      principal: req.principal.subject, client: req.client?.name, server: req.server, item: req.shownItem, method: req.method, reason: req.reason,
      approvers: req.requirement.approverRoles, required: req.requirement.required,
    };
    await postWebhook(hook, payload, this.log, 'approval webhook', { approval: req.id });
  }
}

export type { ApprovalStatus, ApprovalView, ApprovalRequest, ApprovalRequirement };
