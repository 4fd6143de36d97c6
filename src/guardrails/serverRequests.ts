/**
 * Server-to-client requests an upstream sends through the gateway. A sampling/createMessage puts its messages and
 * system prompt in front of the client's model, an elicitation/create its message in front of the user, as surely
 * as a result does: without this an upstream could route a secret or a planted instruction around the result
 * guardrails by asking instead of answering. Every path by which such a request reaches a client calls screen()
 * (src/pipeline/serverRequests.ts lists them); it is inspected as direction `server-request` with the server's
 * `results` settings:
 *
 *   redact, flag, wrap   applied to the request the client gets (apply.ts applyToServerRequest)
 *   block                not relayed: screen() throws PC_GUARDRAIL_BLOCKED, which a legacy upstream receives as the
 *                        JSON-RPC error answering its request, and a modern upstream's caller as the call's error
 *
 * What reaches the client taints its conversation as a result would. A URL-mode elicitation's `url` is an address,
 * not content, and roots/list carries none: neither is inspected.
 */
import { GatewayError } from '../core/errors.js';
import type { CancelSignal } from '../core/cancel.js';
import type { JsonObject } from '../core/jsonrpc.js';
import type { Logger } from '../core/log.js';
import { applyToServerRequest, blocking, listed, logged, reasons } from './apply.js';
import type { GuardrailInput, ReportedFinding } from './guardrail.js';
import type { ContentGuards, Guardrails } from './guardrails.js';
import type { ScopeOf } from './taint.js';

type Method = 'sampling/createMessage' | 'elicitation/create';

/** What the client's model or user reads of each request (paths of findings are the params' own). */
const READ: Readonly<Record<Method, readonly string[]>> = {
  'sampling/createMessage': ['systemPrompt', 'messages'],
  'elicitation/create': ['message'],
};

const inspected = (method: string): method is Method => Object.hasOwn(READ, method);

export interface ServerRequestOrigin {
  server: string;
  /** The client's call the upstream asked during; absent when it asked outside any call (the session's stream). */
  call?: { method: string; item: string } | undefined;
  principal?: GuardrailInput['principal'];
  /** Whose conversation the content reaches (taint). */
  scope: ScopeOf;
  /** The guardrails and taint settings of the call's rule set; default those in force now. */
  guards?: ContentGuards | undefined;
  /** The call's log; default the gateway's. */
  log?: Logger | undefined;
  /** Keeps the findings for the call's audit record (ctx.findings). */
  report?: ((findings: readonly ReportedFinding[]) => void) | undefined;
}

export interface InspectedRequest {
  /** The params to relay: redacted and marked, or the same object when nothing was found. */
  params: JsonObject | undefined;
  findings: ReportedFinding[];
  /** The blocking findings: the request must not be relayed. */
  refused: ReportedFinding[];
}

/** Runs the guardrails over what the client would read of one server-to-client request. */
export async function inspectServerRequest(guardrails: Guardrails, source: { server: string; item: string; principal?: GuardrailInput['principal'] }, method: string, params: JsonObject | undefined, signal?: CancelSignal): Promise<InspectedRequest> {
  const none = { params, findings: [], refused: [] };
  if (!inspected(method) || !params || !guardrails.active(source.server, 'server-request')) return none;
  const value: JsonObject = {};
  for (const key of READ[method]) if (params[key] !== undefined) value[key] = params[key]!;
  if (Object.keys(value).length === 0) return none;
  const findings = await guardrails.inspect({ direction: 'server-request', method, server: source.server, item: source.item, value, principal: source.principal }, signal);
  const refused = blocking(findings);
  const out = findings.length && !refused.length ? applyToServerRequest(params, findings, { server: source.server, item: source.item || method }) : params;
  return { params: out, findings, refused };
}

export class ServerRequestGuard {
  /** `current`: the guardrails and taint settings in force (they change on a reload). */
  constructor(private readonly current: () => ContentGuards, private readonly log: Logger) {}

  /** The params to relay to the client, or PC_GUARDRAIL_BLOCKED thrown: the request must not reach it. */
  async screen(origin: ServerRequestOrigin, method: string, params: JsonObject | undefined, signal?: CancelSignal): Promise<JsonObject | undefined> {
    if (!inspected(method)) return params;
    const { server } = origin;
    const item = origin.call?.item ?? '';
    const guards = origin.guards ?? this.current();
    const r = await inspectServerRequest(guards.guardrails, { server, item, principal: origin.principal }, method, params, signal);
    const where = item ? `${server}/${item}` : server;
    if (r.findings.length) {
      origin.report?.(r.findings);
      (origin.log ?? this.log).warn({ direction: 'server-request', method, server, item: item || undefined, findings: logged(r.findings) }, 'guardrail findings');
    }
    if (r.refused.length) {
      throw new GatewayError('PC_GUARDRAIL_BLOCKED', `the ${method} request of ${where} was not relayed to the client: ${reasons(r.refused)}`, { data: { findings: listed(r.refused) } });
    }
    if (guards.taint.recording) await this.mark(guards, origin, `${where} via ${method}`, r.findings);
    return r.params;
  }

  /** A request that reached the client taints its conversation as a result would (redacted content taints nothing). */
  private async mark({ guardrails, taint }: ContentGuards, origin: ServerRequestOrigin, source: string, findings: readonly ReportedFinding[]): Promise<void> {
    const call = origin.call;
    const untrustedSource = guardrails.settings(origin.server)?.untrusted === true || (call?.method === 'tools/call' && taint.isUntrustedSource(origin.server, call.item));
    const marks = taint.marksFor(findings, source, untrustedSource);
    if (marks.length === 0) return;
    await taint.mark(taint.scope(origin.scope), marks);
    (origin.log ?? this.log).info({ taint: marks.map((m) => m.label), source }, 'session tainted');
  }
}
