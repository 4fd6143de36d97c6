/**
 * Policy engine micro-benchmark: one decision against 1,000 rules (budget: 50 µs p50) and filtering a list of
 * 500 tools (budget: 1 ms p50). In-process, no I/O; every sample is timed on its own (hrtime), after a warm-up.
 *
 *   npx tsx bench/policy.ts            prints the figures; exit code 1 when a budget is exceeded
 *
 * The 1,000-rule policy is shaped like a large deployment: 50 servers × 19 rules (role grants on tool globs,
 * argument constraints, CEL conditions, deny and approval rules), plus 50 rules on every server (`*` globs: global
 * denies, approval of destructive tools, CEL on the principal). A last row puts all 1,000 rules on every server,
 * the case the index cannot help with.
 */
import { compilePolicy, type CompiledPolicy, type PolicyContext, type PolicyPrincipal, type PolicyResource, type RuleSpec } from '../src/policy/index.js';
import { largePolicy, pick, ROLES, SERVERS, VERBS } from './policyRules.js';

const indexed = largePolicy();
const everywhere: RuleSpec[] = Array.from({ length: 1000 }, (_, i) => ({
  id: `w${i}`,
  effect: i % 10 === 0 ? 'deny' : 'allow',
  principals: { roles: [pick(ROLES)] },
  tools: [`*/${pick(VERBS)}_*`],
  ...(i % 4 === 0 ? { when: 'principal.attributes.level >= 2' } : {}),
}));

const principals: PolicyPrincipal[] = Array.from({ length: 16 }, (_, i) => ({
  subject: `user${i}`,
  roles: [pick(ROLES), pick(ROLES), pick(ROLES)],
  groups: ['staff'],
  scopes: [],
  tenant: 'acme',
  attributes: { level: 1 + (i % 3), customer_id: `c${i}` },
  method: 'bearer',
}));

function tool(server: string, name: string): PolicyResource {
  const readOnly = name.startsWith('read') || name.startsWith('list') || name.startsWith('get') || name.startsWith('search');
  return { kind: 'tool', server, name, annotations: { readOnlyHint: readOnly, destructiveHint: !readOnly } };
}

const time = new Date('2025-03-03T10:00:00Z');
const calls = Array.from({ length: 256 }, () => {
  const server = pick(SERVERS);
  const name = `${pick(VERBS)}_${pick(['item', 'file', 'customer', 'secret_key'])}`;
  const context: PolicyContext = { time, era: 'modern', endpoint: 'default', args: { path: `/srv/${server}/a/b.txt`, limit: 50, customer_id: 'c3' } };
  return { principal: pick(principals), resource: tool(server, name), context };
});
const list = SERVERS.slice(0, 25).flatMap((s) => Array.from({ length: 20 }, (_, i) => tool(s, `${VERBS[i % VERBS.length]}_${['item', 'file', 'customer'][i % 3]}_${i}`)));
const listContext: PolicyContext = { time, era: 'modern', endpoint: 'default' };

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

function measure(warmup: number, samples: number, op: (i: number) => unknown): { p50: number; p95: number; p99: number; mean: number } {
  for (let i = 0; i < warmup; i++) op(i);
  const out = new Float64Array(samples);
  let sink = 0;
  for (let i = 0; i < samples; i++) {
    const t0 = process.hrtime.bigint();
    const r = op(i);
    out[i] = Number(process.hrtime.bigint() - t0) / 1000;
    if (r) sink++;
  }
  if (sink < 0) console.log(sink);
  const mean = out.reduce((a, b) => a + b, 0) / samples;
  out.sort();
  return { p50: percentile(out, 50), p95: percentile(out, 95), p99: percentile(out, 99), mean };
}

function compileTimed(rules: RuleSpec[]): { policy: CompiledPolicy; ms: number } {
  const t0 = performance.now();
  const policy = compilePolicy({ rules }, { servers: SERVERS });
  return { policy, ms: performance.now() - t0 };
}

const fmt = (us: number): string => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`);

const a = compileTimed(indexed);
const b = compileTimed(everywhere);
const again = compileTimed(indexed);
const rows: { name: string; stats: ReturnType<typeof measure>; budget?: number }[] = [];

const decideOn = (policy: CompiledPolicy) => (i: number) => {
  const c = calls[i & 255] as (typeof calls)[number];
  return policy.decide(c.principal, 'call', c.resource, c.context);
};
const explainOn = (policy: CompiledPolicy) => (i: number) => {
  const c = calls[i & 255] as (typeof calls)[number];
  return policy.explain(c.principal, 'call', c.resource, c.context);
};
const filterOn = (policy: CompiledPolicy) => (i: number) => policy.filter(principals[i & 15] as PolicyPrincipal, list, listContext);

const n = a.policy.rules.length;
rows.push({ name: `decide (call), ${n} rules, indexed`, stats: measure(20000, 100000, decideOn(a.policy)), budget: 50 });
rows.push({ name: `explain (call), ${n} rules`, stats: measure(2000, 10000, explainOn(a.policy)) });
rows.push({ name: `filter ${list.length} tools, ${n} rules`, stats: measure(300, 3000, filterOn(a.policy)), budget: 1000 });
rows.push({ name: `decide (call), ${b.policy.rules.length} rules all on every server`, stats: measure(2000, 20000, decideOn(b.policy)) });
rows.push({ name: `filter ${list.length} tools, ${b.policy.rules.length} rules all on every server`, stats: measure(20, 200, filterOn(b.policy)) });

const outcomes = calls.map((c) => a.policy.decide(c.principal, 'call', c.resource, c.context).outcome);
const shown = principals.map((p) => a.policy.filter(p, list, listContext).length);

console.log(`node ${process.version}, ${process.platform}/${process.arch}`);
console.log(
  `compile, 1000 rules: ${a.ms.toFixed(1)} ms (first, cold), ${again.ms.toFixed(1)} ms (again: what a reload costs); all-on-every-server policy ${b.ms.toFixed(1)} ms`,
);
const counts = ['allow', 'approval', 'deny'].map((o) => `${o} ${outcomes.filter((x) => x === o).length}`).join(', ');
console.log(`sample outcomes: ${counts} of ${outcomes.length} calls; filter shows ${Math.min(...shown)}–${Math.max(...shown)} of ${list.length} tools`);
console.log('');
console.log('| measurement | p50 | p95 | p99 | mean | budget (p50) |');
console.log('| --- | ---: | ---: | ---: | ---: | --- |');
let over = false;
for (const r of rows) {
  const verdict = r.budget === undefined ? '' : r.stats.p50 <= r.budget ? `${fmt(r.budget)}: ok` : `${fmt(r.budget)}: OVER`;
  if (r.budget !== undefined && r.stats.p50 > r.budget) over = true;
  console.log(`| ${r.name} | ${fmt(r.stats.p50)} | ${fmt(r.stats.p95)} | ${fmt(r.stats.p99)} | ${fmt(r.stats.mean)} | ${verdict} |`);
}
if (over) process.exitCode = 1;
