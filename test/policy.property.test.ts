/**
 * Property: lists and calls never disagree. Random policies × random principals × random tools (seeded, so a
 * failure is reproducible from the printed seed):
 *  - filter() is exactly the items whose `list` decision is not deny;
 *  - every tool that some arguments make callable (allow or approval) is listed, and so is its server;
 *  - every listed tool is callable with some arguments, or would be without the deny rules that read the arguments
 *    (the one over-approximation: a list cannot know the arguments a call will bring, so an allow on /srv/reports
 *    next to a deny on /srv keeps the tool listed while every call is refused).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePolicy, type PolicyContext, type PolicyPrincipal, type PolicyResource, type RuleSpec } from '../src/policy/index.js';
import { rng } from './support/random.js';


const SERVERS = ['alpha', 'beta', 'gamma'];
const TOOLS = ['read_file', 'read_dir', 'write_file', 'delete_file', 'search', 'admin_reset'];
const ROLES = ['r1', 'r2', 'r3'];
const GROUPS = ['g1', 'g2'];
const ANNOTATIONS = [{ readOnlyHint: true }, { readOnlyHint: false, destructiveHint: true }, { destructiveHint: false }, undefined];
const CONDITIONS = [
  { when: "principal.tenant == 'acme'", readsArgs: false },
  { when: 'has(args.n) && args.n < 5', readsArgs: true },
  { when: "resource.name.startsWith('read')", readsArgs: false },
  { when: 'context.time.getHours() < 12', readsArgs: false },
  { when: "args.mode == 'a'", readsArgs: true },
  { when: "action == 'call'", readsArgs: false },
];
const ARGS = [{ path: { under: '/r1' } }, { path: { under: '/r2' } }, { id: { claim: 'cid' } }, { mode: { enum: ['a', 'b'] } }];

class Gen {
  constructor(readonly next: () => number) {}
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  some<T>(xs: readonly T[]): T[] {
    const out = xs.filter(() => this.chance(0.4));
    return out.length ? out : [this.pick(xs)];
  }
}

function randomRule(g: Gen, i: number): RuleSpec {
  const r = g.next();
  const effect = r < 0.55 ? 'allow' : r < 0.8 ? 'deny' : 'approval';
  const rule: RuleSpec = { id: `r${i}`, effect };
  if (g.chance(0.6)) {
    rule.principals = g.chance(0.5) ? { roles: g.some(ROLES) } : g.chance(0.7) ? { groups: [g.pick(GROUPS)] } : [{ roles: [g.pick(ROLES)] }, { groups: [g.pick(GROUPS)] }];
  }
  const t = g.next();
  if (t < 0.3) rule.servers = [g.chance(0.8) ? g.pick(SERVERS) : '*'];
  else if (t < 0.9) {
    const server = g.chance(0.75) ? g.pick(SERVERS) : '*';
    const name = g.chance(0.6) ? g.pick(TOOLS) : g.pick(['read_*', '*_file', '*']);
    rule.tools = [`${server}/${name}`];
  }
  if (effect !== 'deny' && g.chance(0.15)) rule.readOnly = true;
  else if (g.chance(0.1)) rule.destructive = true;
  if (g.chance(0.3)) rule.args = Object.assign({}, ...g.some(ARGS).slice(0, 2));
  if (g.chance(0.25)) rule.when = g.pick(CONDITIONS).when;
  if (g.chance(0.1)) rule.time = { hours: '08:00-12:00' };
  return rule;
}

function randomPrincipal(g: Gen, i: number): PolicyPrincipal {
  const attributes: Record<string, unknown> = {};
  if (g.chance(0.6)) attributes.cid = g.pick(['c1', 'c2']);
  return {
    subject: `u${i}`,
    roles: ROLES.filter(() => g.chance(0.35)),
    groups: GROUPS.filter(() => g.chance(0.3)),
    scopes: [],
    tenant: g.chance(0.5) ? 'acme' : undefined,
    attributes,
    method: 'bearer',
  };
}

/** Arguments that satisfy any combination of the generated constraints (extra arguments are never refused). */
function witnesses(p: PolicyPrincipal): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [{}];
  for (const path of ['/r1/x', '/r2/x']) for (const mode of ['a', 'b']) for (const n of [1, 10]) out.push({ path, mode, n, id: p.attributes.cid ?? 'c1' });
  return out;
}

const readsArgs = (r: RuleSpec) => r.args !== undefined || (r.when !== undefined && CONDITIONS.some((c) => c.when === r.when && c.readsArgs));

describe('lists and calls agree (property)', () => {
  it('on 400 random policies', () => {
    const seed = Number(process.env.POLICY_SEED ?? 20250303);
    const g = new Gen(rng(seed));
    const stats = { decisions: 0, visible: 0, hidden: 0, callable: 0, overApproximated: 0 };
    for (let round = 0; round < 400; round++) {
      const specs = Array.from({ length: 1 + Math.floor(g.next() * 12) }, (_, i) => randomRule(g, i));
      const policy = compilePolicy({ rules: specs });
      const tools: PolicyResource[] = SERVERS.flatMap((server) => TOOLS.map((name) => ({ kind: 'tool' as const, server, name, annotations: g.pick(ANNOTATIONS) })));
      const servers: PolicyResource[] = SERVERS.map((server) => ({ kind: 'server', server }));
      for (let u = 0; u < 4; u++) {
        const principal = randomPrincipal(g, u);
        const context: PolicyContext = { time: new Date(g.pick(['2025-03-03T10:00:00Z', '2025-03-03T15:00:00Z'])), era: 'modern', endpoint: 'default' };
        const where = () => `seed ${seed} round ${round}\npolicy ${JSON.stringify(specs)}\nprincipal ${JSON.stringify(principal)}`;
        const items = [...tools, ...servers];
        const shown = new Set(policy.filter(principal, items, context));
        for (const item of items) assert.equal(shown.has(item), policy.decide(principal, 'list', item, context).outcome !== 'deny', where());
        for (const t of tools) {
          const calls = witnesses(principal).map((args) => policy.decide(principal, 'call', t, { ...context, args }));
          stats.decisions += calls.length;
          const callable = calls.some((d) => d.outcome !== 'deny');
          const detail = () => `${where()}\ntool ${JSON.stringify(t)}\ncalls ${JSON.stringify(calls.map((d) => d.reason))}`;
          if (callable) {
            stats.callable++;
            assert.ok(shown.has(t), `callable but not listed\n${detail()}`);
            assert.ok(shown.has(servers[SERVERS.indexOf(t.server)] as PolicyResource), `tool listed but not its server\n${detail()}`);
          }
          if (shown.has(t)) {
            stats.visible++;
            if (!callable) {
              // Only deny rules that read the arguments may stand between a listed tool and every call.
              const withoutArgDenies = compilePolicy({ rules: specs.filter((r) => r.effect !== 'deny' || !readsArgs(r)) });
              const ok = witnesses(principal).some((args) => withoutArgDenies.decide(principal, 'call', t, { ...context, args }).outcome !== 'deny');
              assert.ok(ok, `listed but never callable, and not because of a deny rule on arguments\n${detail()}`);
              stats.overApproximated++;
            }
          } else stats.hidden++;
        }
      }
    }
    // The run is not vacuous: plenty of tools on each side, and the exception is the exception.
    assert.ok(stats.visible > 1000 && stats.hidden > 1000 && stats.callable > 1000, JSON.stringify(stats));
    assert.ok(stats.overApproximated < stats.visible / 10, JSON.stringify(stats));
    console.log(`property stats: ${JSON.stringify(stats)}`);
  });
});
