/**
 * Validation: tool arguments against the tool's inputSchema and the operator's stricter schema (a tool error with a
 * precise message, the upstream never sees the call), size limits per argument and per result, results against
 * the tool's outputSchema (replaced by an error, never passed on), prompt arguments, and resource URIs (normalised,
 * traversal refused, checked against what the server declares). Units first, then through the gateway in both eras.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SchemaCache, describeErrors, admitUpstreamProperties } from '../src/validation/schemas.js';
import { jsonSize, oversizedArgument } from '../src/validation/size.js';
import { compileTemplate, matchesTemplate, normaliseUri } from '../src/validation/uri.js';
import { modern, post, startTestGateway } from './support/gateway.js';
import { memoryServer, memoryWires } from './support/memoryUpstream.js';
import type { RunningGateway } from '../src/gateway.js';

describe('units', () => {
  test('schemas are compiled once per schema, by object and by content', () => {
    const cache = new SchemaCache();
    const a = { type: 'object', properties: { x: { type: 'string' } } };
    const c1 = cache.get(a)!;
    assert.equal(cache.get(a), c1);
    assert.equal(cache.get(JSON.parse(JSON.stringify(a))), c1, 'the same schema from another definition object');
    assert.equal(cache.get({ properties: { x: { type: 'string' } }, type: 'object' }), c1, 'key order does not matter');
    assert.equal(cache.compiled, 1);
    assert.equal(cache.get(undefined), undefined);
    assert.equal(cache.get({ type: 'object', $schema: 'http://json-schema.org/draft-07/schema#', $id: 'urn:x' })?.validate !== undefined, true, 'a draft-07 $schema and a root $id are tolerated');
  });

  test('remote $ref is never fetched: the schema is unusable', () => {
    const c = new SchemaCache().get({ type: 'object', properties: { x: { $ref: 'https://example.com/schema.json' } } })!;
    assert.equal(c.validate, undefined);
    assert.match(c.error!, /does not resolve within the schema/);
    const local = new SchemaCache().get({ $defs: { n: { type: 'integer' } }, type: 'object', properties: { x: { $ref: '#/$defs/n' } } })!;
    assert.equal(local.validate!({ x: 1 }), true);
    assert.equal(local.validate!({ x: 'a' }), false);
  });

  test('patterns from upstream schemas run in linear time; one RE2 cannot run makes the schema unusable', () => {
    const v = new SchemaCache().get({ type: 'object', properties: { s: { type: 'string', pattern: '^(a+)+$' } } })!.validate!;
    const evil = `${'a'.repeat(100_000)}!`;
    const t = performance.now();
    assert.equal(v({ s: evil }), false);
    assert.ok(performance.now() - t < 2000, 'a catastrophic-backtracking pattern must not stall validation');
    assert.equal(v({ s: 'aaa' }), true);
    const lookahead = new SchemaCache().get({ type: 'object', properties: { s: { type: 'string', pattern: '^(?=.*x)' } } })!;
    assert.equal(lookahead.validate, undefined);
    assert.ok(lookahead.error);
  });

  test('messages name the argument and the rule', () => {
    const v = new SchemaCache().get({ type: 'object', required: ['path'], additionalProperties: false, properties: { path: { type: 'string', pattern: '^/srv/' }, n: { type: 'integer', minimum: 0 }, tags: { type: 'array', items: { enum: ['a', 'b'] } } } })!.validate!;
    const msg = (args: unknown) => (v(args) ? 'ok' : describeErrors(v.errors, 'arguments'));
    assert.equal(msg({}), "missing required argument 'path'");
    assert.equal(msg({ path: '/etc' }), 'path: must match pattern "^/srv/"');
    assert.equal(msg({ path: '/srv/a', n: -1 }), 'n: must be >= 0');
    assert.equal(msg({ path: '/srv/a', n: 1.5 }), 'n: must be integer');
    assert.equal(msg({ path: '/srv/a', x: 1 }), "unknown argument 'x'");
    assert.equal(msg({ path: '/srv/a', tags: ['c'] }), 'tags[0]: must be one of ["a","b"]');
  });

  test('a stricter schema admits the properties the upstream declares', () => {
    const upstream = { type: 'object', properties: { path: { type: 'string' }, head: { type: 'number' } } };
    const t = admitUpstreamProperties({ additionalProperties: false, properties: { path: { maxLength: 5 } } }, upstream);
    const v = new SchemaCache().get(t)!.validate!;
    assert.equal(v({ path: '/a', head: 3 }), true);
    assert.equal(v({ path: '/a', other: 1 }), false);
    assert.equal(v({ path: '/a/b/c/d' }), false);
    assert.equal(admitUpstreamProperties(t, upstream), admitUpstreamProperties(t, upstream), 'memoised');
  });

  test('sizes are counted as JSON, and measuring stops at the limit', () => {
    for (const v of [{ a: 'é', b: [1, true, null], c: { d: 'x'.repeat(100) } }, 'plain', [], {}, 12.5]) assert.equal(jsonSize(v), Buffer.byteLength(JSON.stringify(v)));
    assert.equal(jsonSize('😀'), 6);
    assert.ok(jsonSize({ big: 'x'.repeat(1e6) }, 10) > 10);
    assert.equal(oversizedArgument({ a: 'x', b: 'y'.repeat(20) }, 10), "argument 'b' is larger than the limit of 10 bytes (limits.maxArgumentBytes)");
    assert.equal(oversizedArgument({ a: 'x' }, 10), undefined);
  });

  test('resource URIs: traversal and its encodings refused, the rest normalised', () => {
    for (const bad of ['file:///srv/../etc/passwd', 'file:///srv/./x', 'file:///srv/%2e%2e/x', 'file:///srv/%2E./x', 'file:///srv/a%2fb', 'file:///srv/a%5cb', 'file:///srv/a%00', 'file:///srv/a\u0000b', 'file:///srv\\a', 'relative/path']) {
      assert.ok(normaliseUri(bad).error, bad);
    }
    assert.equal(normaliseUri('FILE:///srv//a///b').uri, 'file:///srv/a/b');
    assert.equal(normaliseUri('file:///srv/%7euser/%3a').uri, 'file:///srv/~user/%3A');
    assert.equal(normaliseUri('urn:isbn:0451450523').uri, 'urn:isbn:0451450523');
    assert.equal(normaliseUri('https://h/a?q=%41').uri, 'https://h/a?q=A');
  });

  test('URI templates match their expansions (RFC 6570 operators)', () => {
    assert.ok(matchesTemplate('demo://r/dynamic/text/12', 'demo://r/dynamic/text/{id}'));
    assert.ok(!matchesTemplate('demo://r/dynamic/text/1/2', 'demo://r/dynamic/text/{id}'), 'a simple expansion stays in its segment');
    assert.ok(matchesTemplate('file:///a/b/c.txt', 'file:///{+path}'));
    assert.ok(matchesTemplate('x://s/a/b', 'x://s{/p*}'));
    assert.ok(matchesTemplate('x://s?q=1&r=2', 'x://s{?q,r}'));
    assert.ok(!matchesTemplate('y://s/a', 'x://s/{a}'));
    assert.equal(compileTemplate('x://{unclosed'), null);
  });
});

describe('through the gateway', () => {
  const schema = { type: 'object', required: ['path'], additionalProperties: false, properties: { path: { type: 'string' }, n: { type: 'integer', minimum: 0 } } };
  const up = memoryServer({
    tools: [
      { name: 'read', inputSchema: schema },
      { name: 'tight', inputSchema: { type: 'object', properties: { path: { type: 'string' }, head: { type: 'number' } } } },
      { name: 'remote', inputSchema: { type: 'object', properties: { x: { $ref: 'https://example.com/x.json' } } } },
      { name: 'sum', inputSchema: { type: 'object' }, outputSchema: { type: 'object', required: ['total'], properties: { total: { type: 'number' } } } },
      { name: 'big', inputSchema: { type: 'object' } },
    ],
    prompts: [{ name: 'greet', arguments: [{ name: 'who', required: true }] }],
    resources: [{ uri: 'mem://docs/a.md', name: 'a' }, { uri: 'mem://docs/huge.md', name: 'huge' }],
    resourceTemplates: [{ uriTemplate: 'mem://items/{id}', name: 'item' }],
    call: (name, args) => {
      if (name === 'sum') {
        if (args.mode === 'wrong') return { content: [{ type: 'text', text: 'x' }], structuredContent: { total: 'many' } };
        if (args.mode === 'none') return { content: [{ type: 'text', text: 'x' }] };
        if (args.mode === 'error') return { content: [{ type: 'text', text: 'failed' }], isError: true };
        return { content: [{ type: 'text', text: '3' }], structuredContent: { total: 3 } };
      }
      if (name === 'big') return { content: [{ type: 'text', text: 'x'.repeat(3000) }] };
      return { content: [{ type: 'text', text: `${name} ok` }] };
    },
  });
  let gw: RunningGateway;
  before(async () => {
    gw = await startTestGateway(`limits: { maxArgumentBytes: 200, maxResultBytes: 2000 }
upstreams:
  up:
    transport: stdio
    command: unused
    tools:
      tight: { inputSchema: { additionalProperties: false, properties: { path: { type: string, pattern: "^/srv/" } } } }
`, {}, { createWire: memoryWires({ up }) });
  });
  after(async () => { await gw?.close(); });

  for (const era of ['legacy', 'modern'] as const) {
    let sid: string | undefined;
    let id = 1;
    const rpc = async (method: string, params: Record<string, unknown>) => {
      const url = `${gw.url}/servers/up/mcp`;
      if (era === 'modern') {
        const m = modern(method, params, id++);
        return (await post(url, m.body, m.headers)).json();
      }
      if (!sid) {
        const init = await post(url, { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'v', version: '1' } } });
        sid = init.headers.get('mcp-session-id')!;
      }
      return (await post(url, { jsonrpc: '2.0', id: id++, method, params }, { 'mcp-session-id': sid })).json();
    };
    const toolError = async (name: string, args: unknown): Promise<string> => {
      const before = up.uses().length;
      const r = await rpc('tools/call', { name, arguments: args });
      assert.equal(r.result?.isError, true, JSON.stringify(r));
      assert.equal(up.uses().length, before, 'the upstream never saw the call');
      if (era === 'modern') assert.equal(r.result.resultType, 'complete');
      return r.result.content[0].text as string;
    };

    test(`${era}: invalid arguments are a tool error with a precise message; the upstream never sees them`, async () => {
      assert.equal(await toolError('read', {}), "Invalid arguments for tool read: missing required argument 'path'");
      assert.equal(await toolError('read', { path: '/a', n: -2 }), 'Invalid arguments for tool read: n: must be >= 0');
      assert.equal(await toolError('read', { path: '/a', extra: 1 }), "Invalid arguments for tool read: unknown argument 'extra'");
      assert.equal(await toolError('read', [1, 2]), 'Invalid arguments for tool read: arguments must be an object');
      assert.equal((await rpc('tools/call', { name: 'read', arguments: { path: '/a' } })).result.content[0].text, 'read ok');
    });

    test(`${era}: the operator's stricter schema applies on top of the upstream's`, async () => {
      assert.equal(await toolError('tight', { path: '/etc/passwd' }), 'Invalid arguments for tool tight: path: must match pattern "^/srv/"');
      assert.equal(await toolError('tight', { path: '/srv/a', sneaky: true }), "Invalid arguments for tool tight: unknown argument 'sneaky'");
      assert.equal((await rpc('tools/call', { name: 'tight', arguments: { path: '/srv/a', head: 3 } })).result.content[0].text, 'tight ok', 'what the upstream declares stays allowed');
    });

    test(`${era}: a schema with a remote $ref is refused, not skipped`, async () => {
      assert.match(await toolError('remote', { x: 1 }), /input schema cannot be used.*remote references are not fetched/);
    });

    test(`${era}: size limits per argument and per result`, async () => {
      assert.equal(await toolError('read', { path: 'x'.repeat(300) }), "Invalid arguments for tool read: argument 'path' is larger than the limit of 200 bytes (limits.maxArgumentBytes)");
      const big = await rpc('tools/call', { name: 'big', arguments: {} });
      assert.equal(big.result.isError, true);
      assert.match(big.result.content[0].text, /withheld: the result is larger than limits.maxResultBytes \(2000 bytes\)/);
      assert.doesNotMatch(JSON.stringify(big), /xxxxxxxxxx/, 'nothing of the result is passed on');
      const prompt = await rpc('prompts/get', { name: 'greet', arguments: { who: 'y'.repeat(300) } });
      assert.equal(prompt.error?.code, -32602);
      assert.match(prompt.error.message, /larger than the limit of 200 bytes/);
    });

    test(`${era}: results that do not conform to the outputSchema are replaced by an error`, async () => {
      assert.deepEqual((await rpc('tools/call', { name: 'sum', arguments: {} })).result.structuredContent, { total: 3 });
      const wrong = (await rpc('tools/call', { name: 'sum', arguments: { mode: 'wrong' } })).result;
      assert.equal(wrong.isError, true);
      assert.equal(wrong.structuredContent, undefined, 'the non-conforming content is not passed on');
      assert.match(wrong.content[0].text, /structuredContent does not conform to the tool's outputSchema: structuredContent.total: must be number|total: must be number/);
      assert.match((await rpc('tools/call', { name: 'sum', arguments: { mode: 'none' } })).result.content[0].text, /returned no structuredContent/);
      assert.equal((await rpc('tools/call', { name: 'sum', arguments: { mode: 'error' } })).result.content[0].text, 'failed', 'a tool error needs no structured content');
    });

    test(`${era}: prompt arguments must be strings and the required ones present`, async () => {
      assert.match((await rpc('prompts/get', { name: 'greet', arguments: {} })).error.message, /missing required prompt argument 'who'/);
      assert.match((await rpc('prompts/get', { name: 'greet', arguments: { who: 3 } })).error.message, /prompt argument 'who' must be a string/);
      assert.ok((await rpc('prompts/get', { name: 'greet', arguments: { who: 'ada' } })).result.messages);
    });

    test(`${era}: resource URIs are checked against what the server declares; traversal is refused before it`, async () => {
      const before = up.uses().length;
      for (const uri of ['mem://docs/../secret', 'mem://docs/%2e%2e/secret', 'mem://docs/a.md%00']) {
        const r = await rpc('resources/read', { uri });
        assert.equal(r.error?.code, -32602, uri);
        assert.match(r.error.message, /^Invalid params: resource URI/);
      }
      assert.equal((await rpc('resources/read', { uri: 'mem://docs/other.md' })).error?.message, 'Resource not found: mem://docs/other.md');
      assert.equal(up.uses().length, before, 'none of these reached the upstream');
      assert.equal((await rpc('resources/read', { uri: 'mem://docs//a.md' })).result.contents[0].uri, 'mem://docs/a.md', 'normalised to the declared URI');
      assert.equal((await rpc('resources/read', { uri: 'mem://items/42' })).result.contents[0].uri, 'mem://items/42', 'a template expansion');
      assert.equal((await rpc('resources/read', { uri: 'mem://items/4/2' })).error?.message, 'Resource not found: mem://items/4/2');
    });
  }
});
