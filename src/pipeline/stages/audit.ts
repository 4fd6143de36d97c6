/**
 * The outermost stage: every request ends up in the audit log (src/audit) with its principal, target, decision,
 * content (per audit.content), outcome and latency. The stage waits for the record to be durable before the
 * response goes back, so a response that was sent is in the log; when the log cannot take it, the request fails
 * rather than go unrecorded. Without a log (audit.enabled false) it only writes the log line.
 */
import { isGatewayError, UpstreamRpcError } from '../../core/errors.js';
import type { JsonObject } from '../../core/jsonrpc.js';
import type { AuditLog } from '../../audit/log.js';
import type { AuditEvent } from '../../audit/record.js';
import type { NamedStage } from '../pipeline.js';
import type { RequestContext } from '../context.js';

/** `audit` is read per request: the gateway opens its log after building the stages. */
export function auditStage(opts: { audit: () => AuditLog | undefined }): NamedStage {
  return {
    name: 'audit',
    run: async (ctx, next) => {
      const audit = opts.audit();
      let result: JsonObject | undefined;
      let failure: unknown;
      try {
        result = await next();
      } catch (e) {
        failure = e;
      }
      const latencyMs = Math.round((performance.now() - ctx.startedAt) * 100) / 100;
      const outcome = failure === undefined ? resultOutcome(result!) : errorCode(failure);
      logLine(ctx, outcome, latencyMs, failure);
      if (audit) await audit.append(requestEvent(ctx, audit, { result, failure, outcome, latencyMs }));
      if (failure !== undefined) throw failure;
      return result!;
    },
  };
}

function resultOutcome(result: JsonObject): string {
  if (result.isError === true) return 'tool_error';
  return result.resultType === 'input_required' ? 'input_required' : 'ok';
}

function errorCode(e: unknown): string {
  return isGatewayError(e) ? e.code : e instanceof UpstreamRpcError ? 'upstream_error' : 'internal_error';
}

function logLine(ctx: RequestContext, outcome: string, ms: number, failure: unknown): void {
  const fields = () => ({
    method: ctx.request.method, endpoint: ctx.endpoint.key, era: ctx.era, session: ctx.session?.id,
    principal: ctx.principal?.subject, upstream: upstreamOf(ctx), decision: ctx.decision?.outcome,
    rules: ctx.decision?.rules.map((r) => r.id), ms, outcome,
  });
  if (failure === undefined) {
    if (ctx.log.isLevelEnabled('debug')) ctx.log.debug(fields(), 'request');
    return;
  }
  const level = outcome === 'internal_error' ? 'error' : 'info';
  ctx.log[level]({ ...fields(), stage: isGatewayError(failure) ? failure.stage : undefined, err: (failure as Error).message }, 'request failed');
}

function upstreamOf(ctx: RequestContext): string | undefined {
  return ctx.target?.upstream.name ?? (ctx.route?.kind === 'forward' ? ctx.route.upstream.name : undefined);
}

interface Ending { result: JsonObject | undefined; failure: unknown; outcome: string; latencyMs: number }

function requestEvent(ctx: RequestContext, audit: AuditLog, end: Ending): AuditEvent {
  const p = ctx.principal;
  const t = ctx.target;
  const params = ctx.request.params as JsonObject | undefined;
  const clientInfo = ctx.clientInfo && { name: ctx.clientInfo.name, version: ctx.clientInfo.version };
  return {
    type: 'request',
    time: Math.round(Date.now() - (performance.now() - ctx.startedAt)),
    principal: p?.subject, issuer: p?.issuer, client: p?.clientId,
    session: ctx.session?.id, endpoint: ctx.endpoint.key, upstream: upstreamOf(ctx),
    method: ctx.request.method, requestId: ctx.request.id ?? undefined, era: ctx.era, transport: ctx.transport,
    item: t && { kind: t.item.kind, name: t.item.name ?? t.item.uri ?? t.item.server, action: t.action },
    decision: ctx.decision && { outcome: ctx.decision.outcome, rules: ctx.decision.rules.map((r) => r.id) },
    // Content only for uses of an item (calls, reads, prompts): lists and handshakes carry nothing to account for.
    arguments: t ? audit.render(params?.arguments, 'argument') : undefined,
    result: t && end.result ? audit.render(end.result, 'result') : undefined,
    findings: ctx.findings?.map((f) => ({
      guardrail: f.guardrail, rule: f.rule, severity: f.severity, action: f.action, category: f.category,
      direction: f.direction, path: f.path, excerpt: f.excerpt,
    })),
    outcome: end.outcome,
    error: end.failure === undefined ? undefined : {
      code: end.outcome, stage: isGatewayError(end.failure) ? end.failure.stage : undefined, message: String((end.failure as Error)?.message ?? end.failure),
    },
    latencyMs: end.latencyMs,
    detail: clientInfo || ctx.approval ? { ...(clientInfo && { clientInfo }), ...(ctx.approval && { approval: ctx.approval }) } : undefined,
  };
}
