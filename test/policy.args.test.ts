/** Argument constraints: paths that must stay under a root (and every way of escaping it), claim equality, the rest. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePolicy, type PolicyContext, type PolicyPrincipal, type PolicyResource } from '../src/policy/index.js';

function who(attributes: Record<string, unknown> = {}): PolicyPrincipal {
  return { subject: 'alice', scopes: [], roles: ['analyst'], groups: [], attributes, method: 'bearer' };
}
const fs = (name: string): PolicyResource => ({ kind: 'tool', server: 'filesystem', name, annotations: { readOnlyHint: name.startsWith('read') } });
const ctx = (args: Record<string, unknown>): PolicyContext => ({ args, time: new Date(), era: 'modern', endpoint: 'default' });
const call = (p: ReturnType<typeof compilePolicy>, name: string, args: Record<string, unknown>, principal = who()) => p.decide(principal, 'call', fs(name), ctx(args));

describe('path under a root', () => {
  const p = compilePolicy(
    {
      roles: {
        analyst: {
          allow: [
            { tools: ['filesystem/read_text_file', 'filesystem/write_file'], args: { path: { under: '/srv/reports' } } },
            { tools: ['filesystem/read_multiple_files'], args: { paths: { under: ['/srv/reports', '/srv/shared/'] } } },
          ],
        },
      },
    },
    { servers: ['filesystem'] },
  );
  const read = (path: unknown) => call(p, 'read_text_file', { path }).outcome;

  it('accepts the root, paths below it, and redundant separators', () => {
    for (const ok of ['/srv/reports', '/srv/reports/', '/srv/reports/q1.txt', '/srv/reports/2025/q1.txt', '/srv//reports/./q1.txt', '/srv/reports/..hidden', '/srv/reports/a..b'])
      assert.equal(read(ok), 'allow', ok);
  });

  it('refuses traversal, encodings, NUL, relative and home paths, and sibling prefixes', () => {
    for (const bad of [
      '/srv/reports/../etc/passwd',
      '/srv/reports/..',
      '/srv/reports/sub/../../etc/passwd',
      '/srv/reports/a/../b', // inside, but ".." is refused outright: the upstream resolves paths itself
      '/srv/reports/%2e%2e/etc/passwd',
      '/srv/reports/%2E%2E/etc/passwd',
      '/srv/reports%2f..%2fetc',
      '/srv/reports/q1.txt\u0000.png',
      '/srv/reports/\n',
      '/srv/reports\\..\\etc',
      'srv/reports/q1.txt',
      './srv/reports/q1.txt',
      '~/reports',
      '~root/.ssh/id_rsa',
      '/srv/reports-old/q1.txt',
      '/srv/reportsx',
      '/srv',
      '/',
      '',
      'file:///srv/reports/q1.txt',
    ])
      assert.equal(read(bad), 'deny', JSON.stringify(bad));
  });

  it('refuses values that are not paths, and a missing argument', () => {
    for (const bad of [42, null, true, { path: '/srv/reports' }, [], ['/etc/passwd']]) assert.equal(read(bad), 'deny', JSON.stringify(bad));
    assert.equal(call(p, 'read_text_file', {}).outcome, 'deny');
    assert.match(p.explain(who(), 'call', fs('read_text_file'), ctx({})).text, /argument 'path' is missing/);
  });

  it('a list of paths: every one must be under one of the roots', () => {
    const many = (paths: unknown) => call(p, 'read_multiple_files', { paths }).outcome;
    assert.equal(many(['/srv/reports/a', '/srv/shared/b']), 'allow');
    assert.equal(many(['/srv/reports/a', '/etc/passwd']), 'deny');
    assert.equal(many(['/srv/reports/a', '/srv/shared/../../etc/passwd']), 'deny');
    assert.equal(many([]), 'deny');
    assert.equal(many(['/srv/reports/a', 7]), 'deny');
  });

  it('the explanation says why a path was refused', () => {
    const e = p.explain(who(), 'call', fs('write_file'), ctx({ path: '/srv/reports/%2e%2e/x' }));
    assert.match(e.text, /argument 'path': path "\/srv\/reports\/%2e%2e\/x" contains a %-escape/);
  });

  it('an unsafe path makes a deny rule match (fail closed), a merely different one does not', () => {
    const q = compilePolicy({
      rules: [
        { id: 'all', effect: 'allow', tools: ['filesystem/*'] },
        { id: 'secrets', effect: 'deny', tools: ['filesystem/*'], args: { path: { under: '/srv/secrets' } } },
      ],
    });
    assert.equal(call(q, 'read_text_file', { path: '/srv/public/a' }).outcome, 'allow');
    assert.equal(call(q, 'read_text_file', { path: '/srv/secrets/a' }).outcome, 'deny');
    const sneaky = call(q, 'read_text_file', { path: '/srv/public/../secrets/a' });
    assert.deepEqual([sneaky.outcome, sneaky.rules[0]?.id], ['deny', 'secrets']);
    assert.match(sneaky.rules[0]?.reason ?? '', /contains a "\.\." segment \(counted as a match: a deny rule fails closed\)/);
    assert.equal(call(q, 'read_text_file', { path: '/srv/public/a\u0000' }).outcome, 'deny');
  });

  it('roots must be absolute and plain', () => {
    assert.throws(() => compilePolicy({ rules: [{ effect: 'allow', args: { path: { under: ['/srv', '../x', '/a/%2e'] } } }] }), (e: Error) => {
      assert.equal(
        e.message,
        ['policy.rules[0].args.path.under[1]: root "../x" is not an absolute path', 'policy.rules[0].args.path.under[2]: root "/a/%2e" contains a %-escape'].join('\n'),
      );
      return true;
    });
  });
});

describe('claim equality', () => {
  const p = compilePolicy({
    roles: {
      analyst: {
        allow: [
          { tools: ['filesystem/get_customer'], args: { customer_id: { claim: 'customer_id' } } },
          { tools: ['filesystem/get_org'], args: { org: { claim: 'org.id' } } },
        ],
      },
    },
  });

  it('the argument must equal the caller\'s claim', () => {
    assert.equal(call(p, 'get_customer', { customer_id: 'c-1' }, who({ customer_id: 'c-1' })).outcome, 'allow');
    assert.equal(call(p, 'get_customer', { customer_id: 'c-2' }, who({ customer_id: 'c-1' })).outcome, 'deny');
    assert.equal(call(p, 'get_customer', {}, who({ customer_id: 'c-1' })).outcome, 'deny');
  });

  it('no coercion, no claim, no match', () => {
    assert.equal(call(p, 'get_customer', { customer_id: '42' }, who({ customer_id: 42 })).outcome, 'deny');
    assert.equal(call(p, 'get_customer', { customer_id: 42 }, who({ customer_id: 42 })).outcome, 'allow');
    assert.equal(call(p, 'get_customer', { customer_id: null }, who({ customer_id: null })).outcome, 'deny');
    assert.equal(call(p, 'get_customer', { customer_id: 'c-1' }, who()).outcome, 'deny');
    assert.equal(call(p, 'get_customer', { customer_id: ['c-1'] }, who({ customer_id: 'c-1' })).outcome, 'deny');
  });

  it('dotted claim paths, own properties only', () => {
    assert.equal(call(p, 'get_org', { org: 'o1' }, who({ org: { id: 'o1' } })).outcome, 'allow');
    assert.equal(call(p, 'get_org', { org: 'o1' }, who({ org: { id: 'o2' } })).outcome, 'deny');
    const q = compilePolicy({ rules: [{ effect: 'allow', args: { x: { claim: 'constructor' } } }] });
    assert.equal(call(q, 'any', { x: Object }, who()).outcome, 'deny');
  });
});

describe('other constraints', () => {
  const p = compilePolicy({
    rules: [
      {
        id: 'search',
        effect: 'allow',
        tools: ['filesystem/search'],
        args: {
          query: { type: 'string', pattern: '[a-z ]+', maxLength: 20 },
          limit: { type: 'integer', min: 1, max: 100, optional: true },
          mode: { enum: ['fast', 'thorough'], optional: true },
          format: { equals: 'json', optional: true },
        },
      },
    ],
  });
  const search = (args: Record<string, unknown>) => call(p, 'search', args).outcome;

  it('type, pattern (anchored), lengths, ranges, enum, equals, optional', () => {
    assert.equal(search({ query: 'annual report' }), 'allow');
    assert.equal(search({ query: 'annual report', limit: 100, mode: 'fast', format: 'json' }), 'allow');
    assert.equal(search({ query: 'Annual' }), 'deny'); // pattern is anchored: no partial match
    assert.equal(search({ query: 'x; rm -rf /' }), 'deny');
    assert.equal(search({ query: 'a'.repeat(21) }), 'deny');
    assert.equal(search({ query: 7 }), 'deny');
    assert.equal(search({ query: 'a', limit: 101 }), 'deny');
    assert.equal(search({ query: 'a', limit: 0 }), 'deny');
    assert.equal(search({ query: 'a', limit: 2.5 }), 'deny');
    assert.equal(search({ query: 'a', limit: '5' }), 'deny');
    assert.equal(search({ query: 'a', mode: 'slow' }), 'deny');
    assert.equal(search({ query: 'a', format: 'xml' }), 'deny');
    assert.equal(search({}), 'deny');
  });

  it('arguments from the prototype are not arguments', () => {
    const q = compilePolicy({ rules: [{ effect: 'allow', args: { toString: { optional: false } } }] });
    assert.equal(call(q, 'x', {}).outcome, 'deny');
  });
});
