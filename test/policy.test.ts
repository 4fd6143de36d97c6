/** The policy language: every construct, precedence and default deny, load errors that name the rule, lists. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import {
  compilePolicy,
  isPolicyError,
  POLICY_SCHEMA,
  POLICY_SCHEMA_DOCUMENT,
  type Action,
  type CompileOptions,
  type CompiledPolicy,
  type PolicyContext,
  type PolicyIssue,
  type PolicyPrincipal,
  type PolicyResource,
  type ToolAnnotations,
} from '../src/policy/index.js';
import { LOCAL_PRINCIPAL } from '../src/pipeline/stages/authenticate.js';

const MONDAY_10_UTC = new Date('2025-03-03T10:00:00Z');

function who(p: Partial<PolicyPrincipal> = {}): PolicyPrincipal {
  return { subject: 'alice', scopes: [], roles: [], groups: [], attributes: {}, method: 'bearer', ...p };
}
function ctx(args?: Record<string, unknown>, time = MONDAY_10_UTC): PolicyContext {
  return { args, time, era: 'modern', endpoint: 'default' };
}
function tool(server: string, name: string, annotations?: ToolAnnotations, tags?: string[]): PolicyResource {
  return { kind: 'tool', server, name, annotations, tags };
}
const RO = { readOnlyHint: true };
const RW = { readOnlyHint: false, destructiveHint: true };

/** The issues of a policy that must be rejected. */
function issues(doc: unknown, opts: CompileOptions = {}): PolicyIssue[] {
  try {
    compilePolicy(doc, opts);
  } catch (e) {
    assert.ok(isPolicyError(e), `expected a PolicyError, got ${String(e)}`);
    return [...e.issues];
  }
  assert.fail('expected the policy to be rejected');
}

const outcome = (p: CompiledPolicy, principal: PolicyPrincipal, r: PolicyResource, args?: Record<string, unknown>, action: Action = 'call') =>
  p.decide(principal, action, r, ctx(args)).outcome;

describe('default deny and precedence', () => {
  it('an empty policy denies everything with "no rule allows"', () => {
    const p = compilePolicy(undefined);
    const d = p.decide(who(), 'call', tool('fs', 'read'), ctx());
    assert.deepEqual(d, { outcome: 'deny', rules: [], reason: 'no rule allows' });
    assert.deepEqual(p.filter(who(), [tool('fs', 'read'), { kind: 'server', server: 'fs' }], ctx()), []);
  });

  it('deny wins over approval, approval over allow; approval alone grants nothing', () => {
    const p = compilePolicy({
      rules: [
        { id: 'allow-all', effect: 'allow', tools: ['fs/*'] },
        { id: 'approve-writes', effect: 'approval', tools: ['fs/write_*', 'other/*'] },
        { id: 'deny-secret', effect: 'deny', tools: ['fs/write_secret'] },
      ],
    });
    const read = p.decide(who(), 'call', tool('fs', 'read_file'), ctx());
    assert.equal(read.outcome, 'allow');
    assert.deepEqual(read.rules.map((r) => r.id), ['allow-all']);
    const write = p.decide(who(), 'call', tool('fs', 'write_file'), ctx());
    assert.equal(write.outcome, 'approval');
    assert.deepEqual(write.rules.map((r) => [r.id, r.effect]), [['approve-writes', 'approval'], ['allow-all', 'allow']]);
    assert.match(write.reason, /approval required by "approve-writes" \(allowed by "allow-all"\)/);
    const secret = p.decide(who(), 'call', tool('fs', 'write_secret'), ctx());
    assert.equal(secret.outcome, 'deny');
    assert.deepEqual(secret.rules, [{ id: 'deny-secret', effect: 'deny', reason: 'deny rule matched' }]);
    const other = p.decide(who(), 'call', tool('other', 'x'), ctx());
    assert.equal(other.outcome, 'deny');
    assert.match(other.reason, /^no rule allows \("approve-writes" require approval/);
  });

  it('every matching deny rule is reported, in policy order, with its description', () => {
    const p = compilePolicy({
      rules: [
        { id: 'a', effect: 'allow' },
        { id: 'd2', effect: 'deny', tools: ['*/drop_*'], description: 'nobody drops tables' },
        { id: 'd1', effect: 'deny', servers: ['db'] },
      ],
    });
    const d = p.decide(who(), 'call', tool('db', 'drop_table'), ctx());
    assert.deepEqual(d.rules, [
      { id: 'd2', effect: 'deny', reason: 'nobody drops tables' },
      { id: 'd1', effect: 'deny', reason: 'deny rule matched' },
    ]);
    assert.equal(d.reason, 'denied by "d2", "d1"');
  });
});

describe('targets', () => {
  const p = compilePolicy({
    rules: [
      { id: 'fs-all', effect: 'allow', principals: { roles: ['fs'] }, tools: ['filesystem/*'] },
      { id: 'any-read', effect: 'allow', principals: { roles: ['reader'] }, tools: ['*/read_*'] },
      { id: 'exact', effect: 'allow', principals: { roles: ['exact'] }, tools: ['memory/create_entities'] },
      { id: 'server', effect: 'allow', principals: { roles: ['srv'] }, servers: ['mem*'] },
      { id: 'res', effect: 'allow', principals: { roles: ['res'] }, resources: ['docs/file:///srv/*.md', 'docs/file:///pub/**'] },
      { id: 'prompt', effect: 'allow', principals: { roles: ['pr'] }, prompts: ['*/summarise'] },
    ],
  });

  it('tool globs: server/*, */prefix_*, exact names', () => {
    assert.equal(outcome(p, who({ roles: ['fs'] }), tool('filesystem', 'write_file')), 'allow');
    assert.equal(outcome(p, who({ roles: ['fs'] }), tool('filesystem2', 'write_file')), 'deny');
    assert.equal(outcome(p, who({ roles: ['reader'] }), tool('anything', 'read_text_file')), 'allow');
    assert.equal(outcome(p, who({ roles: ['reader'] }), tool('anything', 'write_file')), 'deny');
    assert.equal(outcome(p, who({ roles: ['exact'] }), tool('memory', 'create_entities')), 'allow');
    assert.equal(outcome(p, who({ roles: ['exact'] }), tool('memory', 'create_entities2')), 'deny');
  });

  it('servers: covers every kind and action on matching servers', () => {
    const s = who({ roles: ['srv'] });
    assert.equal(outcome(p, s, tool('memory', 'anything')), 'allow');
    assert.equal(outcome(p, s, { kind: 'resource', server: 'memory', uri: 'mem://x' }, undefined, 'read'), 'allow');
    assert.equal(outcome(p, s, { kind: 'resource', server: 'memory', uri: 'mem://x' }, undefined, 'subscribe'), 'allow');
    assert.equal(outcome(p, s, { kind: 'prompt', server: 'memory', name: 'p' }, undefined, 'get'), 'allow');
    assert.equal(outcome(p, s, tool('fs', 'x')), 'deny');
  });

  it('resource URI globs: * stays in a segment, ** crosses segments', () => {
    const r = who({ roles: ['res'] });
    const res = (uri: string) => outcome(p, r, { kind: 'resource', server: 'docs', uri }, undefined, 'read');
    assert.equal(res('file:///srv/a.md'), 'allow');
    assert.equal(res('file:///srv/sub/a.md'), 'deny');
    assert.equal(res('file:///pub/a/b/c.txt'), 'allow');
    assert.equal(res('file:///etc/passwd'), 'deny');
  });

  it('resource URIs with dot segments or encoded separators are refused before any rule', () => {
    const r = who({ roles: ['res'] });
    for (const uri of ['file:///pub/../etc/passwd', 'file:///pub/%2e%2e/etc/passwd', 'file:///pub/a%2fb', 'file:///pub/./a', 'file:///pub/a\u0000b']) {
      const d = p.decide(r, 'read', { kind: 'resource', server: 'docs', uri }, ctx());
      assert.equal(d.outcome, 'deny', uri);
      assert.equal(d.rules[0]?.id, 'builtin:unsafe-uri', uri);
    }
  });

  it('prompts and the actions of each kind', () => {
    const r = who({ roles: ['pr'] });
    const prompt: PolicyResource = { kind: 'prompt', server: 'x', name: 'summarise' };
    assert.equal(outcome(p, r, prompt, undefined, 'get'), 'allow');
    assert.equal(outcome(p, r, prompt, undefined, 'complete'), 'allow');
    assert.equal(outcome(p, r, prompt, undefined, 'call'), 'deny');
  });

  it('actions: limits the rule; an action that fits no targeted kind is a load error', () => {
    const q = compilePolicy({ rules: [{ id: 'sub', effect: 'allow', resources: ['s/*'], actions: ['read'] }] });
    const res: PolicyResource = { kind: 'resource', server: 's', uri: 'x://y' };
    assert.equal(outcome(q, who(), res, undefined, 'read'), 'allow');
    assert.equal(outcome(q, who(), res, undefined, 'subscribe'), 'deny');
    const [i] = issues({ rules: [{ id: 'bad', effect: 'allow', tools: ['s/*'], actions: ['read'] }] });
    assert.equal(i?.path, 'policy.rules[0].actions');
    assert.match(i?.message ?? '', /action read does not apply to tools/);
  });

  it('tags: any of the configured tags', () => {
    const q = compilePolicy({ rules: [{ id: 'pii', effect: 'deny', tags: ['pii'] }, { id: 'all', effect: 'allow' }] }, { tags: ['pii', 'public'] });
    assert.equal(outcome(q, who(), tool('crm', 'get', undefined, ['pii'])), 'deny');
    assert.equal(outcome(q, who(), tool('crm', 'get', undefined, ['public'])), 'allow');
    assert.equal(outcome(q, who(), tool('crm', 'get')), 'allow');
    const [i] = issues({ rules: [{ effect: 'deny', tags: ['pi'] }] }, { tags: ['pii'] });
    assert.equal(i?.message, 'unknown tag "pi" (did you mean "pii"?)');
  });
});

describe('principals', () => {
  const p = compilePolicy({
    rules: [
      { id: 'and', effect: 'allow', principals: { roles: ['dev', 'ops'], groups: ['eu'] }, tools: ['a/*'] },
      { id: 'or', effect: 'allow', principals: [{ subjects: ['bob'] }, { clients: ['ci'] }], tools: ['b/*'] },
      { id: 'scope', effect: 'allow', principals: { scopes: ['tools:c'], methods: ['bearer'] }, tools: ['c/*'] },
      { id: 'tenant', effect: 'allow', principals: { tenants: ['acme'], issuers: ['https://idp'] }, tools: ['d/*'] },
      { id: 'anyone', effect: 'allow', tools: ['e/*'] },
    ],
  });

  it('every field given must match, any value within a field', () => {
    assert.equal(outcome(p, who({ roles: ['ops'], groups: ['eu'] }), tool('a', 'x')), 'allow');
    assert.equal(outcome(p, who({ roles: ['ops'], groups: ['us'] }), tool('a', 'x')), 'deny');
    assert.equal(outcome(p, who({ roles: ['qa'], groups: ['eu'] }), tool('a', 'x')), 'deny');
  });

  it('a list of matchers: any of them', () => {
    assert.equal(outcome(p, who({ subject: 'bob' }), tool('b', 'x')), 'allow');
    assert.equal(outcome(p, who({ clientId: 'ci' }), tool('b', 'x')), 'allow');
    assert.equal(outcome(p, who({ clientId: 'cd' }), tool('b', 'x')), 'deny');
  });

  it('scopes, methods, tenants, issuers', () => {
    assert.equal(outcome(p, who({ scopes: ['tools:c'] }), tool('c', 'x')), 'allow');
    assert.equal(outcome(p, who({ scopes: ['tools:c'], method: 'mtls' }), tool('c', 'x')), 'deny');
    assert.equal(outcome(p, who({ tenant: 'acme', issuer: 'https://idp' }), tool('d', 'x')), 'allow');
    assert.equal(outcome(p, who({ tenant: 'acme' }), tool('d', 'x')), 'deny');
  });

  it('no principals: everyone', () => {
    assert.equal(outcome(p, who({ method: 'local', subject: 'local' }), tool('e', 'x')), 'allow');
  });
});

describe('friendly layer: roles', () => {
  const p = compilePolicy({
    roles: {
      analyst: {
        readOnly: true,
        allow: [{ servers: ['filesystem'] }],
      },
      ops: {
        allow: [{ servers: ['filesystem'] }],
        approval: [{ destructive: true, tools: ['*/*'] }],
        deny: [{ tools: ['filesystem/move_file'] }],
      },
    },
  });

  it('a readOnly role calls only tools annotated readOnlyHint: true, and still reads resources', () => {
    const a = who({ roles: ['analyst'] });
    assert.equal(outcome(p, a, tool('filesystem', 'read_text_file', RO)), 'allow');
    assert.equal(outcome(p, a, tool('filesystem', 'write_file', RW)), 'deny');
    assert.equal(outcome(p, a, tool('filesystem', 'unannotated')), 'deny');
    assert.equal(outcome(p, a, { kind: 'resource', server: 'filesystem', uri: 'file:///a' }, undefined, 'read'), 'allow');
    assert.deepEqual(
      p.filter(a, [tool('filesystem', 'read_text_file', RO), tool('filesystem', 'write_file', RW)], ctx()).map((t) => t.name),
      ['read_text_file'],
    );
  });

  it('approval for destructive tools: hints missing count as destructive (MCP defaults)', () => {
    const o = who({ roles: ['ops'] });
    assert.equal(outcome(p, o, tool('filesystem', 'write_file', RW)), 'approval');
    assert.equal(outcome(p, o, tool('filesystem', 'unannotated')), 'approval');
    assert.equal(outcome(p, o, tool('filesystem', 'read_text_file', RO)), 'allow');
    assert.equal(outcome(p, o, tool('filesystem', 'edit', { destructiveHint: false })), 'allow');
    assert.equal(outcome(p, o, tool('filesystem', 'move_file', RW)), 'deny');
  });

  it('role rules get ids from their place', () => {
    assert.deepEqual(
      p.rules.map((r) => [r.id, r.effect]),
      [
        ['roles.analyst.allow[0]', 'allow'],
        ['roles.ops.allow[0]', 'allow'],
        ['roles.ops.deny[0]', 'deny'],
        ['roles.ops.approval[0]', 'approval'],
      ],
    );
  });

  it('a grant cannot widen a readOnly role', () => {
    const [i] = issues({ roles: { a: { readOnly: true, allow: [{ servers: ['x'], readOnly: false }] } } });
    assert.equal(i?.path, 'policy.roles.a.allow[0].readOnly');
  });
});

describe('time windows', () => {
  const p = compilePolicy({
    rules: [
      { id: 'office', effect: 'allow', tools: ['a/*'], time: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], hours: '08:00-18:00' } },
      { id: 'night', effect: 'allow', tools: ['b/*'], time: { hours: '22:00-06:00' } },
      { id: 'paris', effect: 'allow', tools: ['c/*'], time: { hours: '09:00-10:00', timezone: 'Europe/Paris' } },
    ],
  });
  const at = (server: string, iso: string) => p.decide(who(), 'call', tool(server, 'x'), ctx(undefined, new Date(iso))).outcome;

  it('days and hours (UTC by default); start inclusive, end exclusive', () => {
    assert.equal(at('a', '2025-03-03T08:00:00Z'), 'allow');
    assert.equal(at('a', '2025-03-03T17:59:00Z'), 'allow');
    assert.equal(at('a', '2025-03-03T18:00:00Z'), 'deny');
    assert.equal(at('a', '2025-03-02T10:00:00Z'), 'deny'); // a Sunday
  });

  it('windows that wrap midnight', () => {
    assert.equal(at('b', '2025-03-03T23:30:00Z'), 'allow');
    assert.equal(at('b', '2025-03-03T05:59:00Z'), 'allow');
    assert.equal(at('b', '2025-03-03T12:00:00Z'), 'deny');
  });

  it('time zones', () => {
    assert.equal(at('c', '2025-03-03T08:30:00Z'), 'allow'); // 09:30 in Paris (UTC+1)
    assert.equal(at('c', '2025-03-03T09:30:00Z'), 'deny');
    const [i] = issues({ rules: [{ id: 't', effect: 'allow', time: { timezone: 'Europe/Pariss' } }] });
    assert.equal(i?.path, 'policy.rules[0].time.timezone');
    assert.equal(issues({ rules: [{ effect: 'allow', time: { hours: '8-18' } }] })[0]?.message, 'must be "HH:MM-HH:MM" (got "8-18")');
  });
});

describe('CEL conditions', () => {
  it('sees principal, action, resource, args and context', () => {
    const p = compilePolicy({
      rules: [
        { id: 'claims', effect: 'allow', tools: ['crm/*'], when: "principal.attributes.level >= 3 && 'sales' in principal.groups" },
        { id: 'res', effect: 'allow', tools: ['s/*'], when: "resource.annotations.readOnlyHint && resource.name.startsWith('get_') && action == 'call'" },
        { id: 'args', effect: 'allow', tools: ['t/*'], when: "has(args.limit) && args.limit <= 100 && args.mode in ['fast', 'slow']" },
        { id: 'ctx', effect: 'allow', tools: ['u/*'], when: "context.time.getHours() < 12 && context.era == 'modern' && context.endpoint == 'default'" },
        { id: 'tenant', effect: 'allow', tools: ['v/*'], when: 'args.tenant == principal.tenant' },
      ],
    });
    assert.equal(outcome(p, who({ attributes: { level: 3 }, groups: ['sales'] }), tool('crm', 'x')), 'allow');
    assert.equal(outcome(p, who({ attributes: { level: 2 }, groups: ['sales'] }), tool('crm', 'x')), 'deny');
    assert.equal(outcome(p, who(), tool('s', 'get_x', RO)), 'allow');
    assert.equal(outcome(p, who(), tool('s', 'get_x')), 'deny');
    assert.equal(outcome(p, who(), tool('t', 'x'), { limit: 100, mode: 'fast' }), 'allow');
    assert.equal(outcome(p, who(), tool('t', 'x'), { limit: 101, mode: 'fast' }), 'deny');
    assert.equal(outcome(p, who(), tool('t', 'x'), {}), 'deny');
    assert.equal(outcome(p, who(), tool('u', 'x')), 'allow');
    assert.equal(p.decide(who(), 'call', tool('u', 'x'), ctx(undefined, new Date('2025-03-03T13:00:00Z'))).outcome, 'deny');
    assert.equal(outcome(p, who({ tenant: 'acme' }), tool('v', 'x'), { tenant: 'acme' }), 'allow');
    assert.equal(outcome(p, who({ tenant: 'acme' }), tool('v', 'x'), { tenant: 'evil' }), 'deny');
  });

  it('an evaluation error: an allow rule does not match, a deny or approval rule does (fail closed)', () => {
    const p = compilePolicy({
      rules: [
        { id: 'allow', effect: 'allow', tools: ['a/*'] },
        { id: 'allow-b', effect: 'allow', tools: ['b/*'], when: 'args.n > 1' },
        { id: 'deny-big', effect: 'deny', tools: ['a/*'], when: 'args.size > 10' },
        { id: 'approve', effect: 'approval', tools: ['a/*'], when: 'args.flag' },
      ],
    });
    const missing = p.decide(who(), 'call', tool('a', 'x'), ctx({ flag: false }));
    assert.equal(missing.outcome, 'deny');
    assert.equal(missing.rules[0]?.id, 'deny-big');
    assert.match(missing.rules[0]?.reason ?? '', /could not be evaluated.*fails closed/);
    assert.equal(outcome(p, who(), tool('a', 'x'), { size: 1 }), 'approval');
    assert.equal(outcome(p, who(), tool('a', 'x'), { size: 1, flag: false }), 'allow');
    assert.equal(outcome(p, who(), tool('b', 'x'), {}), 'deny');
  });

  it('arguments reach CEL as data: a "__proto__" key is a key, not a prototype', () => {
    const p = compilePolicy({ rules: [{ id: 'r', effect: 'allow', when: 'size(args) == 2 && has(args.__proto__) && !has(args.polluted)' }] });
    assert.equal(outcome(p, who(), tool('fs', 'x'), JSON.parse('{"__proto__": {"polluted": 1}, "a": 1}') as Record<string, unknown>), 'allow');
  });

  it('pathUnder() applies the same path rules as the under constraint', () => {
    const p = compilePolicy({ rules: [{ id: 'r', effect: 'allow', tools: ['fs/*'], when: "pathUnder(args.path, '/srv/reports')" }] });
    assert.equal(outcome(p, who(), tool('fs', 'x'), { path: '/srv/reports/a' }), 'allow');
    assert.equal(outcome(p, who(), tool('fs', 'x'), { path: '/srv/reports/../etc/passwd' }), 'deny');
    assert.equal(outcome(p, who(), tool('fs', 'x'), { path: '/srv/reports-old/a' }), 'deny');
  });

  it('typos are load errors naming the rule, its path and the position', () => {
    const doc = {
      roles: { ops: { allow: [{ servers: ['fs'], when: 'principal.rols.exists(r, r == "x")' }] } },
      rules: [
        { id: 'var', effect: 'allow', when: "princpal.subject == 'alice'" },
        { id: 'fn', effect: 'deny', when: "principal.subject.startWith('a')" },
        { id: 'syntax', effect: 'allow', when: 'principal.subject ==' },
        { id: 'type', effect: 'allow', when: 'principal.subject == 5' },
        { id: 'result', effect: 'allow', when: 'size(principal.roles)' },
        { id: 'overload', effect: 'allow', when: "principal.roles + 'x' == []" },
        { effect: 'allow', when: 'context.tim > timestamp("2025-01-01T00:00:00Z")' },
      ],
    };
    const got = issues(doc).map((i) => `${i.path} | ${i.rule ?? '-'} | ${i.message}`);
    assert.deepEqual(got, [
      "policy.roles.ops.allow[0].when | - | principal has no field 'rols' (did you mean 'roles'?) (at 1:10)",
      "policy.rules[0].when | var | undeclared reference to 'princpal' (did you mean 'principal'?) (at 1:1)",
      "policy.rules[1].when | fn | undeclared function 'startWith' (did you mean 'startsWith'?) (at 1:18)",
      'policy.rules[2].when | syntax | syntax error: found = but expecting end of input (at 1:19)',
      'policy.rules[3].when | type | cannot compare string with int (== is always false) (at 1:19)',
      'policy.rules[4].when | result | the condition must be a bool, but it is int',
      got[6] as string,
      "policy.rules[6].when | - | context has no field 'tim' (did you mean 'time'?) (at 1:8)",
    ]);
    assert.match(got[6] ?? '', /^policy\.rules\[5\]\.when \| overload \| no matching overload for \+\(list\(string\), string\)/);
    // The formatted message names the rule by id when it has one.
    assert.throws(() => compilePolicy({ rules: [{ id: 'var', effect: 'allow', when: 'x' }] }), {
      name: 'PolicyError',
      code: 'PC_POLICY_INVALID',
      message: `policy.rules[0].when: rule "var": undeclared reference to 'x' (declared: principal, action, resource, args, context) (at 1:1)`,
    });
  });
});

describe('load errors', () => {
  it('shape errors name the path and suggest the key; good rules are still checked', () => {
    const got = issues({
      rules: [
        { id: 'ok-but-typo', effect: 'allow', when: 'args.x +' },
        { effect: 'alow' },
        { effect: 'deny', tool: ['x/y'] },
        { tools: ['fs/x'] },
        { effect: 'allow', tools: ['no-slash'] },
      ],
    });
    assert.deepEqual(
      got.map((i) => `${i.path}: ${i.message}`),
      [
        'policy.rules[1].effect: must be one of allow, deny, approval (got "alow")',
        'policy.rules[2].tool: unknown key (did you mean "tools"?)',
        'policy.rules[3].effect: required key is missing',
        'policy.rules[4].tools[0]: must be "server/name" (got "no-slash")',
        'policy.rules[0].when: syntax error: found + but expecting end of input (at 1:8)',
      ],
    );
  });

  it('a value with two forms gets the errors of the form it took', () => {
    const got = issues({
      rules: [
        { effect: 'allow', principals: { rolez: ['a'] } },
        { effect: 'allow', principals: [{ roles: 'a' }] },
        { effect: 'allow', principals: 'x' },
        { effect: 'allow', args: { path: { under: 5 } } },
      ],
    });
    assert.deepEqual(
      got.map((i) => `${i.path}: ${i.message}`),
      [
        'policy.rules[0].principals.rolez: unknown key (did you mean "roles"?)',
        'policy.rules[1].principals[0].roles: must be a list (got "a")',
        'policy.rules[2].principals: must be a mapping (key: value) or a list (got "x")',
        'policy.rules[3].args.path.under: must be a string or a list (got 5)',
      ],
    );
  });

  it('a problem outside any rule stops at the shape', () => {
    assert.deepEqual(issues({ rule: [] }).map((i) => `${i.path}: ${i.message}`), ['policy.rule: unknown key (did you mean "rules"?)']);
    assert.deepEqual(issues({ roles: { a: { allows: [] } } }).map((i) => i.path), ['policy.roles.a.allows']);
  });

  it('unknown servers and patterns matching none, with suggestions', () => {
    const got = issues({ rules: [{ id: 'r', effect: 'allow', tools: ['filesytem/*', 'mem*/x'], servers: ['fs'] }] }, { servers: ['filesystem', 'memory'] });
    assert.deepEqual(
      got.map((i) => `${i.path}: ${i.message}`),
      [
        'policy.rules[0].servers[0]: unknown server "fs" (servers: filesystem, memory)',
        'policy.rules[0].tools[0]: unknown server "filesytem" (did you mean "filesystem"?)',
      ],
    );
    assert.match(issues({ rules: [{ effect: 'allow', tools: ['x*/y'] }] }, { servers: ['fs'] })[0]?.message ?? '', /pattern matches no server "x\*"/);
  });

  it('duplicate ids, contradictory flags, bad constraints', () => {
    const got = issues({
      rules: [
        { id: 'same', effect: 'allow' },
        { id: 'same', effect: 'deny' },
        { id: 'ro', effect: 'allow', readOnly: true, destructive: true, tools: ['a/b'] },
        { id: 'dp', effect: 'deny', destructive: true, prompts: ['a/b'] },
        { id: 'range', effect: 'allow', args: { n: { min: 5, max: 1 }, s: { minLength: 3, maxLength: 2 } } },
      ],
    });
    assert.deepEqual(
      got.map((i) => `${i.path}: ${i.message}`),
      [
        'policy.rules[1].id: duplicate rule id (first used at policy.rules[0])',
        'policy.rules[2].destructive: readOnly and destructive together never match',
        'policy.rules[3].destructive: destructive applies to tools, and the rule targets none',
        'policy.rules[4].args.n.min: min (5) is greater than max (1)',
        'policy.rules[4].args.s.minLength: minLength (3) is greater than maxLength (2)',
      ],
    );
  });
});

describe('lists use the call decision', () => {
  const p = compilePolicy({
    rules: [
      { id: 'fs', effect: 'allow', tools: ['fs/*'], args: { path: { under: '/srv' } } },
      { id: 'no-delete', effect: 'deny', tools: ['fs/delete_*'] },
      { id: 'no-big', effect: 'deny', tools: ['fs/*'], when: 'has(args.size) && args.size > 10' },
      { id: 'crm', effect: 'allow', tools: ['crm/*'], args: { customer_id: { claim: 'customer_id' } } },
      { id: 'res', effect: 'allow', resources: ['docs/file:///pub/**'] },
    ],
  });
  const items = [tool('fs', 'read_file'), tool('fs', 'delete_file'), tool('crm', 'get_customer'), tool('other', 'x')];

  it('a tool whose only allow has an argument condition is listed; one denied outright is hidden', () => {
    assert.deepEqual(p.filter(who(), items, ctx()).map((t) => t.name), ['read_file']);
    assert.equal(p.decide(who(), 'list', tool('fs', 'read_file'), ctx()).outcome, 'allow');
    const hidden = p.decide(who(), 'list', tool('fs', 'delete_file'), ctx());
    assert.deepEqual([hidden.outcome, hidden.rules[0]?.id], ['deny', 'no-delete']);
  });

  it('a claim constraint hides the tool from principals without the claim', () => {
    assert.deepEqual(p.filter(who({ attributes: { customer_id: 'c1' } }), items, ctx()).map((t) => t.name), ['read_file', 'get_customer']);
  });

  it('servers are shown when something on them may be used', () => {
    const servers: PolicyResource[] = ['fs', 'crm', 'docs', 'other'].map((server) => ({ kind: 'server', server }));
    assert.deepEqual(p.filter(who(), servers, ctx()).map((s) => s.server), ['fs', 'docs']);
    assert.deepEqual(p.filter(who({ attributes: { customer_id: 'c1' } }), servers, ctx()).map((s) => s.server), ['fs', 'crm', 'docs']);
    const q = compilePolicy({ rules: [{ id: 'a', effect: 'allow', servers: ['fs'] }, { id: 'd', effect: 'deny', servers: ['fs'] }] });
    assert.deepEqual(q.filter(who(), servers, ctx()), []);
  });

  it('completion follows the item: allowed when some arguments could be', () => {
    const q = compilePolicy({ rules: [{ id: 'p', effect: 'allow', prompts: ['crm/brief'], args: { customer_id: { claim: 'customer_id' } } }] });
    const prompt: PolicyResource = { kind: 'prompt', server: 'crm', name: 'brief' };
    const withClaim = who({ attributes: { customer_id: 'c1' } });
    assert.equal(q.decide(withClaim, 'complete', prompt, ctx({ customer_id: 'c' })).outcome, 'allow');
    assert.equal(q.decide(withClaim, 'get', prompt, ctx({ customer_id: 'c' })).outcome, 'deny');
    assert.equal(q.decide(who(), 'complete', prompt, ctx({ customer_id: 'c' })).outcome, 'deny');
  });

  it('templates are shown when a resource rule on their server may match', () => {
    const t: PolicyResource = { kind: 'template', server: 'docs', uri: 'file:///{path}' };
    assert.equal(p.filter(who(), [t, { ...t, server: 'fs' }], ctx()).length, 1);
  });
});

describe('explain', () => {
  it('traces every rule the index offered, with why', () => {
    const p = compilePolicy({
      rules: [
        { id: 'analysts', effect: 'allow', principals: { roles: ['analyst'] }, tools: ['fs/*'], args: { path: { under: '/srv/reports' } } },
        { id: 'ops', effect: 'allow', principals: { roles: ['ops'] }, tools: ['fs/*'] },
        { id: 'elsewhere', effect: 'allow', tools: ['crm/*'] },
      ],
    });
    const e = p.explain(who({ roles: ['analyst'] }), 'call', tool('fs', 'read_text_file'), ctx({ path: '/etc/passwd' }));
    assert.equal(e.decision.outcome, 'deny');
    assert.equal(e.skipped, 1);
    assert.deepEqual(
      e.considered.map((t) => [t.id, t.result, t.detail]),
      [
        ['analysts', 'no match', `argument 'path': path "/etc/passwd" is not under /srv/reports`],
        ['ops', 'no match', 'principal roles ["analyst"] not among ["ops"]'],
      ],
    );
    assert.match(e.text, /^decision: DENY \(no rule allows\)/);
    assert.match(e.text, /rules considered: 2 \(1 rule targets other servers or kinds\)/);
  });
});

describe('the pipeline principal', () => {
  it('is a policy principal as is', () => {
    const local: PolicyPrincipal = LOCAL_PRINCIPAL;
    const p = compilePolicy({ rules: [{ id: 'local', effect: 'allow', principals: { methods: ['local'], issuers: ['local'] } }] });
    assert.equal(p.decide(local, 'call', tool('fs', 'x'), ctx()).outcome, 'allow');
  });
});

describe('hot reload safety', () => {
  it('the compiled policy is frozen and compiling never touches its input', () => {
    const doc = { rules: [{ id: 'a', effect: 'allow', tools: ['fs/*'], args: { path: { under: '/srv' } }, when: 'true' }] };
    const before = structuredClone(doc);
    const deepFreeze = (o: unknown): void => {
      if (o && typeof o === 'object') {
        Object.freeze(o);
        for (const v of Object.values(o)) deepFreeze(v);
      }
    };
    deepFreeze(doc);
    const p = compilePolicy(doc);
    assert.deepEqual(doc, before);
    assert.ok(Object.isFrozen(p));
    assert.ok(Object.isFrozen(p.rules));
    const q = compilePolicy(doc);
    assert.notEqual(p, q);
    assert.deepEqual(p.rules, q.rules);
  });
});

describe('the schema fragment', () => {
  it('compiles under strict Ajv, alone and embedded in a config schema', () => {
    const ajv = new Ajv2020({ strict: true, allErrors: true, useDefaults: true, discriminator: true });
    assert.ok(ajv.compile(POLICY_SCHEMA_DOCUMENT));
    const config = { type: 'object', additionalProperties: false, properties: { server: { type: 'object' }, policy: POLICY_SCHEMA } };
    const validate = new Ajv2020({ strict: true, allErrors: true }).compile(config);
    assert.ok(validate({ policy: { roles: { a: { readOnly: true, allow: [{ tools: ['fs/*'] }] } }, rules: [{ effect: 'deny', tools: ['*/x'] }] } }));
    assert.ok(!validate({ policy: { rules: [{ effect: 'deny', toolz: [] }] } }));
  });
});
