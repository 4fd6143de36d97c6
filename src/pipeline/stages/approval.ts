/**
 * The approval stage: a use the policy (an `approval` rule) or the taint tracker allows only with a human approval
 * is parked (src/approvals) until approvers decide.
 *
 *   2025-11-25 client   the call stays open; a progress notification every approvals.waitSeconds (when the client
 *                       sent a progressToken); the decision completes it
 *   2026-07-28 client   after waitSeconds the answer is input_required with a sealed requestState naming the
 *                       approval (bound to the principal, the method and the parameters); each retry waits again,
 *                       and the retry after the decision completes
 *
 * An approval is good for one call. Denied, or undecided before its timeout: PC_APPROVAL_DENIED. A retry of the same
 * call by the same principal (say, after a restart or a client timeout) finds its pending approval again. With
 * approvals.enabled false the use is refused at once (PC_APPROVAL_REQUIRED).
 */
import { GatewayError } from '../../core/errors.js';
import { isObject, type JsonObject } from '../../core/jsonrpc.js';
import { digest } from '../../core/canonical.js';
import type { Approvals, ApprovalView } from '../../approvals/approvals.js';
import type { RequestStateCodec, StateBinding } from '../../bridge/requestState.js';
import type { NamedStage } from '../pipeline.js';
import type { RequestContext } from '../context.js';

export interface ApprovalStageDeps {
  approvals: Approvals;
  codec: RequestStateCodec;
}

export const APPROVAL_META = 'dev.portcullis/approval';

export function approvalStage(deps: ApprovalStageDeps): NamedStage {
  return {
    name: 'approval',
    run: async (ctx, next) => {
      const d = ctx.decision;
      if (d?.outcome !== 'approval') return next();
      const rules = d.rules.filter((r) => r.effect === 'approval').map((r) => ({ id: r.id, reason: r.reason }));
      const cfg = deps.approvals.config;
      if (!cfg.enabled) {
        throw new GatewayError('PC_APPROVAL_REQUIRED', `${d.reason}; approvals are switched off (approvals.enabled: false), so this use is refused`, { data: { reason: d.reason, rules } });
      }
      const r = ctx.route;
      if (r?.kind !== 'forward' || !ctx.target) throw new GatewayError('PC_APPROVAL_REQUIRED', `${d.reason}; only calls can wait for an approval`, { data: { reason: d.reason, rules } });
      const request = ctx.request.params ?? {};
      const binding: StateBinding = { principal: ctx.principal?.key ?? 'local', method: r.method, params: request };

      let view: ApprovalView | undefined;
      if (ctx.era === 'modern' && typeof request.requestState === 'string') {
        const state = deps.codec.open(request.requestState, binding);
        // A pass or bridge state is only ever issued after this stage let the call through: it was approved.
        if (state.kind !== 'approval') return next();
        view = await deps.approvals.store.get(state.approvalId ?? '');
        if (!view) throw new GatewayError('PC_APPROVAL_DENIED', 'the approval this call waited for no longer exists');
      }
      view ??= await park(ctx, deps, rules);

      view = await waitFor(ctx, deps, view);
      if (view.status === 'pending') {
        return {
          resultType: 'input_required',
          requestState: deps.codec.seal({ kind: 'approval', upstream: ctx.target.upstream.name, approvalId: view.id }, binding),
          _meta: { [APPROVAL_META]: describe(view) },
        };
      }
      settle(view);
      if (!(await deps.approvals.store.consume(view.id))) throw new GatewayError('PC_APPROVAL_DENIED', `approval ${view.id} was already used for a call`);
      ctx.approval = { id: view.id, approvers: view.decisions.filter((x) => x.decision === 'approve').map((x) => x.approver.subject) };
      ctx.log.info({ approval: view.id, approvers: ctx.approval.approvers }, 'approved call released');
      const { requestState: _s, inputResponses: _i, ...params } = r.params;
      ctx.route = { ...r, params };
      return next();
    },
  };
}

/** Finds this call's approval again (a retry of the same call) or parks it as a new one. */
async function park(ctx: RequestContext, deps: ApprovalStageDeps, rules: { id: string; reason: string }[]): Promise<ApprovalView> {
  const r = ctx.route as Extract<RequestContext['route'], { kind: 'forward' }>;
  const t = ctx.target!;
  const p = ctx.principal;
  const { _meta: _m, requestState: _s, inputResponses: _i, ...salient } = ctx.request.params ?? {};
  const requestDigest = digest({ principal: p?.key ?? 'local', endpoint: ctx.endpoint.key, method: r.method, params: salient });
  const again = await deps.approvals.store.findReusable(requestDigest);
  if (again) return again;
  const requirement = deps.approvals.requirementFor(rules.map((x) => x.id), ctx.rules?.policy.rules ?? []);
  const now = Date.now();
  const shown = ctx.request.params ?? {};
  const created = await deps.approvals.request({
    createdAt: now,
    expiresAt: now + requirement.timeoutSeconds * 1000,
    principal: { key: p?.key ?? 'local', subject: p?.subject ?? 'local', issuer: p?.issuer ?? 'local', ...(p?.clientId !== undefined && { clientId: p.clientId }) },
    client: { name: str(ctx.clientInfo?.name), version: str(ctx.clientInfo?.version) },
    session: ctx.session?.id,
    endpoint: ctx.endpoint.name,
    server: t.upstream.name,
    method: r.method,
    item: String(t.item.name ?? t.item.uri ?? ''),
    shownItem: String(shown.name ?? shown.uri ?? ''),
    ...(isObject(r.params.arguments) && { arguments: r.params.arguments }),
    reason: ctx.decision!.reason,
    rules,
    findings: (ctx.findings ?? []).map((f) => ({ guardrail: f.guardrail, rule: f.rule, severity: f.severity, action: f.action, path: f.path })),
    requirement,
    requestDigest,
  });
  ctx.log.info({ approval: created.id, item: created.shownItem, reason: created.reason }, 'call parked for approval');
  return { ...created, status: 'pending', decisions: [] };
}

async function waitFor(ctx: RequestContext, deps: ApprovalStageDeps, view: ApprovalView): Promise<ApprovalView> {
  if (view.status !== 'pending') return view;
  const waitMs = deps.approvals.config.waitSeconds * 1000;
  if (ctx.era === 'modern') return deps.approvals.wait(view.id, { maxMs: waitMs, signal: ctx.signal });
  // A 2025-11-25 call holds its request open until the decision or the timeout.
  const token = isObject(ctx.request.params?._meta) ? ctx.request.params._meta.progressToken : undefined;
  const started = Date.now();
  const done = await deps.approvals.wait(view.id, {
    maxMs: Math.max(0, view.expiresAt - Date.now()),
    signal: ctx.signal,
    tickMs: waitMs,
    onTick: (v) => {
      if (typeof token !== 'string' && typeof token !== 'number') return;
      ctx.channel.notify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: Math.round((Date.now() - started) / 1000), message: `waiting for approval ${v.id}: ${v.reason}` } });
    },
  });
  if (ctx.signal.aborted) throw new GatewayError('PC_CANCELLED', `the call was cancelled while approval ${view.id} was pending (a retry of the same call finds it again)`);
  return done;
}

/** Throws unless the approval was granted. */
function settle(view: ApprovalView): void {
  if (view.status === 'approved') return;
  if (view.status === 'denied') {
    const d = view.decisions.find((x) => x.decision === 'deny')!;
    throw new GatewayError('PC_APPROVAL_DENIED', `${d.approver.subject} denied the call${d.reason ? `: ${d.reason}` : ''}`, { data: { approval: describe(view) } });
  }
  throw new GatewayError('PC_APPROVAL_DENIED', `no decision within ${view.requirement.timeoutSeconds} s (approval ${view.id})`, { data: { approval: describe(view) } });
}

function describe(view: ApprovalView): JsonObject {
  const approvals = new Set(view.decisions.filter((x) => x.decision === 'approve').map((x) => x.approver.key)).size;
  return {
    id: view.id, status: view.status, reason: view.reason, expiresAt: new Date(view.expiresAt).toISOString(),
    approvals, required: view.requirement.required,
    message: view.status === 'pending' ? `Waiting for ${view.requirement.required - approvals} more approval(s) by ${view.requirement.approverRoles.join(' or ')}: ${view.reason}` : `Approval ${view.status}`,
  };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
