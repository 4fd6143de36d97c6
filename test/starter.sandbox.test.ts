/**
 * The newcomer's first run: `portcullis init` then the gateway on the starter configuration, with both reference
 * servers sandboxed as shipped. The filesystem server writes into ./sample and the memory server keeps its graph in
 * its own sandbox folder; neither can write anywhere else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { writeStarter } from '../src/config/starter.js';
import { loadConfigFile } from '../src/config/load.js';
import { startGateway } from '../src/gateway.js';
import { createLogger } from '../src/core/log.js';
import type { GatewayConfig } from '../src/config/types.js';

test('the starter servers work sandboxed: files in ./sample, the memory graph in its own folder', async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'pc-starter-')));
  // A project folder as a newcomer has one (mkdtemp makes it 0700, which the unprivileged sandbox user cannot enter).
  chmodSync(dir, 0o755);
  const { configPath } = await writeStarter(dir);
  const loaded = await loadConfigFile(configPath);
  // The starter turns authentication on; this test is about the servers, so it talks to them without a token.
  const config = { ...structuredClone(loaded), auth: { ...loaded.auth, mode: 'none' }, server: { ...loaded.server, port: 0 }, policy: { rules: [{ id: 'all', effect: 'allow' }] } } as GatewayConfig;
  const gw = await startGateway(config, { logger: createLogger('silent') });
  const connect = async (server: string) => {
    const c = new Client({ name: 'newcomer', version: '1' });
    await c.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/servers/${server}/mcp`)));
    return c;
  };
  try {
    const files = await connect('filesystem');
    const wrote = await files.callTool({ name: 'write_file', arguments: { path: join(dir, 'sample', 'note.txt'), content: 'hello' } });
    assert.notEqual(wrote.isError, true, JSON.stringify(wrote));
    assert.equal(readFileSync(join(dir, 'sample', 'note.txt'), 'utf8'), 'hello');
    const outside = await files.callTool({ name: 'write_file', arguments: { path: join(dir, 'escape.txt'), content: 'x' } });
    assert.equal(outside.isError, true);
    assert.equal(existsSync(join(dir, 'escape.txt')), false);
    await files.close();

    const memory = await connect('memory');
    const created = await memory.callTool({ name: 'create_entities', arguments: { entities: [{ name: 'portcullis', entityType: 'project', observations: ['a gateway'] }] } });
    assert.notEqual(created.isError, true, JSON.stringify(created));
    assert.match(readFileSync(join(dir, 'data', 'sandbox', 'memory', 'memory.jsonl'), 'utf8'), /"portcullis"/);
    await memory.close();
  } finally {
    await gw.close();
  }
});
