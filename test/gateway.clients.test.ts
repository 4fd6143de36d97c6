/**
 * Other real clients and transports: the deprecated HTTP+SSE transport (SDK SSEClientTransport, as 2024-11-05
 * clients use it), the gateway as a stdio server (`portcullis stdio`) in both eras, the Inspector CLI and
 * mcp-remote.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Client, SSEClientTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { binOf, fixtureArgs, ROOT, startTestGateway } from './support/gateway.js';
import type { RunningGateway } from '../src/gateway.js';

const run = promisify(execFile);
const upstreamYaml = `
upstreams:
  chaos: { transport: stdio, command: ${JSON.stringify(process.execPath)}, args: ${fixtureArgs('fixtures/chaos-server.ts')}, integrity: { unapproved: warn } }
  memory: { transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(binOf('@modelcontextprotocol/server-memory'))}], integrity: { unapproved: warn } }
virtualServers:
  default: { upstreams: [chaos, memory] }
`;

let gw: RunningGateway;
before(async () => { gw = await startTestGateway(upstreamYaml); });
after(async () => { await gw?.close(); });

describe('deprecated HTTP+SSE transport (2024-11-05 clients)', () => {
  test('SSE client lists and calls tools on a per-server and the default endpoint', async () => {
    for (const [path, tool] of [['/servers/chaos/sse', 'echo'], ['/sse', 'chaos__echo']] as const) {
      const c = new Client({ name: 'old-client', version: '1' });
      await c.connect(new SSEClientTransport(new URL(gw.url + path)));
      try {
        const tools = await c.listTools();
        assert.ok(tools.tools.some((t) => t.name === tool));
        const r = await c.callTool({ name: tool, arguments: { text: 'over sse' } });
        assert.deepEqual(r.content, [{ type: 'text', text: 'over sse' }]);
      } finally { await c.close(); }
    }
  });
});

describe('portcullis stdio', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-stdio-'));
  const cfg = join(dir, 'portcullis.yaml');
  // stdio serves the local principal; the policy must grant it (the gateway denies by default).
  writeFileSync(cfg, `server: { dataDir: ${JSON.stringify(join(dir, 'data'))} }\nstorage: { driver: memory }\npolicy: { rules: [{ effect: allow, principals: { methods: [local] } }] }\n${upstreamYaml}`);
  for (const era of ['legacy', 'modern'] as const) {
    test(`a ${era} stdio client uses the gateway's virtual server`, async () => {
      const c = new Client({ name: 'stdio-client', version: '1' }, era === 'modern' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {});
      await c.connect(new StdioClientTransport({ command: process.execPath, args: [join(ROOT, 'bin/portcullis.js'), 'stdio', '--config', cfg], stderr: 'ignore', env: { ...process.env, PORTCULLIS_FROM_SOURCE: '1' } as Record<string, string> }));
      try {
        const tools = await c.listTools();
        assert.ok(tools.tools.some((t) => t.name === 'memory__read_graph'));
        const r = await c.callTool({ name: 'chaos__echo', arguments: { text: `stdio ${era}` } });
        assert.deepEqual(r.content, [{ type: 'text', text: `stdio ${era}` }]);
      } finally { await c.close(); }
    });
  }
});

describe('third-party clients', () => {
  test('Inspector CLI lists and calls tools through the gateway', async () => {
    const cli = join(binOf('@modelcontextprotocol/inspector-cli'), '..', 'index.js');
    const list = await run(process.execPath, [cli, `${gw.url}/mcp`, '--transport', 'http', '--method', 'tools/list'], { timeout: 60_000, cwd: dirname(cli) });
    assert.match(list.stdout, /chaos__echo/);
    const call = await run(process.execPath, [cli, `${gw.url}/servers/chaos/mcp`, '--transport', 'http', '--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', 'text=from-inspector'], { timeout: 60_000, cwd: dirname(cli) });
    assert.match(call.stdout, /from-inspector/);
  });

  test('mcp-remote bridges a stdio host to the gateway', async () => {
    const c = new Client({ name: 'host', version: '1' });
    await c.connect(new StdioClientTransport({
      command: process.execPath,
      args: [binOf('mcp-remote', 'mcp-remote'), `${gw.url}/servers/chaos/mcp`, '--transport', 'http-only', '--allow-http'],
      stderr: 'ignore',
      env: { ...process.env, MCP_REMOTE_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'pc-remote-')) } as Record<string, string>,
    }));
    try {
      const r = await c.callTool({ name: 'echo', arguments: { text: 'via mcp-remote' } });
      assert.deepEqual(r.content, [{ type: 'text', text: 'via mcp-remote' }]);
    } finally { await c.close(); }
  });
});
