/**
 * "What can this user do?": for a principal described by subject, roles and groups, every item each upstream offers
 * now, whether the policy in force shows it (list) and what it answers to its use (allow, approval, deny), with
 * the deciding rules. Decided without arguments: a rule that constrains arguments can still refuse a given call.
 */
import type { JsonObject } from '../core/jsonrpc.js';
import type { Gateway } from '../gateway.js';
import type { DefinitionItem } from '../integrity/definitions.js';
import type { Action, PolicyPrincipal, PolicyResource } from '../policy/types.js';
import type { RuleSet } from '../pipeline/ruleSet.js';
import { definitionsOf } from './servers.js';

export interface PolicySubject {
  subject: string;
  roles: string[];
  groups: string[];
}

export interface PolicyItemView {
  kind: string;
  name: string;
  visible: boolean;
  action: Action;
  outcome: string;
  rules: Array<{ id: string; effect: string; reason: string }>;
}

export interface PolicyServerView {
  server: string;
  /** Whether anything on the server could be used (the server's own list decision). */
  reachable: boolean;
  items: PolicyItemView[];
  error?: string | undefined;
}

function resourceOf(rules: RuleSet, server: string, item: DefinitionItem): { resource: PolicyResource; action: Action } {
  switch (item.kind) {
    case 'tool': return { resource: rules.tool(server, item.definition as JsonObject), action: 'call' };
    case 'prompt': return { resource: rules.prompt(server, item.key), action: 'get' };
    case 'resource': return { resource: rules.resource(server, item.key), action: 'read' };
    default: return { resource: rules.template(server, item.key), action: 'read' };
  }
}

export async function whatCanTheyDo(gw: Gateway, who: PolicySubject): Promise<PolicyServerView[]> {
  const rules = gw.rules;
  const principal: PolicyPrincipal = { subject: who.subject, scopes: [], roles: who.roles, groups: who.groups, attributes: {}, method: 'bearer' };
  const context = { time: new Date(), era: 'modern' as const, endpoint: '' };
  return Promise.all([...gw.upstreams.keys()].map(async (server): Promise<PolicyServerView> => {
    const ctx = { ...context, endpoint: server };
    const reachable = rules.policy.decide(principal, 'list', { kind: 'server', server }, ctx).outcome !== 'deny';
    let defs: DefinitionItem[];
    try { defs = await definitionsOf(gw, server); } catch (e) { return { server, reachable, items: [], error: (e as Error).message }; }
    const items = defs.map((item): PolicyItemView => {
      const { resource, action } = resourceOf(rules, server, item);
      const visible = rules.policy.decide(principal, 'list', resource, ctx).outcome !== 'deny';
      const d = rules.policy.decide(principal, action, resource, ctx);
      return { kind: item.kind, name: item.key, visible, action, outcome: d.outcome, rules: d.rules.map((r) => ({ id: r.id, effect: r.effect, reason: r.reason })) };
    });
    return { server, reachable, items };
  }));
}
