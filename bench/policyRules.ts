/**
 * The large policy the policy benchmarks decide against, shaped like a big deployment: 50 servers × 19 rules (role
 * grants on tool globs, argument constraints, CEL conditions, deny and approval rules, time windows) plus 50 rules on
 * every server (`*` globs: global denies, approval of destructive tools, CEL on the principal). Deterministic.
 */
import type { RuleSpec, Weekday } from '../src/policy/index.js';
import { rng } from '../test/support/random.js';

export const SERVERS = Array.from({ length: 50 }, (_, i) => `srv${i}`);
export const VERBS = ['read', 'list', 'search', 'get', 'write', 'update', 'delete', 'create'];
export const ROLES = Array.from({ length: 40 }, (_, i) => `role${i}`);

export const rand = rng(1000);
export const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

export function perServerRules(server: string, n: number): RuleSpec[] {
  const rules: RuleSpec[] = [];
  for (let i = 0; i < n; i++) {
    const kind = i % 6;
    const id = `${server}-${i}`;
    const principals = { roles: [pick(ROLES), pick(ROLES)] };
    if (kind === 0) rules.push({ id, effect: 'allow', principals, tools: [`${server}/${pick(VERBS)}_*`] });
    else if (kind === 1) rules.push({ id, effect: 'allow', principals, tools: [`${server}/*`], args: { path: { under: `/srv/${server}` } } });
    else if (kind === 2) {
      rules.push({ id, effect: 'allow', principals, tools: [`${server}/${pick(VERBS)}_item`], when: 'principal.attributes.level >= 2 && args.limit <= 100' });
    }
    else if (kind === 3) rules.push({ id, effect: 'deny', principals, tools: [`${server}/delete_*`] });
    else if (kind === 4) rules.push({ id, effect: 'allow', principals, tools: [`${server}/get_customer`], args: { customer_id: { claim: 'customer_id' } } });
    else {
      const time = { days: ['mon', 'tue', 'wed', 'thu', 'fri'] as Weekday[], hours: '08:00-18:00' };
      rules.push({ id, effect: 'approval', principals, tools: [`${server}/write_*`], time });
    }
  }
  return rules;
}

export function globalRules(n: number): RuleSpec[] {
  const rules: RuleSpec[] = [];
  for (let i = 0; i < n; i++) {
    const id = `global-${i}`;
    const kind = i % 5;
    if (kind === 0) rules.push({ id, effect: 'deny', tools: [`*/${pick(VERBS)}_secret_*`] });
    else if (kind === 1) rules.push({ id, effect: 'approval', destructive: true, principals: { roles: [pick(ROLES)] } });
    else if (kind === 2) rules.push({ id, effect: 'allow', principals: { roles: [pick(ROLES)] }, readOnly: true, tools: ['*/*'] });
    else if (kind === 3) rules.push({ id, effect: 'deny', principals: { groups: [`blocked${i}`] } });
    else rules.push({ id, effect: 'allow', tools: [`*/${pick(VERBS)}_*`], when: `'${pick(ROLES)}' in principal.roles && principal.tenant == 'acme'` });
  }
  return rules;
}


/** The 1,000-rule policy: 19 rules on each of the servers, then 50 on every server. */
export function largePolicy(): RuleSpec[] {
  return [...SERVERS.flatMap((s) => perServerRules(s, 19)), ...globalRules(50)];
}
