/**
 * Guardrail settings on a configuration reload: the next request gets the new actions (top level and per server), a
 * request already under way finishes under the settings it started with, taint marks outlive the reload and meet the
 * new taint settings, clients are not told their lists changed, the audit record says what changed, and a change to
 * guardrails.custom is reported as needing a restart while the rest of the section applies.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { RunningGateway } from '../src/gateway.js';
import { ROOT, startTestGateway, testConfig } from './support/gateway.js';
import { memoryServer, memoryWires } from './support/memoryUpstream.js';
import { AWS, mailServer } from './support/guardrails.js';

const KEYWORD = JSON.stringify(join(ROOT, 'fixtures/guardrails/keyword.mjs'));
const custom = (word: string) => `custom: [{ name: keyword, module: ${KEYWORD}, options: { words: [${word}] }, action: redact }]`;

/** The configuration with these guardrails (a flow mapping's inside), mail's own guardrails and a policy, if any. */
const yaml = (guardrails: string, mail = '', policy = '') => `${policy}approvals: { enabled: false }
guardrails: { ${guardrails} }
upstreams:
  mail: { transport: stdio, command: unused${mail ? `, guardrails: ${mail}` : ''} }
  vault: { transport: stdio, command: unused }
virtualServers:
  default: { upstreams: [mail, vault] }
`;

let release: () => void = () => {};
const vault = memoryServer({
  tools: [{ name: 'config', inputSchema: { type: 'object' } }, { name: 'slow_config', inputSchema: { type: 'object' } }],
  call: async (name) => {
    if (name === 'slow_config') await new Promise<void>((r) => { release = r; });
    return { content: [{ type: 'text', text: `access_key=${AWS}` }] };
  },
});
const mail = mailServer();

type Result = { content: Array<{ type: string; text: string }>; isError?: boolean };

describe('guardrail settings on a reload', () => {
  let gw: RunningGateway;
  const clients: Client[] = [];
  let listChanged = 0;
  let a: Client;

  const connect = async (onListChanged?: () => void) => {
    const c = new Client({ name: 'reload', version: '1' });
    if (onListChanged) c.setNotificationHandler('notifications/tools/list_changed', onListChanged);
    await c.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/virtual/default/mcp`)));
    clients.push(c);
    return c;
  };
  const call = async (c: Client, name: string, args: Record<string, unknown> = {}) => (await c.callTool({ name, arguments: args })) as Result;
  const reload = (guardrails: string, mailGuardrails = '', policy = '') => gw.gateway.reload(testConfig(yaml(guardrails, mailGuardrails, policy)));
  const waitFor = async (ok: () => boolean, what: string) => {
    for (const end = Date.now() + 5000; !ok(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
  };

  before(async () => {
    gw = await startTestGateway(yaml(custom('bluebird')), {}, { createWire: memoryWires({ mail, vault }) });
    a = await connect(() => { listChanged++; });
    await new Promise((r) => setTimeout(r, 300)); // the SDK opens its GET stream after initialize
  });
  after(async () => {
    release();
    await Promise.allSettled(clients.map((c) => c.close()));
    await gw?.close();
  });

  it('redacts a key in a result under the settings it started with', async () => {
    const r = await call(a, 'mail__get_config');
    assert.equal(r.content[0]!.text, 'region=eu-west-1\naccess_key=[REDACTED:aws-access-key]');
  });

  it('withholds the next result after a reload to results.secrets: block, without telling clients their lists changed', async () => {
    const generation = gw.gateway.rules.generation;
    const o = reload(`${custom('bluebird')}, results: { secrets: block }`);
    assert.deepEqual({ changed: o.changed, applied: o.applied, restartNeeded: o.restartNeeded }, { changed: true, applied: ['guardrails'], restartNeeded: [] });
    assert.equal(gw.gateway.rules.generation, generation + 1);
    const r = await call(a, 'mail__get_config');
    assert.equal(r.isError, true);
    assert.match(r.content[0]!.text, /^The result of tool mail__get_config was withheld by the gateway's guardrails: an AWS access key id/);
    assert.ok(!JSON.stringify(r).includes(AWS));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(listChanged, 0, 'guardrails change no list');
  });

  it('lets a server\'s result through after a reload that switches its own secrets off; other servers keep the top level', async () => {
    const o = reload(`${custom('bluebird')}, results: { secrets: block }`, '{ results: { secrets: off } }');
    assert.deepEqual(o.applied, ['upstreams.mail.guardrails']);
    assert.equal((await call(a, 'mail__get_config')).content[0]!.text, `region=eu-west-1\naccess_key=${AWS}`);
    assert.equal((await call(a, 'vault__config')).isError, true, 'vault has no override: still withheld');
  });

  it('records the reload in the audit log as a change', async () => {
    const audit = gw.gateway.audit!;
    let last: { detail: { changed: boolean; applied: string[]; restartNeeded: string[] } } | undefined;
    for (const end = Date.now() + 5000; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) {
      const rows = (await audit.store.rows(0, 1000)).map((row) => JSON.parse(row.body));
      last = rows.filter((x) => x.type === 'admin.config.reload').at(-1);
      if (last?.detail.applied.includes('upstreams.mail.guardrails')) break;
    }
    assert.deepEqual(last?.detail, { generation: gw.gateway.rules.generation, changed: true, applied: ['upstreams.mail.guardrails'], restartNeeded: [] });
  });

  it('finishes a request under the guardrails it started with', async () => {
    const pending = call(a, 'vault__slow_config');
    await waitFor(() => vault.uses().some((r) => r.params?.name === 'slow_config'), 'the slow call upstream');
    reload(custom('bluebird'));
    release();
    assert.equal((await pending).isError, true, 'started under block: withheld');
    assert.equal((await call(a, 'vault__config')).content[0]!.text, 'access_key=[REDACTED:aws-access-key]', 'a new request: redacted');
  });

  it('keeps taint marks recorded before a reload, and applies the new taint settings to them', async () => {
    const b = await connect();
    await call(b, 'mail__read_mail'); // flagged: the session is tainted as untrusted
    await assert.rejects(call(b, 'mail__send', { to: 'x@example.com', body: 'hi' }), /Approval required: .*untrusted content from mail\/read_mail/);
    reload(`${custom('bluebird')}, taint: { action: deny }`);
    await assert.rejects(call(b, 'mail__send', { to: 'x@example.com', body: 'hi' }), /Blocked by a guardrail: this session received untrusted content from mail\/read_mail/);
    assert.equal((await call(a, 'mail__send', { to: 'x@example.com', body: 'hi' })).content[0]!.text, 'send done', 'an untainted session still sends');
  });

  it('reports a change to guardrails.custom as needing a restart, keeps the loaded guardrails, and applies the rest', async () => {
    const generation = gw.gateway.rules.generation;
    const only = reload(`${custom('falcon')}, taint: { action: deny }`);
    assert.deepEqual({ changed: only.changed, restartNeeded: only.restartNeeded, generation: only.generation }, { changed: false, restartNeeded: ['guardrails.custom'], generation });
    const o = reload(`${custom('falcon')}, taint: { action: deny }, results: { secrets: block }`);
    assert.deepEqual({ applied: o.applied, restartNeeded: o.restartNeeded }, { applied: ['guardrails'], restartNeeded: ['guardrails.custom'] });
    assert.equal((await call(a, 'mail__echo', { text: 'bluebird and falcon' })).content[0]!.text, '[REDACTED:keyword/code-word] and falcon', 'the guardrail loaded at start, with its options');
    assert.equal((await call(a, 'vault__config')).isError, true, 'the rest of the section applied');
    assert.deepEqual(gw.gateway.appliedConfig.guardrails.custom.map((c) => c.options), [{ words: ['bluebird'] }]);
  });

  it('still tells clients their lists changed when the policy does', async () => {
    reload(custom('bluebird'), '', 'policy: { rules: [{ id: everything-again, effect: allow }] }\n');
    await waitFor(() => listChanged > 0, 'list_changed');
  });
});
