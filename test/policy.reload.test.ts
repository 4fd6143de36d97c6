/**
 * Hot reload of the policy: a changed configuration file is validated and swapped in at once; clients are told
 * their lists may have changed (legacy GET stream, modern subscriptions/listen); a broken file is rejected with its
 * reasons and the old policy stays in force; a call already past the policy finishes under the policy it started
 * with; settings only a restart applies are reported, not applied.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { loadConfigFile } from '../src/config/load.js';
import { pino } from 'pino';
import { startGateway, type ReloadOutcome, type RunningGateway } from '../src/gateway.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { reloadOnChange } from '../src/cli/reload.js';
import { modern, post } from './support/gateway.js';
import { memoryServer, memoryWires } from './support/memoryUpstream.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-reload-'));
const file = join(dir, 'portcullis.yaml');
let release: () => void = () => {};
const up = memoryServer({
  tools: [{ name: 'alpha', inputSchema: { type: 'object' } }, { name: 'beta', inputSchema: { type: 'object' } }, { name: 'slow', inputSchema: { type: 'object' } }],
  call: async (name) => {
    if (name === 'slow') await new Promise<void>((r) => { release = r; });
    return { content: [{ type: 'text', text: `${name} done` }] };
  },
});
const config = (tools: string, extra = '') => `server: { port: 0, dataDir: ${JSON.stringify(join(dir, 'data'))} }
auth: { mode: none }
storage: { driver: memory }
upstreams:
  up: { transport: stdio, command: unused, integrity: { unapproved: warn } }
policy:
  rules:
    - id: grant
      effect: allow
      tools: ${tools}
${extra}`;

let gw: RunningGateway;
let stop: () => void;
const outcomes: Array<ReloadOutcome | Error> = [];
const logs: string[] = [];

before(async () => {
  writeFileSync(file, config('[up/alpha, up/slow]'));
  const logger = pino({ level: 'info' }, { write: (line: string) => { logs.push(line); } });
  gw = await startGateway(await loadConfigFile(file), { logger, storage: createMemoryStorage(), createWire: memoryWires({ up }) });
  stop = reloadOnChange(file, gw.gateway, logger, { intervalMs: 50, onReload: (o) => outcomes.push(o) });
});
after(async () => {
  stop?.();
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

const url = () => `${gw.url}/servers/up/mcp`;
const names = async () => {
  const m = modern('tools/list');
  return ((await post(url(), m.body, m.headers)).json().result.tools as Array<{ name: string }>).map((t) => t.name).sort();
};
const call = async (name: string) => {
  const m = modern('tools/call', { name, arguments: {} });
  return (await post(url(), m.body, m.headers)).json();
};
const waitFor = async (ok: () => boolean, what: string, ms = 5000) => {
  for (const end = Date.now() + ms; !ok(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
};
/** Rewrites the file and waits for the watcher to have reloaded it. */
async function rewrite(text: string): Promise<ReloadOutcome | Error> {
  const n = outcomes.length;
  // A different size as well as a later mtime, so the change is seen even within one mtime tick.
  writeFileSync(file, `${text}\n# ${Date.now()}${'-'.repeat(n)}\n`);
  await waitFor(() => outcomes.length > n, 'a reload');
  return outcomes.at(-1)!;
}

test('a changed policy is applied at once and clients are told their lists changed', async () => {
  assert.deepEqual(await names(), ['alpha', 'slow']);
  const seen: string[] = [];
  const c = new Client({ name: 'reload', version: '1' });
  c.setNotificationHandler('notifications/tools/list_changed', () => { seen.push('legacy'); });
  await c.connect(new StreamableHTTPClientTransport(new URL(url())));
  const listen = modern('subscriptions/listen', { notifications: { toolsListChanged: true } }, 'listen');
  const ac = new AbortController();
  const res = await fetch(url(), { method: 'POST', body: JSON.stringify(listen.body), signal: ac.signal, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...listen.headers } });
  const reader = res.body!.getReader();
  let streamed = '';
  void (async () => { for (;;) { const { value, done } = await reader.read(); if (done) return; streamed += new TextDecoder().decode(value); } })().catch(() => {});
  try {
    await new Promise((r) => setTimeout(r, 300)); // the SDK opens its GET stream after initialize
    const generation = gw.gateway.rules.generation;
    const o = await rewrite(config('[up/beta, up/slow]'));
    assert.ok(!(o instanceof Error), String(o));
    assert.equal(o.changed, true);
    assert.deepEqual(o.restartNeeded, []);
    assert.equal(gw.gateway.rules.generation, generation + 1);
    assert.deepEqual(await names(), ['beta', 'slow']);
    assert.equal((await call('alpha')).error?.message, 'Unknown tool: alpha');
    await waitFor(() => seen.includes('legacy'), 'list_changed on the legacy session');
    await waitFor(() => streamed.includes('notifications/tools/list_changed'), 'list_changed on the listen stream');
    assert.match(streamed, /"io\.modelcontextprotocol\/subscriptionId":"listen"/);
    assert.ok(logs.some((l) => l.includes('configuration reloaded')));
  } finally {
    ac.abort();
    await c.close();
  }
});

test('a broken file is rejected with its reasons, and the policy in force stays', async () => {
  const before = gw.gateway.rules.generation;
  const broken = await rewrite(config('[up/beta]', '    - id: bad\n      effect: allow\n      when: "principal.rols == 1"\n'));
  assert.ok(broken instanceof Error);
  assert.match(broken.message, /policy\.rules\[1\]\.when: rule "bad": principal has no field 'rols' \(did you mean 'roles'\?\)/);
  assert.match(broken.message, /portcullis\.yaml:\d+:\d+/, 'the reason names the line');
  assert.equal(gw.gateway.rules.generation, before);
  assert.deepEqual(await names(), ['beta', 'slow']);
  assert.ok(logs.some((l) => l.includes('configuration reload rejected') && l.includes('rols')));
  const yamlError = await rewrite('policy: [unclosed');
  assert.ok(yamlError instanceof Error);
  assert.deepEqual(await names(), ['beta', 'slow']);
});

test('a call already past the policy finishes under the policy it started with', async () => {
  const pending = call('slow');
  await waitFor(() => up.requests.some((r) => r.method === 'tools/call' && r.params?.name === 'slow'), 'the slow call upstream');
  const o = await rewrite(config('[up/beta]'));
  assert.ok(!(o instanceof Error));
  assert.equal((await call('slow')).error?.message, 'Unknown tool: slow', 'a new call gets the new policy');
  release();
  assert.deepEqual((await pending).result?.content, [{ type: 'text', text: 'slow done' }]);
});

test('settings only a restart applies are reported, not applied', async () => {
  const o = await rewrite(config('[up/beta]').replace('storage: { driver: memory }', 'storage: { driver: memory }\nsessions: { max: 5 }'));
  assert.ok(!(o instanceof Error));
  assert.deepEqual(o.restartNeeded, ['sessions']);
  assert.equal(gw.gateway.config.sessions.max, 1000);
  assert.ok(logs.some((l) => l.includes('take effect only after a restart')));
});
