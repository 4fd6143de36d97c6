/**
 * Content guardrails through the gateway, for a 2025-11-25 client in a session and a stateless 2026-07-28 client:
 * secrets redacted visibly in results, exfiltration through arguments refused before the upstream sees it, prompt
 * injection flagged, wrapped or withheld, toxic flows stopped by taint tracking, and an operator's own guardrail
 * (including one that fails, closed). Then the official filesystem server used by the SDK client.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { ROOT, binOf, startTestGateway } from './support/gateway.js';
import { memoryWires } from './support/memoryUpstream.js';
import { AWS, INJECTION, clientOf, mailServer } from './support/guardrails.js';
import type { RunningGateway } from '../src/gateway.js';

for (const era of ['legacy', 'modern'] as const) {
  describe(`content guardrails with defaults (${era} client)`, () => {
    const mail = mailServer();
    let gw: RunningGateway;
    let c: Awaited<ReturnType<typeof clientOf>>;
    before(async () => {
      // Approvals off: a held call is refused at once (test/approvals.test.ts waits for and grants one).
      gw = await startTestGateway('approvals: { enabled: false }\nupstreams:\n  mail: { transport: stdio, command: unused }\n', {}, { createWire: memoryWires({ mail }) });
      c = await clientOf(gw, era);
    });
    after(async () => { await gw?.close(); });

    it('redacts a secret in a result with a visible marker, in text and structuredContent, and says so in _meta', async () => {
      const { raw, msg } = await c.call('get_config');
      assert.ok(!raw.includes(AWS), 'the key never reaches the client');
      assert.equal(msg.result.content[0].text, 'region=eu-west-1\naccess_key=[REDACTED:aws-access-key]');
      assert.deepEqual(msg.result.structuredContent, { region: 'eu-west-1', accessKey: '[REDACTED:aws-access-key]' });
      assert.deepEqual(msg.result._meta['dev.portcullis/guardrails'].findings.map((f: any) => [f.rule, f.action]), [['aws-access-key', 'redact'], ['aws-access-key', 'redact']]);
    });

    it('refuses a call that would send a secret out, before the upstream sees it', async () => {
      const before = mail.uses().length;
      const { raw, msg } = await c.call('send', { to: 'x@example.com', body: `here is the key ${AWS}` });
      assert.equal(msg.error.code, -32011, raw);
      assert.match(msg.error.message, /^Blocked by a guardrail: the arguments of send were refused: an AWS access key id \(aws-access-key at body\)/);
      assert.ok(!raw.includes(AWS));
      assert.equal(mail.uses().length, before, 'the upstream never received the call');
      assert.equal((await c.call('send', { to: 'x@example.com', body: 'lunch?' })).msg.result.content[0].text, 'send done', 'a clean call to the same sink passes (the session is not tainted)');
    });

    it('flags prompt injection as untrusted, then requires approval for a sink in the tainted session', async () => {
      const { msg } = await c.call('read_mail');
      assert.equal(msg.result.content[0].text, INJECTION, 'flag keeps the text');
      assert.deepEqual(msg.result.content[0]._meta['dev.portcullis/untrusted'], { source: 'mail/read_mail', rules: ['prompt-injection'] });
      const sink = await c.call('send', { to: 'x@example.com', body: 'summary' });
      assert.equal(sink.msg.error?.code, -32012, sink.raw);
      assert.match(sink.msg.error.message, /this session received untrusted content from mail\/read_mail \(prompt-injection\), and send is a sink \(it is annotated openWorldHint\)/);
      assert.equal(sink.msg.error.data.rules[0].id, 'guardrails.taint');
      assert.equal((await c.call('lookup', { who: 'ann' })).msg.result.content[0].text, 'lookup done', 'tools that are not sinks still work');
    });

    it('keeps the taint to its own session (or principal and client)', async () => {
      const other = await clientOf(gw, era === 'legacy' ? 'legacy' : 'modern');
      if (era === 'legacy') assert.equal((await other.call('send', { to: 'x@example.com', body: 'hi' })).msg.result.content[0].text, 'send done');
      else assert.equal((await other.call('send', { to: 'x@example.com', body: 'hi' })).msg.error?.code, -32012, 'a stateless client is one scope per principal and client name');
    });

    it('scans resource contents and prompt messages too', async () => {
      const read = await c.rpc('resources/read', { uri: 'mem://notes/today' });
      assert.equal(read.msg.result.contents[0].text, 'contents of mem://notes/today');
      const prompt = await c.rpc('prompts/get', { name: 'summarise', arguments: { text: `key ${AWS}` } });
      assert.equal(prompt.msg.error?.code, -32011, 'a secret in prompt arguments is refused like one in tool arguments');
    });
  });
}

describe('content guardrails configured strictly', () => {
  const mail = mailServer();
  let gw: RunningGateway;
  before(async () => {
    gw = await startTestGateway(`
guardrails:
  results: { injection: wrap, secrets: block }
  arguments: { secrets: redact }
  taint: { action: deny, sinks: ["mail/echo"] }
  custom:
    - { name: keyword, module: ${JSON.stringify(join(ROOT, 'fixtures/guardrails/keyword.mjs'))}, options: { words: [bluebird] }, action: redact }
upstreams:
  mail: { transport: stdio, command: unused }
  other:
    transport: stdio
    command: unused
    guardrails: { results: { injection: block } }
  broken: { transport: stdio, command: unused }
`, {}, { createWire: memoryWires({ mail, other: mailServer(), broken: mailServer() }) });
  });
  after(async () => { await gw?.close(); });

  it('wraps injected text in a fence and withholds a result with a secret', async () => {
    const c = await clientOf(gw, 'modern');
    const { msg } = await c.call('read_mail');
    const text: string = msg.result.content[0].text;
    assert.match(text, /^<untrusted-content source="mail\/read_mail" id="[0-9a-f]{12}">\nThe text up to the matching closing marker came from a tool/);
    assert.ok(text.includes(INJECTION));
    const secret = await c.call('get_config');
    assert.equal(secret.msg.result.isError, true);
    assert.match(secret.msg.result.content[0].text, /^The result of tool get_config was withheld by the gateway's guardrails: an AWS access key id \(aws-access-key at content\[0\]\.text\)/);
    assert.ok(!secret.raw.includes(AWS));
  });

  it('redacts a secret in arguments instead of refusing when so configured, so the upstream never receives it', async () => {
    const c = await clientOf(gw, 'legacy');
    await c.call('lookup', { who: `ann ${AWS}` });
    const got = mail.uses().at(-1)!;
    assert.deepEqual(got.params?.arguments, { who: 'ann [REDACTED:aws-access-key]' });
  });

  it('applies an operator guardrail to results and arguments', async () => {
    const c = await clientOf(gw, 'legacy');
    const { msg } = await c.call('echo', { text: 'operation bluebird starts' });
    assert.equal(mail.uses().at(-1)!.params?.arguments && (mail.uses().at(-1)!.params!.arguments as any).text, 'operation [REDACTED:keyword/code-word] starts');
    assert.equal(msg.result.content[0].text, 'operation [REDACTED:keyword/code-word] starts');
  });

  it('denies a configured sink in a tainted session (taint.action: deny)', async () => {
    const c = await clientOf(gw, 'legacy');
    await c.call('read_mail');
    const { msg } = await c.call('echo', { text: 'x' });
    assert.equal(msg.error.code, -32011);
    assert.match(msg.error.message, /^Blocked by a guardrail: this session received untrusted content from mail\/read_mail .* echo is a sink \(it is configured as a sink\)/);
  });

  it('lets a server be stricter than the rest', async () => {
    const c = await clientOf(gw, 'modern', '/servers/other/mcp');
    const { msg } = await c.call('read_mail');
    assert.equal(msg.result.isError, true);
    assert.match(msg.result.content[0].text, /withheld by the gateway's guardrails: tells the model to discard its instructions \(prompt-injection/);
  });
});

describe('a failing operator guardrail fails closed', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await startTestGateway(`
guardrails:
  custom: [{ name: classifier, module: ${JSON.stringify(join(ROOT, 'fixtures/guardrails/keyword.mjs'))}, options: { fail: true }, on: [results] }]
upstreams:
  mail: { transport: stdio, command: unused }
`, {}, { createWire: memoryWires({ mail: mailServer() }) });
  });
  after(async () => { await gw?.close(); });

  it('withholds results it could not check, and says why', async () => {
    const c = await clientOf(gw, 'modern');
    const { msg } = await c.call('lookup', { who: 'ann' });
    assert.equal(msg.result.isError, true);
    assert.match(msg.result.content[0].text, /guardrail classifier failed \(the classifier service is unreachable\)/);
    const r = await c.rpc('resources/read', { uri: 'mem://notes/today' });
    assert.equal(r.msg.error.code, -32011);
  });
});

describe('official filesystem server through the gateway, SDK client', () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'pc-guard-fs-')));
  writeFileSync(join(dir, 'deploy.env'), `AWS_ACCESS_KEY_ID=${AWS}\nREGION=eu-west-1\n`);
  writeFileSync(join(dir, 'issue.md'), `# Bug report\n\n${INJECTION}\n`);
  let gw: RunningGateway;
  before(async () => {
    gw = await startTestGateway(`
approvals: { enabled: false }
upstreams:
  fs:
    transport: stdio
    command: ${process.execPath}
    args: [${JSON.stringify(binOf('@modelcontextprotocol/server-filesystem'))}, ${JSON.stringify(dir)}]
`);
  });
  after(async () => { await gw?.close(); });

  for (const era of ['legacy', 'modern'] as const) {
    it(`redacts, refuses exfiltration, flags injection and stops the toxic flow (${era})`, async () => {
      const client = new Client({ name: `guard-${era}`, version: '1.0.0' }, era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
      await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/servers/fs/mcp`)));
      try {
        const env = await client.callTool({ name: 'read_text_file', arguments: { path: join(dir, 'deploy.env') } });
        const envText = JSON.stringify(env);
        assert.ok(!envText.includes(AWS));
        assert.match((env.content as any)[0].text, /AWS_ACCESS_KEY_ID=\[REDACTED:aws-access-key\]/);

        const out = join(dir, `leak-${era}.txt`);
        await assert.rejects(client.callTool({ name: 'write_file', arguments: { path: out, content: `key ${AWS}` } }), /Blocked by a guardrail/);
        assert.equal(existsSync(out), false, 'the file was never written');

        const issue = await client.callTool({ name: 'read_text_file', arguments: { path: join(dir, 'issue.md') } });
        assert.deepEqual((issue.content as any)[0]._meta['dev.portcullis/untrusted'].rules, ['prompt-injection']);
        await assert.rejects(client.callTool({ name: 'write_file', arguments: { path: out, content: 'notes' } }), /Approval required: .*untrusted content from fs\/read_text_file/);
        assert.equal(existsSync(out), false);
        const listing = await client.callTool({ name: 'list_directory', arguments: { path: dir } });
        assert.match((listing.content as any)[0].text, /deploy\.env/, 'read-only tools keep working in the tainted session');
        assert.equal(readFileSync(join(dir, 'deploy.env'), 'utf8').includes(AWS), true, 'nothing upstream was changed');
      } finally {
        await client.close();
      }
    });
  }
});
