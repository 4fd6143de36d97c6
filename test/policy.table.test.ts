/** Decision tables and the CLI-facing commands (pure functions: config and arguments in, text and exit code out). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainCommand, parsePrincipal, parseTable, TableError, testCommand, type PolicyCommandInput } from '../src/policy/index.js';

const INPUT: PolicyCommandInput = {
  servers: ['filesystem', 'crm'],
  policy: {
    roles: {
      analyst: {
        readOnly: true,
        allow: [{ tools: ['filesystem/*'], args: { path: { under: '/srv/reports' } } }],
      },
      support: {
        allow: [{ id: 'support-crm', tools: ['crm/*'], args: { customer_id: { claim: 'customer_id' } } }],
      },
    },
    rules: [{ id: 'approve-destructive', effect: 'approval', destructive: true, tools: ['*/*'] }],
  },
  resolve: (r) => (r.kind === 'tool' && r.name?.startsWith('read') ? { ...r, annotations: { readOnlyHint: true, ...r.annotations } } : r),
};

const TABLE = `
principals:
  alice: { subject: alice, roles: [analyst] }
  sam: { subject: sam, roles: [support], attributes: { customer_id: c-1 } }
cases:
  - name: analysts read reports
    principal: alice
    tool: filesystem/read_text_file
    args: { path: /srv/reports/q1.txt }
    expect: allow
    visible: true
    rules: ["roles.analyst.allow[0]"]
  - name: traversal is refused
    principal: alice
    tool: filesystem/read_text_file
    args: { path: /srv/reports/../../etc/passwd }
    expect: deny
  - name: analysts never write
    principal: alice
    tool: filesystem/write_file
    annotations: { readOnlyHint: false, destructiveHint: true }
    args: { path: /srv/reports/q1.txt }
    expect: deny
    visible: false
  - name: support reads its own customer
    principal: sam
    tool: crm/get_customer
    annotations: { readOnlyHint: true }
    args: { customer_id: c-1 }
    expect: allow
  - name: support deletes need approval
    principal: sam
    tool: crm/delete_note
    args: { customer_id: c-1 }
    expect: approval
  - principal: { subject: eve }
    resource: { kind: server, server: crm }
    expect: deny
`;

describe('policy test', () => {
  it('runs a table: every case passes, exit 0', () => {
    const r = testCommand(INPUT, { name: 'policy-tests.yaml', text: TABLE });
    assert.equal(r.exitCode, 0, r.text);
    assert.match(r.text, /^ok {3}1 analysts read reports: call tool filesystem\/read_text_file \[readOnlyHint=true\] → allow$/m);
    assert.match(r.text, /^6 passed, 0 failed$/m);
  });

  it('a failing case says what differs, exit 1', () => {
    const text = TABLE.replace('expect: approval', 'expect: allow').replace('visible: false', 'visible: true');
    const r = testCommand(INPUT, { name: 't.yaml', text });
    assert.equal(r.exitCode, 1);
    assert.match(r.text, /^FAIL 3 analysts never write: call tool filesystem\/write_file \[readOnlyHint=false destructiveHint=true\] → deny\n {7}expected the item shown in lists, but it is hidden$/m);
    assert.match(r.text, /^ {7}expected allow, got approval \(approval required by "approve-destructive" \(allowed by "support-crm"\)\)$/m);
    assert.match(r.text, /^4 passed, 2 failed$/m);
  });

  it('an invalid table or policy: exit 2 with every problem', () => {
    const bad = testCommand(INPUT, { name: 't.yaml', text: '- principal: nobody\n  tool: fs\n  expect: maybe\n  extra: 1\n' });
    assert.equal(bad.exitCode, 2);
    assert.equal(
      bad.text,
      [
        't.yaml: cases[0].extra: unknown key',
        't.yaml: cases[0].principal: no principal named "nobody"',
        't.yaml: cases[0].tool: must be "server/name" (got "fs")',
        't.yaml: cases[0].expect: required, one of allow, deny, approval',
      ].join('\n'),
    );
    const policy = testCommand({ policy: { rules: [{ effect: 'allow', when: 'princpal' }] } }, { name: 't.yaml', text: TABLE });
    assert.equal(policy.exitCode, 2);
    assert.match(policy.text, /^the policy is invalid:\npolicy\.rules\[0\]\.when: undeclared reference to 'princpal'/);
    assert.throws(() => parseTable(': : :'), TableError);
  });
});

describe('policy explain', () => {
  const now = new Date('2025-03-03T10:00:00Z');

  it('explains a call from command-line flags', () => {
    const r = explainCommand(INPUT, { principal: 'subject=alice,role=analyst', tool: 'filesystem/read_text_file', args: '{"path":"/srv/reports/../x"}' }, now);
    assert.equal(r.exitCode, 0);
    assert.equal(
      r.text,
      [
        'decision: DENY (no rule allows)',
        'principal: subject alice; method bearer; roles analyst',
        'request: call tool filesystem/read_text_file [readOnlyHint=true] args {"path":"/srv/reports/../x"} at 2025-03-03T10:00:00.000Z',
        'rules considered: 2 (1 rule targets other servers or kinds)',
        `  allow    roles.analyst.allow[0]  no match  argument 'path': path "/srv/reports/../x" contains a ".." segment (an allow rule does not match when it cannot be evaluated)`,
        '  approval approve-destructive     no match  the tool is not destructive (read-only, or destructiveHint: false)',
        '                                   at policy.rules[0]',
      ].join('\n'),
    );
  });

  it('explains a list decision, with a JSON principal', () => {
    const r = explainCommand(INPUT, { principal: '{"subject":"sam","roles":["support"],"attributes":{"customer_id":"c-1"}}', tool: 'crm/get_customer', action: 'list' }, now);
    assert.equal(r.exitCode, 0);
    assert.match(r.text, /^decision: APPROVAL \(approval required by "approve-destructive" \(allowed by "support-crm"\)\)/);
    assert.match(r.text, /support-crm +possible +customer_id equals principal\.attributes\.customer_id: depends on the arguments, not known here/);
  });

  it('bad flags: exit 2', () => {
    const r = explainCommand(INPUT, { principal: 'subject=a,colour=red', tool: 'fs', args: '[1]', action: 'run' });
    assert.equal(r.exitCode, 2);
    assert.equal(
      r.text,
      [
        '--principal: unknown key "colour" (expected subject, role, group, scope, tenant, client, issuer, method, attr.<name>)',
        '--tool: must be "server/name" (got "fs")',
        '--args must be a JSON object',
        '--action must be one of list, call, read, get, complete, subscribe',
      ].join('\n'),
    );
    assert.equal(explainCommand(INPUT, { principal: 'subject=a', tool: 'a/b', prompt: 'a/c' }).exitCode, 2);
  });

  it('parses principals in the short form', () => {
    const problems: string[] = [];
    assert.deepEqual(parsePrincipal('subject=alice,role=a,role=b,group=g,scope=s,tenant=t,client=c,issuer=i,method=mtls,attr.customer_id=c-1', problems), {
      subject: 'alice',
      issuer: 'i',
      clientId: 'c',
      tenant: 't',
      scopes: ['s'],
      roles: ['a', 'b'],
      groups: ['g'],
      attributes: { customer_id: 'c-1' },
      method: 'mtls',
    });
    assert.deepEqual(problems, []);
  });
});
