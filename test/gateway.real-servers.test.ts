/**
 * Real third-party MCP servers from npm behind the gateway, used by the official SDK client in both eras,
 * on per-server endpoints and through a virtual server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { binOf, npmUpstream, startTestGateway } from './support/gateway.js';
import type { RunningGateway } from '../src/gateway.js';

const sample = realpathSync(mkdtempSync(join(tmpdir(), 'pc-fs-')));
writeFileSync(join(sample, 'hello.txt'), 'hello from the sample folder\n');

let gw: RunningGateway;
before(async () => {
  gw = await startTestGateway(`
upstreams:
${npmUpstream('everything', '@modelcontextprotocol/server-everything', ['stdio'])}  memory:
    transport: stdio
    command: ${process.execPath}
    args: [${JSON.stringify(binOf('@modelcontextprotocol/server-memory'))}]
    env: { MEMORY_FILE_PATH: ${JSON.stringify(join(sample, 'memory.jsonl'))} }
  fs:
    transport: stdio
    command: ${process.execPath}
    args: [${JSON.stringify(binOf('@modelcontextprotocol/server-filesystem'))}, ${JSON.stringify(sample)}]
virtualServers:
  default: { upstreams: [everything, memory, fs] }
`);
});
after(async () => { await gw?.close(); });

type Era = 'legacy' | 'modern';
async function connect(path: string, era: Era, capabilities: Record<string, unknown> = {}): Promise<Client> {
  const client = new Client({ name: 'portcullis-test', version: '1.0.0' }, {
    capabilities,
    ...(era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {}),
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(gw.url + path)));
  return client;
}

for (const era of ['legacy', 'modern'] as const) {
  describe(`SDK client, ${era} era`, () => {
    test('server-everything: tools, structuredContent, annotations, resources, prompts, completion, progress', async () => {
      const c = await connect('/servers/everything/mcp', era);
      try {
        const tools = await c.listTools();
        const names = tools.tools.map((t) => t.name);
        assert.ok(names.includes('echo') && names.includes('get-structured-content'), names.join());
        const echo = await c.callTool({ name: 'echo', arguments: { message: 'hi' } });
        assert.deepEqual(echo.content, [{ type: 'text', text: 'Echo: hi' }]);
        const structured = await c.callTool({ name: 'get-structured-content', arguments: { location: 'New York' } });
        assert.ok(structured.structuredContent, 'structuredContent passes through');
        const annotated = tools.tools.find((t) => t.annotations);
        assert.ok(annotated, 'annotations pass through');
        const resources = await c.listResources();
        assert.ok(resources.resources.length > 0);
        const first = resources.resources[0]!;
        const read = await c.readResource({ uri: first.uri });
        assert.equal(read.contents[0]!.uri, first.uri);
        const templates = await c.listResourceTemplates();
        assert.ok(templates.resourceTemplates.length > 0);
        const prompts = await c.listPrompts();
        assert.ok(prompts.prompts.some((p) => p.name === 'simple-prompt'), prompts.prompts.map((p) => p.name).join());
        const got = await c.getPrompt({ name: 'simple-prompt' });
        assert.ok(got.messages.length > 0);
        const args = prompts.prompts.find((p) => p.name === 'args-prompt');
        if (args) {
          const completion = await c.complete({ ref: { type: 'ref/prompt', name: 'args-prompt' }, argument: { name: 'city', value: 'B' } });
          assert.ok(Array.isArray(completion.completion.values));
        }
        const progress: number[] = [];
        const long = await c.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 3 } }, {
          onprogress: (p) => { progress.push(p.progress); },
        });
        assert.ok(!long.isError);
        assert.ok(progress.length >= 2, `progress notifications relayed (${progress.length})`);
      } finally {
        await c.close();
      }
    });

    test('server-memory and server-filesystem through their own endpoints', async () => {
      const mem = await connect('/servers/memory/mcp', era);
      try {
        await mem.callTool({ name: 'create_entities', arguments: { entities: [{ name: `e-${era}`, entityType: 'test', observations: ['seen'] }] } });
        const graph = await mem.callTool({ name: 'read_graph', arguments: {} });
        assert.match(JSON.stringify(graph.content), new RegExp(`e-${era}`));
      } finally { await mem.close(); }
      const fs = await connect('/servers/fs/mcp', era);
      try {
        const r = await fs.callTool({ name: 'read_text_file', arguments: { path: join(sample, 'hello.txt') } });
        assert.match(JSON.stringify(r.content), /hello from the sample folder/);
        const outside = await fs.callTool({ name: 'read_text_file', arguments: { path: '/etc/hostname' } });
        assert.equal(outside.isError, true, 'the upstream still confines itself; its error passes through as isError');
      } finally { await fs.close(); }
    });

    test('virtual server: namespaced tools, prompts and resources from several upstreams', async () => {
      const c = await connect('/mcp', era);
      try {
        const all: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await c.listTools(cursor ? { cursor } : undefined);
          all.push(...page.tools.map((t) => t.name));
          cursor = page.nextCursor;
        } while (cursor);
        assert.ok(all.includes('everything__echo') && all.includes('memory__read_graph') && all.includes('fs__read_text_file'), all.join());
        assert.equal(new Set(all).size, all.length, 'no duplicate names');
        const echo = await c.callTool({ name: 'everything__echo', arguments: { message: 'via virtual' } });
        assert.deepEqual(echo.content, [{ type: 'text', text: 'Echo: via virtual' }]);
        const res = await c.listResources();
        const r0 = res.resources[0]!;
        assert.match(r0.uri, /^portcullis:\/\/everything\//);
        const read = await c.readResource({ uri: r0.uri });
        assert.equal(read.contents[0]!.uri, r0.uri, 'read result carries the namespaced URI');
        const prompts = await c.listPrompts();
        assert.ok(prompts.prompts.some((p) => p.name === 'everything__simple-prompt'));
        await assert.rejects(c.callTool({ name: 'nosuch__echo', arguments: {} }), /Unknown tool|nosuch__echo/);
      } finally { await c.close(); }
    });
  });
}
