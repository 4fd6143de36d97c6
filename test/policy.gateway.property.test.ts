/**
 * Property test through the whole pipeline: for random policies and random principals, in both eras, on a
 * virtual server and on single-server endpoints, lists and uses never disagree:
 *
 *   - every tool, prompt, resource and template a list shows can be used (for some arguments), and
 *   - every use that goes ahead (or waits for approval) is of an item the list shows;
 *   - an item the list hides gets exactly the error of an item that does not exist,
 *   - and a refused use never reaches the upstream.
 *
 * Policies are swapped in with the gateway's hot reload, so every case also exercises a reload.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../src/config/load.js';
import type { JsonObject } from '../src/core/jsonrpc.js';
import type { Principal } from '../src/pipeline/context.js';
import type { RuleSpec } from '../src/policy/index.js';
import { startTestGateway } from './support/gateway.js';
import { memoryServer, memoryWires } from './support/memoryUpstream.js';
import { listAll, principal, runAs, type Outcome } from './support/pipeline.js';
import type { RunningGateway } from '../src/gateway.js';
import { rng } from './support/random.js';

const rand = rng(Number(process.env.PROPERTY_SEED ?? 20260728));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
const chance = (p: number) => rand() < p;

const schema = { type: 'object', properties: { path: { type: 'string' } } };
const hint = (): JsonObject => {
  const a: JsonObject = {};
  if (chance(0.6)) a.readOnlyHint = chance(0.5);
  if (chance(0.4)) a.destructiveHint = chance(0.5);
  return a;
};
const VERBS = ['read', 'write', 'delete', 'list'];
const toolsA = Array.from({ length: 12 }, (_, i) => ({ name: `${VERBS[i % 4]}_x${i}`, inputSchema: schema, annotations: hint() }));
const toolsB = Array.from({ length: 6 }, (_, i) => ({ name: `${VERBS[i % 4]}_y${i}`, inputSchema: schema, annotations: hint() }));
const prompts = Array.from({ length: 4 }, (_, i) => ({ name: `p${i}`, arguments: [{ name: 'topic' }] }));
const resources = Array.from({ length: 5 }, (_, i) => ({ uri: `mem://b/doc${i}`, name: `doc${i}` }));
const templates = [{ uriTemplate: 'mem://b/item/{id}', name: 'item' }];

const servers = {
  a: memoryServer({ tools: toolsA, pageSize: 5 }),
  b: memoryServer({ tools: toolsB, prompts, resources, resourceTemplates: templates, pageSize: 3 }),
};

// The policy's decisions are what is tested: an approval outcome is refused at once instead of waiting.
const BASE = `approvals: { enabled: false }
upstreams:
  a: { transport: stdio, command: unused, tags: [alpha], tools: { write_x1: { tags: [sensitive] }, read_x4: { annotations: { readOnlyHint: false } } } }
  b: { transport: stdio, command: unused }
virtualServers:
  v: { upstreams: [a, b] }
`;

let gw: RunningGateway;
before(async () => {
  gw = await startTestGateway(`${BASE}policy: { rules: [] }\n`, {}, { createWire: memoryWires(servers) });
});
after(async () => { await gw?.close(); });

const ROLES = ['r0', 'r1', 'r2'];
const GROUPS = ['g0', 'g1'];

function randomRule(): RuleSpec {
  const effect = chance(0.6) ? 'allow' : chance(0.6) ? 'deny' : 'approval';
  const rule: RuleSpec = { effect };
  if (chance(0.7)) rule.principals = chance(0.7) ? { roles: [pick(ROLES)] } : { groups: [pick(GROUPS)] };
  const target = Math.floor(rand() * 7);
  let toolsOnly = false;
  if (target === 0) rule.servers = [pick(['a', 'b', '*'])];
  else if (target === 1) { rule.tools = [pick(['a/*', 'a/read_*', 'b/*', '*/write_*', 'a/read_x4', '*/list_*'])]; toolsOnly = true; }
  else if (target === 2) rule.prompts = [pick(['b/*', 'b/p1', 'b/p*'])];
  else if (target === 3) rule.resources = [pick(['b/mem://b/**', 'b/mem://b/doc1', 'b/mem://b/item/*'])];
  else if (target === 4) { rule.tools = ['*/*']; toolsOnly = true; }
  // else: everything
  if (effect === 'allow' && chance(0.3)) rule.readOnly = true;
  if (effect !== 'allow' && toolsOnly && chance(0.3)) rule.destructive = true;
  if (chance(0.15)) rule.tags = [pick(['alpha', 'sensitive'])];
  if (effect === 'allow' && toolsOnly && chance(0.4)) rule.args = { path: { under: '/srv/ok' } };
  if (chance(0.1)) rule.actions = toolsOnly ? ['call'] : [pick(['read', 'get', 'subscribe'] as const)];
  if (rule.actions && rule.servers === undefined && rule.tools === undefined && rule.prompts === undefined && rule.resources === undefined) delete rule.actions;
  return rule;
}

function randomPrincipal(i: number): Principal {
  return principal({ subject: `user${i}`, roles: ROLES.filter(() => chance(0.4)), groups: GROUPS.filter(() => chance(0.4)) });
}

/** Loads a random policy into the running gateway (a hot reload); undefined when the random rules do not compile. */
function loadPolicy(rules: RuleSpec[]): boolean {
  let config;
  try {
    config = parseConfig(`server: { port: 0 }\nauth: { mode: none }\n${BASE}policy: ${JSON.stringify({ rules })}\n`, { source: 'property' });
  } catch {
    return false;
  }
  gw.gateway.reload(config);
  return true;
}

type Kind = 'ok' | 'approval' | 'denied' | 'unknown';
function kindOf(o: Outcome, what: string): Kind {
  if (o.result) return 'ok';
  const code = o.error!.code;
  if (code === 'PC_APPROVAL_REQUIRED') return 'approval';
  if (code === 'PC_POLICY_DENIED') return 'denied';
  if (code === 'PC_UNKNOWN_TOOL' || code === 'PC_UNKNOWN_PROMPT' || code === 'PC_UNKNOWN_RESOURCE') return 'unknown';
  assert.fail(`${what}: unexpected error ${JSON.stringify(o.error)}`);
}

const ARGS = [{ path: '/srv/ok/f.txt' }, { path: '/etc/passwd' }, {}];

test('lists and uses agree for random policies and principals, in both eras', async () => {
  let cases = 0;
  let usesAllowed = 0;
  for (let n = 0; n < 100; n++) {
    const rules = Array.from({ length: 1 + Math.floor(rand() * 6) }, randomRule);
    if (!loadPolicy(rules)) { n--; continue; }
    for (let i = 0; i < 4; i++) {
      const who = randomPrincipal(i);
      const era = chance(0.5) ? 'modern' : 'legacy';
      const where = `policy ${JSON.stringify(rules)} principal ${JSON.stringify({ roles: who.roles, groups: who.groups })} (${era})`;
      const before = servers.a.uses().length + servers.b.uses().length;
      let ok = 0;

      const listed = new Set((await listAll(gw.gateway, 'virtual:v', who, 'tools/list', era)).map((t) => t.name as string));
      for (const [server, list] of [['a', toolsA], ['b', toolsB]] as const) {
        const single = new Set((await listAll(gw.gateway, `server:${server}`, who, 'tools/list', era)).map((t) => t.name as string));
        for (const t of list) {
          const shown = `${server}__${t.name}`;
          assert.equal(single.has(t.name), listed.has(shown), `${where}: ${shown} listed alike on the virtual and the single endpoint`);
          const kinds = await Promise.all(ARGS.map(async (args) => {
            const o = await runAs(gw.gateway, 'virtual:v', who, 'tools/call', { name: shown, arguments: args }, era);
            const k = kindOf(o, `${where} ${shown}`);
            if (k === 'unknown') assert.deepEqual(o.error, { code: 'PC_UNKNOWN_TOOL', rpc: -32602, message: `Unknown tool: ${shown}`, data: undefined }, `${where}: a hidden tool reads as nonexistent`);
            if (k === 'ok') ok++;
            return k;
          }));
          const usable = kinds.some((k) => k === 'ok' || k === 'approval');
          assert.equal(listed.has(shown), usable, `${where}: ${shown} listed=${listed.has(shown)} but calls gave ${kinds.join(',')}`);
          if (listed.has(shown)) assert.ok(!kinds.includes('unknown'), `${where}: a listed tool is never unknown`);
          else assert.ok(kinds.every((k) => k === 'unknown'), `${where}: an unlisted tool is unknown whatever the arguments`);
          cases++;
        }
      }

      // A prompt, resource or template is shown when some use of it may go ahead: get or complete; read or subscribe.
      const use = async (endpoint: string, method: string, params: JsonObject, what: string): Promise<boolean> => {
        const o = await runAs(gw.gateway, endpoint, who, method, params, era);
        // Past the policy, a subscription without a session stops at the upstream stage (and never reaches the upstream).
        if (method === 'resources/subscribe' && o.error?.code === 'PC_METHOD_NOT_FOUND') return true;
        const k = kindOf(o, `${where} ${what}`);
        if (k === 'ok') ok++;
        return k === 'ok' || k === 'approval';
      };
      const shownPrompts = new Set((await listAll(gw.gateway, 'virtual:v', who, 'prompts/list', era)).map((p) => p.name as string));
      for (const p of prompts) {
        const name = `b__${p.name}`;
        const get = await use('virtual:v', 'prompts/get', { name, arguments: { topic: 't' } }, `get ${name}`);
        const complete = await use('virtual:v', 'completion/complete', { ref: { type: 'ref/prompt', name }, argument: { name: 'topic', value: 'x' } }, `complete ${name}`);
        assert.equal(shownPrompts.has(name), get || complete, `${where}: prompt ${name} listed vs get=${get} complete=${complete}`);
        if (!get && !complete) assert.equal((await runAs(gw.gateway, 'virtual:v', who, 'prompts/get', { name }, era)).error?.message, `Unknown prompt: ${name}`);
        cases++;
      }

      const shownResources = new Set((await listAll(gw.gateway, 'server:b', who, 'resources/list', era)).map((r) => r.uri as string));
      for (const r of resources) {
        const read = await use('server:b', 'resources/read', { uri: r.uri }, `read ${r.uri}`);
        const subscribe = await use('server:b', 'resources/subscribe', { uri: r.uri }, `subscribe ${r.uri}`);
        assert.equal(shownResources.has(r.uri), read || subscribe, `${where}: resource ${r.uri} listed vs read=${read} subscribe=${subscribe}`);
        cases++;
      }
      const shownTemplates = await listAll(gw.gateway, 'server:b', who, 'resources/templates/list', era);
      const instance = 'mem://b/item/7';
      const tRead = await use('server:b', 'resources/read', { uri: instance }, 'read an instance');
      const tSubscribe = await use('server:b', 'resources/subscribe', { uri: instance }, 'subscribe to an instance');
      const tComplete = await use('server:b', 'completion/complete', { ref: { type: 'ref/resource', uri: 'mem://b/item/{id}' }, argument: { name: 'id', value: '7' } }, 'complete the template');
      assert.equal(shownTemplates.length === 1, tRead || tSubscribe || tComplete, `${where}: template listed vs read=${tRead} subscribe=${tSubscribe} complete=${tComplete}`);

      const after = servers.a.uses().length + servers.b.uses().length;
      assert.equal(after - before, ok, `${where}: only the uses that went ahead reached an upstream`);
      usesAllowed += ok;
    }
  }
  assert.ok(cases > 8000, `${cases} cases`);
  assert.ok(usesAllowed > 100, `some uses were allowed (${usesAllowed})`);
});

test('a nonexistent tool, prompt or resource gets the same errors', async () => {
  loadPolicy([{ effect: 'allow' }]);
  const who = principal({ subject: 'x' });
  assert.deepEqual((await runAs(gw.gateway, 'virtual:v', who, 'tools/call', { name: 'a__nope', arguments: {} })).error, { code: 'PC_UNKNOWN_TOOL', rpc: -32602, message: 'Unknown tool: a__nope', data: undefined });
  assert.deepEqual((await runAs(gw.gateway, 'server:a', who, 'tools/call', { name: 'nope', arguments: {} })).error, { code: 'PC_UNKNOWN_TOOL', rpc: -32602, message: 'Unknown tool: nope', data: undefined });
  assert.equal((await runAs(gw.gateway, 'server:b', who, 'prompts/get', { name: 'nope' })).error?.message, 'Unknown prompt: nope');
  assert.deepEqual((await runAs(gw.gateway, 'server:b', who, 'resources/read', { uri: 'mem://b/nope' })).error, { code: 'PC_UNKNOWN_RESOURCE', rpc: -32602, message: 'Resource not found: mem://b/nope', data: { uri: 'mem://b/nope' } });
});
