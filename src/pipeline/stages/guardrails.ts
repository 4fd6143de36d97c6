/**
 * The guardrails stage (after validation, before approval), for tools/call, prompts/get and resources/read:
 *
 *   on the way out   outbound arguments are inspected (data exfiltration): a blocking finding refuses the call
 *                    (PC_GUARDRAIL_BLOCKED), redactions are applied to what is forwarded;
 *                    a tainted session calling a sink needs an approval (the approval stage comes next) or is
 *                    refused, per guardrails.taint.action;
 *   on the way back  the result is inspected after the results stage checked it: a blocking finding withholds it
 *                    (a tool error for tools/call, PC_GUARDRAIL_BLOCKED otherwise), redactions are applied, flagged
 *                    and wrapped blocks are marked untrusted, and what reached the client taints the session.
 *
 * The findings are kept on the context (ctx.findings) for the audit log and logged here, escaped and masked. The
 * guardrails and taint settings are those of the request's rule set (ctx.rules), so a reload never changes them
 * half-way through a request.
 */
import { GatewayError } from '../../core/errors.js';
import { isObject, type JsonObject } from '../../core/jsonrpc.js';
import { shapeForEra } from '../../endpoint/mapResult.js';
import { applyToResult, blocking, listed, logged, reasons, redactFindings } from '../../guardrails/apply.js';
import type { GuardrailInput, ReportedFinding } from '../../guardrails/guardrail.js';
import { describeTaint, type TaintTracker } from '../../guardrails/taint.js';
import type { NamedStage } from '../pipeline.js';
import type { RequestContext } from '../context.js';
import type { RuleSet } from '../ruleSet.js';
import { sessionMarks, taintScope } from '../taint.js';

export interface GuardrailsStageDeps {
  /** The rule set in force now: used only when the policy stage left none on the request (a rearranged pipeline). */
  rules(): RuleSet;
}

type Method = GuardrailInput['method'];
const METHODS = new Set<string>(['tools/call', 'prompts/get', 'resources/read']);

export function guardrailsStage(deps: GuardrailsStageDeps): NamedStage {
  return {
    name: 'guardrails',
    run: async (ctx, next) => {
      const r = ctx.route;
      const t = ctx.target;
      if (r?.kind !== 'forward' || !t || !METHODS.has(r.method)) return next();
      const method = r.method as Method;
      const { guardrails, taint } = ctx.rules ?? deps.rules();
      const server = t.upstream.name;
      const item = String(method === 'resources/read' ? r.params.uri : r.params.name);
      const base = { method, server, item, principal: ctx.principal && { subject: ctx.principal.subject, issuer: ctx.principal.issuer, clientId: ctx.principal.clientId } };
      const signal = ctx.signal;

      const args = r.params.arguments;
      if (method !== 'resources/read' && isObject(args) && guardrails.active(server, 'argument')) {
        const findings = await guardrails.inspect({ ...base, direction: 'argument', value: args }, signal);
        if (findings.length) {
          report(ctx, 'argument', findings);
          const refused = blocking(findings);
          if (refused.length) {
            throw new GatewayError('PC_GUARDRAIL_BLOCKED', `the arguments of ${shown(ctx)} were refused: ${reasons(refused)}`, { data: { findings: listed(refused) } });
          }
          if (findings.some((f) => f.action === 'redact')) ctx.route = { ...r, params: { ...r.params, arguments: redactFindings(args, findings) as JsonObject } };
        }
      }

      if (taint.enabled && method === 'tools/call') await checkTaint(ctx, taint);

      const result = await next();
      if (result.resultType === 'input_required' || !guardrails.active(server, 'result') && !taint.recording) return result;

      const findings = guardrails.active(server, 'result') ? await guardrails.inspect({ ...base, direction: 'result', value: result }, signal) : [];
      if (findings.length) report(ctx, 'result', findings);
      const refused = blocking(findings);
      if (refused.length) return withhold(ctx, method, refused);
      const source = `${server}/${item}`;
      if (taint.recording) {
        const untrustedSource = guardrails.settings(server)?.untrusted === true || (method === 'tools/call' && taint.isUntrustedSource(server, item));
        const marks = taint.marksFor(findings, source, untrustedSource);
        if (marks.length) {
          // Hashed only when needed: most results leave no mark.
          await taint.mark(taint.scope(taintScope(ctx)), marks);
          ctx.log.info({ taint: marks.map((m) => m.label), source }, 'session tainted');
        }
      }
      return findings.length ? applyToResult(result, findings, { server, item }) : result;
    },
  };
}

async function checkTaint(ctx: RequestContext, taint: TaintTracker): Promise<void> {
  const t = ctx.target!;
  const sink = taint.sinkReason(t.item);
  if (!sink) return;
  const marks = await sessionMarks(ctx, taint);
  if (marks.length === 0) return;
  const why = `this session received ${describeTaint(marks)}, and ${shown(ctx)} is a sink (${sink})`;
  switch (taint.config.action) {
    case 'warn':
      ctx.log.warn({ tool: shown(ctx), taint: marks.map((m) => m.label) }, `toxic flow let through: ${why}`);
      return;
    case 'deny':
      throw new GatewayError('PC_GUARDRAIL_BLOCKED', why, { data: { reason: why, taint: marks } });
    case 'approval': {
      const d = ctx.decision;
      if (d?.outcome === 'deny') return;
      const rule = { id: 'guardrails.taint', effect: 'approval' as const, reason: why };
      ctx.decision = { outcome: 'approval', reason: `approval required: ${why}`, rules: [rule, ...(d?.rules ?? [])] };
      return;
    }
    case 'off':
      return;
  }
}

/** The result replaced by a refusal that says why (never the withheld content). */
function withhold(ctx: RequestContext, method: Method, refused: readonly ReportedFinding[]): JsonObject {
  const why = reasons(refused);
  if (method !== 'tools/call') throw new GatewayError('PC_GUARDRAIL_BLOCKED', `the result of ${shown(ctx)} was withheld: ${why}`, { data: { findings: listed(refused) } });
  const error: JsonObject = {
    content: [{ type: 'text', text: `The result of tool ${shown(ctx)} was withheld by the gateway's guardrails: ${why}.` }],
    isError: true,
    _meta: { 'dev.portcullis/guardrails': { findings: listed(refused) } },
  };
  return shapeForEra(error, ctx.request.method, ctx.era, ctx.endpoint.name);
}

function report(ctx: RequestContext, direction: 'argument' | 'result', findings: readonly ReportedFinding[]): void {
  (ctx.findings ??= []).push(...findings.map((f) => ({ ...f, direction })));
  ctx.log.warn({ direction, item: shown(ctx), findings: logged(findings) }, 'guardrail findings');
}

function shown(ctx: RequestContext): string {
  const p = ctx.request.params ?? {};
  return String(p.name ?? p.uri ?? '');
}
