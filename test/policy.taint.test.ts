/**
 * The session's taint in policy conditions (`context.taint`): conditions on it compile, typos in its field or its
 * values are load errors, uses are decided with it while lists leave it open, and through the gateway a session that
 * received a secret is refused the call a rule reserves for untainted sessions while other sessions are not; the
 * marks are read only when the rule set has such a condition, and once per request.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { parseConfig } from '../src/config/load.js';
import type { RunningGateway } from '../src/gateway.js';
import { compilePolicy, explainCommand, testCommand, type PolicyContext, type PolicyPrincipal, type PolicyResource } from '../src/policy/index.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { startTestGateway, testConfig } from './support/gateway.js';
import { memoryWires } from './support/memoryUpstream.js';
import { AWS, mailServer } from './support/guardrails.js';

const alice: PolicyPrincipal = { subject: 'alice', scopes: [], roles: [], groups: [], attributes: {}, method: 'bearer' };
const send: PolicyResource = { kind: 'tool', server: 'mail', name: 'send' };
const at = (taint?: PolicyContext['taint']): PolicyContext => ({ time: new Date(), era: 'modern', endpoint: 'default', taint });
const DENY_AFTER_SECRET = { id: 'no-mail-after-secret', effect: 'deny', description: 'no e-mail once this session saw a secret', tools: ['mail/send'], when: "'secret' in context.taint" };
const policy = compilePolicy({ rules: [{ id: 'all', effect: 'allow' }, DENY_AFTER_SECRET] });

describe('context.taint in conditions', () => {
  it('compiles, and the policy knows it reads the taint', () => {
    assert.equal(policy.readsTaint, true);
    assert.equal(compilePolicy({ rules: [{ effect: 'allow', when: "context.taint.size() == 0 && context.era == 'modern'" }] }).readsTaint, true);
    assert.equal(compilePolicy({ rules: [{ effect: 'allow', when: "context['taint'].size() == 0" }] }).readsTaint, true, 'the whole context may reach it');
    assert.equal(compilePolicy({ rules: [{ effect: 'allow', when: "context.era == 'modern'" }] }).readsTaint, false);
  });

  it('rejects a misspelt field or value at load, saying what was meant', () => {
    const load = (when: string) => () => parseConfig(`auth: { mode: none }\nupstreams:\n  mail: { transport: stdio, command: x }\npolicy:\n  rules:\n    - { id: typo, effect: deny, tools: [mail/send], when: "${when}" }\n`, { source: 'portcullis.yaml', env: {} });
    assert.throws(load("'secret' in context.tiant"), /policy\.rules\[0\]\.when: rule "typo": context has no field 'tiant' \(did you mean 'taint'\?\)/);
    assert.throws(load("'secrets' in context.taint"), /rule "typo": context\.taint never holds 'secrets' \(did you mean 'secret'\?\); its values: untrusted, sensitive, secret, personal-data, injection/);
    assert.throws(load("context.taint.exists(t, t == 'injecton')"), /context\.taint never holds 'injecton' \(did you mean 'injection'\?\)/);
    assert.throws(load("context.taint == 'secret'"), /cannot compare list\(string\) with string/);
    assert.doesNotThrow(load("'personal-data' in context.taint || context.taint.exists(t, t == 'untrusted')"));
  });

  it('decides a use with the taint, and leaves it open in lists', () => {
    assert.equal(policy.decide(alice, 'call', send, at()).outcome, 'allow');
    assert.equal(policy.decide(alice, 'call', send, at(['sensitive', 'personal-data'])).outcome, 'allow');
    const d = policy.decide(alice, 'call', send, at(['secret', 'sensitive']));
    assert.deepEqual([d.outcome, d.rules.map((r) => r.id)], ['deny', ['no-mail-after-secret']]);
    assert.equal(policy.filter(alice, [send], at(['secret', 'sensitive'])).length, 1, 'a list shows the tool: its use is refused with the reason');
    const gated = compilePolicy({ rules: [{ effect: 'allow', tools: ['mail/*'], when: 'context.taint.size() == 0' }] });
    assert.equal(gated.filter(alice, [send], at()).length, 1);
    assert.equal(gated.decide(alice, 'call', send, at(['untrusted'])).outcome, 'deny');
    const explained = explainCommand({ policy: { rules: [DENY_AFTER_SECRET] } }, { principal: 'subject=alice', tool: 'mail/send', action: 'list' }).text;
    assert.match(explained, /no-mail-after-secret +possible +when 'secret' in context\.taint: depends on the session's taint, not known here/);
  });

  it('takes the taint in decision tables and explain', () => {
    const input = { policy: { rules: [{ id: 'all', effect: 'allow' }, DENY_AFTER_SECRET] } };
    const table = 'cases:\n  - { principal: { subject: a }, tool: mail/send, expect: allow }\n  - { principal: { subject: a }, tool: mail/send, taint: [sensitive, secret], expect: deny, visible: true }\n';
    assert.equal(testCommand(input, { name: 't.yaml', text: table }).exitCode, 0, testCommand(input, { name: 't.yaml', text: table }).text);
    assert.match(testCommand(input, { name: 't.yaml', text: 'cases:\n  - { principal: { subject: a }, tool: mail/send, taint: [secrets], expect: deny }\n' }).text, /cases\[0\]\.taint: must be a list of untrusted, sensitive, secret, personal-data, injection/);
    const e = explainCommand(input, { principal: 'subject=alice', tool: 'mail/send', taint: 'sensitive,secret' });
    assert.match(e.text, /^decision: DENY \(denied by "no-mail-after-secret"\)\n.*\nrequest: call tool mail\/send taint sensitive,secret at /);
  });
});

describe('context.taint through the gateway (SDK clients, 2025-11-25 sessions)', () => {
  const mail = mailServer();
  const storage = createMemoryStorage({ replayEvents: 256 });
  let taintReads = 0;
  const list = storage.records.list.bind(storage.records);
  storage.records.list = (ns, opts) => {
    if (ns === 'guardrails:taint') taintReads++;
    return list(ns, opts);
  };
  // Secrets let through (warn) taint the session; taint.action warn only logs calls to sinks, so the rule decides.
  const yaml = (rules: string) => `approvals: { enabled: false }
guardrails: { results: { secrets: warn }, taint: { action: warn } }
upstreams:
  mail: { transport: stdio, command: unused }
policy:
  rules:
    - { id: all, effect: allow }
${rules}`;
  const RULE = `    - id: no-mail-after-secret
      effect: deny
      description: no e-mail once this session saw a secret
      tools: [mail/send]
      when: "'secret' in context.taint"
`;
  let gw: RunningGateway;
  const clients: Client[] = [];
  const connect = async (name: string) => {
    const c = new Client({ name, version: '1' });
    await c.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/servers/mail/mcp`)));
    clients.push(c);
    return c;
  };
  const text = async (c: Client, name: string, args: Record<string, unknown> = {}) => ((await c.callTool({ name, arguments: args })) as { content: Array<{ text: string }> }).content[0]!.text;
  const reads = async <T>(f: () => Promise<T>): Promise<number> => {
    const before = taintReads;
    await f();
    return taintReads - before;
  };

  before(async () => {
    gw = await startTestGateway(yaml(RULE), {}, { createWire: memoryWires({ mail }), storage });
  });
  after(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await gw?.close();
  });

  it('refuses the call once the session received a secret, with the rule\'s reason; another session is not affected', async () => {
    const a = await connect('a');
    const b = await connect('b');
    const msg = { to: 'x@example.com', body: 'lunch?' };
    assert.equal(await text(a, 'send', msg), 'send done', 'before the taint the same call is allowed');
    assert.equal(await text(a, 'get_config'), `region=eu-west-1\naccess_key=${AWS}`, 'warn: the key reaches the client, so the session is tainted');
    const uses = mail.uses().length;
    await assert.rejects(a.callTool({ name: 'send', arguments: msg }), /Denied by policy: denied by "no-mail-after-secret" \(no-mail-after-secret: no e-mail once this session saw a secret\)/);
    assert.equal(mail.uses().length, uses, 'the upstream never received it');
    assert.ok((await a.listTools()).tools.some((t) => t.name === 'send'), 'lists leave the taint open');
    assert.equal(await text(a, 'lookup', { who: 'ann' }), 'lookup done', 'calls the rule does not name still work');
    assert.equal(await text(b, 'send', msg), 'send done', 'another session is not tainted');
  });

  it('reads the marks once per request, and only while a condition reads them', async () => {
    const c = await connect('c');
    assert.equal(await reads(() => text(c, 'lookup', { who: 'ann' })), 1, 'the policy stage reads them (lookup is no sink)');
    assert.equal(await reads(() => text(c, 'send', { to: 'x@example.com', body: 'hi' })), 1, 'a sink: the guardrails stage reuses what the policy stage read');
    assert.equal(await reads(() => c.listTools()), 0, 'lists never read them');
    const o = gw.gateway.reload(testConfig(yaml('')));
    assert.deepEqual(o.applied, ['policy']);
    assert.equal(gw.gateway.rules.policy.readsTaint, false);
    assert.equal(await reads(() => text(c, 'lookup', { who: 'ann' })), 0, 'no condition on the taint: nothing read for a call to no sink');
    assert.equal(await reads(() => text(c, 'send', { to: 'x@example.com', body: 'hi' })), 1, 'the sink check alone');
  });
});
