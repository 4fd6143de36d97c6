/**
 * `portcullis stdio` in the 2026-07-28 era at the wire: server/discover, subscriptions/listen with its
 * acknowledgment and subscription-tagged notifications on the shared channel, and cancellation of the subscription.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fixtureArgs, ROOT } from './support/gateway.js';

const META = (extra: Record<string, unknown> = {}) => ({
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  ...extra,
});

test('modern stdio client: discover, listen, a tagged list_changed, cancel', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-stdio-listen-'));
  const cfg = join(dir, 'portcullis.yaml');
  writeFileSync(cfg, `server: { dataDir: ${JSON.stringify(join(dir, 'data'))} }\nstorage: { driver: memory }\npolicy: { rules: [{ effect: allow, principals: { methods: [local] } }] }\nupstreams:\n  fx: { transport: stdio, command: ${JSON.stringify(process.execPath)}, args: ${fixtureArgs('fixtures/conformance-server/main.ts', '--stdio')}, integrity: { unapproved: warn } }\n`);
  const child = spawn(process.execPath, [join(ROOT, 'bin/portcullis.js'), 'stdio', '--config', cfg, '--server', 'fx'], {
    stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, PORTCULLIS_FROM_SOURCE: '1' },
  });
  const messages: any[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => { messages.push(JSON.parse(l)); for (const w of waiters.splice(0)) w(); });
  const send = (m: unknown) => child.stdin!.write(`${JSON.stringify(m)}\n`);
  const until = async <T>(pick: () => T | undefined, ms = 10_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = pick();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out; saw ${JSON.stringify(messages).slice(0, 500)}`);
      await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 100); });
    }
  };
  try {
    send({ jsonrpc: '2.0', id: 'd', method: 'server/discover', params: { _meta: META() } });
    const discover = await until(() => messages.find((m) => m.id === 'd'));
    assert.ok(discover.result.supportedVersions.includes('2026-07-28'));
    assert.equal(discover.result.resultType, 'complete');

    send({ jsonrpc: '2.0', id: 'sub-1', method: 'subscriptions/listen', params: { _meta: META(), notifications: { toolsListChanged: true } } });
    const ack = await until(() => messages.find((m) => m.method === 'notifications/subscriptions/acknowledged'));
    assert.equal(ack.params._meta['io.modelcontextprotocol/subscriptionId'], 'sub-1');
    assert.deepEqual(ack.params.notifications, { toolsListChanged: true });

    send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { _meta: META(), name: 'test_trigger_tool_change', arguments: {} } });
    await until(() => messages.find((m) => m.id === 2));
    const changed = await until(() => messages.find((m) => m.method === 'notifications/tools/list_changed'));
    assert.equal(changed.params._meta['io.modelcontextprotocol/subscriptionId'], 'sub-1');

    send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'sub-1' } });
    const before = messages.filter((m) => m.method === 'notifications/tools/list_changed').length;
    send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { _meta: META(), name: 'test_trigger_tool_change', arguments: {} } });
    await until(() => messages.find((m) => m.id === 3));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(messages.filter((m) => m.method === 'notifications/tools/list_changed').length, before, 'nothing after cancel');
  } finally {
    child.stdin!.end();
    await new Promise((r) => child.once('exit', r));
  }
});
