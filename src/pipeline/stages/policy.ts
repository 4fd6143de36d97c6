/**
 * The policy stage: decides every use with the rule set in force when the request arrived (kept on ctx.rules, so
 * a reload never changes a request half-way), and gives list methods the filter the upstream stage applies to
 * every page. Lists and uses are decided by the same engine, so they never disagree:
 *
 *   - a use is allowed, denied (PC_POLICY_DENIED, with the reason), or needs approval (decided here, refused by
 *     the approval stage);
 *   - an item the principal may not even see is answered exactly like an item that does not exist
 *     (PC_UNKNOWN_TOOL, PC_UNKNOWN_PROMPT, PC_UNKNOWN_RESOURCE);
 *   - methods that name no item (initialize, ping, discover, listen, logging) are open to every principal; any
 *     other method forwarded to a server needs something on that server to be visible.
 *
 * A use is decided with the session's taint (context.taint) when some condition of the rule set reads it: the marks
 * are read once, from the rule set's tracker. Lists never read them (the policy leaves taint open in lists).
 */
import { GatewayError } from '../../core/errors.js';
import { isObject, type JsonObject } from '../../core/jsonrpc.js';
import type { PolicyContext, PolicyPrincipal, PolicyResource, TaintName } from '../../policy/index.js';
import { taintNames } from '../../guardrails/taint.js';
import type { NamedStage } from '../pipeline.js';
import type { ListFilter, ListMethod, RequestContext, Target } from '../context.js';
import type { RuleSet } from '../ruleSet.js';
import type { Upstream } from '../../upstream/upstream.js';
import type { Catalog } from '../../upstream/catalog.js';
import { completionTarget, connectionFor, locateResource, promptTarget, resourceTarget, shownUri, toolTarget, unknownItem } from '../targets.js';
import { sessionMarks } from '../taint.js';

export interface PolicyStageDeps {
  /** The rule set in force now. */
  rules(): RuleSet;
}

const LISTS = new Set<string>(['tools/list', 'prompts/list', 'resources/list', 'resources/templates/list']);

export function policyStage(deps: PolicyStageDeps): NamedStage {
  return {
    name: 'policy',
    run: (ctx, next) => {
      const rules = (ctx.rules = deps.rules());
      const r = ctx.route;
      if (r?.kind === 'forward' && r.method === 'tools/call') {
        // The hot path: a connected upstream and a tool already known are decided without a single await (but for
        // one storage read of the session's taint, when a condition reads it).
        const conn = r.upstream.connected(ctx.session?.id, ctx.clientCapabilities, ctx.principal?.key);
        const name = r.params.name;
        const tool = conn && typeof name === 'string' ? r.upstream.catalog(conn).tools.peek(name) : undefined;
        if (tool) {
          const target: Target = { action: 'call', upstream: r.upstream, item: rules.tool(r.upstream.name, tool.definition), tool };
          const args = isObject(r.params.arguments) ? r.params.arguments : undefined;
          if (rules.policy.readsTaint) {
            return taintOf(ctx, rules).then((taint) => {
              authorise(ctx, rules, target, String(ctx.request.params?.name), args, taint);
              return next();
            });
          }
          authorise(ctx, rules, target, String(ctx.request.params?.name), args, undefined);
          return next();
        }
      }
      return decide(ctx, next, rules);
    },
  };
}

async function decide(ctx: RequestContext, next: () => Promise<JsonObject>, rules: RuleSet): Promise<JsonObject> {
  const r = ctx.route;
  if (!r) throw new GatewayError('PC_INTERNAL', 'no route');
  switch (r.kind) {
    case 'local':
    case 'broadcast':
      return next();
    case 'list':
      ctx.listFilter = listFilter(ctx, rules);
      return next();
    case 'subscription': {
      if (r.action === 'unsubscribe') return next();
      const { upstream, uri } = locateResource(ctx.endpoint, r.uri);
      const found = await resourceTarget(rules, upstream, await catalog(ctx, upstream), uri, r.uri, 'subscribe');
      authorise(ctx, rules, found.target, r.uri, undefined, await taintOf(ctx, rules));
      ctx.route = { ...r, uri: shownUri(ctx.endpoint, upstream, found.uri) };
      return next();
    }
    case 'forward': {
      if (LISTS.has(r.method)) {
        ctx.listFilter = listFilter(ctx, rules);
        return next();
      }
      const shown = ctx.request.params ?? {};
      const p = r.params;
      let target: Target;
      let args: JsonObject | undefined;
      switch (r.method) {
        case 'tools/call':
          target = await toolTarget(rules, r.upstream, await catalog(ctx, r.upstream), p.name, shown.name);
          args = isObject(p.arguments) ? p.arguments : undefined;
          break;
        case 'prompts/get':
          target = await promptTarget(rules, r.upstream, await catalog(ctx, r.upstream), p.name, shown.name, 'get');
          args = isObject(p.arguments) ? p.arguments : undefined;
          break;
        case 'resources/read': {
          const found = await resourceTarget(rules, r.upstream, await catalog(ctx, r.upstream), p.uri, shown.uri, 'read');
          target = found.target;
          if (found.uri !== p.uri) ctx.route = { ...r, params: { ...p, uri: found.uri } };
          break;
        }
        case 'completion/complete':
          target = await completionTarget(rules, r.upstream, await catalog(ctx, r.upstream), p.ref, shown.ref);
          break;
        default:
          // A method that names no item reaches a server only for a principal who may use something on it.
          if (rules.policy.decide(principal(ctx), 'list', { kind: 'server', server: r.upstream.name }, policyContext(ctx, undefined)).outcome === 'deny') {
            throw new GatewayError('PC_POLICY_DENIED', `nothing on ${r.upstream.name} is allowed`, { data: { reason: 'no rule allows anything on this server' } });
          }
          return next();
      }
      authorise(ctx, rules, target, shownName(ctx.request.method, shown), args, await taintOf(ctx, rules));
      return next();
    }
  }
}

async function catalog(ctx: RequestContext, up: Upstream): Promise<Catalog> {
  return up.catalog(up.connected(ctx.session?.id, ctx.clientCapabilities, ctx.principal?.key) ?? (await connectionFor(ctx, up)));
}

/** The session's taint as conditions see it, when some condition reads it (else not read at all). */
async function taintOf(ctx: RequestContext, rules: RuleSet): Promise<TaintName[] | undefined> {
  return rules.policy.readsTaint ? taintNames(await sessionMarks(ctx, rules.taint)) : undefined;
}

/** Decides the use; a denied item the principal cannot even see is reported as not existing. */
function authorise(ctx: RequestContext, rules: RuleSet, target: Target, shown: string, args: JsonObject | undefined, taint: readonly TaintName[] | undefined): void {
  const who = principal(ctx);
  const pctx = policyContext(ctx, args, taint);
  const d = rules.policy.decide(who, target.action, target.item, pctx);
  ctx.target = target;
  ctx.decision = d;
  if (d.outcome !== 'deny') return;
  if (rules.policy.decide(who, 'list', target.item, pctx).outcome === 'deny') {
    throw unknownItem(target.item.kind === 'tool' ? 'tool' : target.item.kind === 'prompt' ? 'prompt' : 'resource', shown);
  }
  // The deciding rules' own reasons (their descriptions, or why a condition failed closed) say more than their ids.
  const why = d.rules.filter((x) => !/ rule matched$/.test(x.reason)).map((x) => `${x.id}: ${x.reason}`);
  throw new GatewayError('PC_POLICY_DENIED', why.length ? `${d.reason} (${why.join('; ')})` : d.reason, {
    data: { reason: d.reason, rules: d.rules.map((x) => ({ id: x.id, reason: x.reason })) },
  });
}

function shownName(method: string, shown: JsonObject): string {
  if (method === 'completion/complete') {
    const ref = isObject(shown.ref) ? shown.ref : {};
    return String(ref.type === 'ref/prompt' ? ref.name : ref.uri);
  }
  return String(method === 'resources/read' ? shown.uri : shown.name);
}

const KIND: Record<ListMethod, PolicyResource['kind']> = {
  'tools/list': 'tool',
  'prompts/list': 'prompt',
  'resources/list': 'resource',
  'resources/templates/list': 'template',
};

/** The filter of one list request: one policy context and principal for every page. */
function listFilter(ctx: RequestContext, rules: RuleSet): ListFilter {
  const who = principal(ctx);
  const pctx = policyContext(ctx, undefined);
  return (server, method, items) => {
    const kind = KIND[method];
    const byResource = new Map<PolicyResource, JsonObject>();
    for (const it of items) {
      if (!isObject(it)) continue;
      let res: PolicyResource | undefined;
      if (kind === 'tool') res = typeof it.name === 'string' ? rules.tool(server, it) : undefined;
      else if (kind === 'prompt') res = typeof it.name === 'string' ? rules.prompt(server, it.name) : undefined;
      else if (kind === 'resource') res = typeof it.uri === 'string' ? rules.resource(server, it.uri) : undefined;
      else res = typeof it.uriTemplate === 'string' ? rules.template(server, it.uriTemplate) : undefined;
      if (res && !byResource.has(res)) byResource.set(res, it);
    }
    const visible = rules.policy.filter(who, [...byResource.keys()], pctx);
    return visible.map((res) => {
      const it = byResource.get(res)!;
      return kind === 'tool' ? rules.shownTool(server, it) : it;
    });
  };
}

function principal(ctx: RequestContext): PolicyPrincipal {
  const p = ctx.principal;
  if (!p) throw new GatewayError('PC_INTERNAL', 'no principal');
  return p;
}

export function policyContext(ctx: RequestContext, args: JsonObject | undefined, taint?: readonly TaintName[]): PolicyContext {
  const info = ctx.clientInfo;
  return {
    args,
    taint,
    time: new Date(),
    client: info ? { name: typeof info.name === 'string' ? info.name : undefined, version: typeof info.version === 'string' ? info.version : undefined } : undefined,
    session: ctx.session?.id,
    era: ctx.era,
    endpoint: ctx.endpoint.name,
  };
}
