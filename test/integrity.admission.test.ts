/**
 * Admission end to end: an upstream must be approved before its tools are listed or called, and a tool that
 * changes after approval (with or without tools/list_changed) is quarantined until the operator approves again.
 * Both client eras: a stateless 2026-07-28 client, and a 2025-11-25 client in a session.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fixtureArgs, modern, post, startTestGateway } from './support/gateway.js';
import type { RunningGateway } from '../src/gateway.js';
import { approveServer, fetchDefinitions, formatReview, reviewServer } from '../src/integrity/review.js';
import { createScanner } from '../src/integrity/scanner.js';
import { Admission } from '../src/integrity/admission.js';
import { toolItem } from '../src/integrity/definitions.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { createLogger } from '../src/core/log.js';
import type { UpstreamIntegrityConfig } from '../src/config/types.js';
import { Catalog } from '../src/upstream/catalog.js';

const yaml = (recheckMs: number) => `upstreams:
  rp:
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: ${fixtureArgs('fixtures/rugpull-server.ts')}
    integrity: { unapproved: block, recheckMs: ${recheckMs} }
`;

type Era = 'modern' | 'legacy';
/** The session of the legacy-era client (opened once per gateway). */
const sessions = new WeakMap<RunningGateway, Record<string, string>>();
let era: Era = 'modern';
let seq = 10;

async function openSession(gw: RunningGateway): Promise<void> {
  const url = `${gw.url}/servers/rp/mcp`;
  const init = await post(url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'legacy', version: '1' } } });
  const h = { 'mcp-session-id': init.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
  await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, h);
  sessions.set(gw, h);
}

async function rpc(gw: RunningGateway, method: string, params: Record<string, unknown> = {}) {
  const url = `${gw.url}/servers/rp/mcp`;
  if (era === 'legacy') return (await post(url, { jsonrpc: '2.0', id: ++seq, method, params }, sessions.get(gw)!)).json();
  const { body, headers } = modern(method, params);
  return (await post(url, body, headers)).json();
}

const toolNames = async (gw: RunningGateway) => ((await rpc(gw, 'tools/list')).result.tools as { name: string }[]).map((t) => t.name).sort();

async function approve(gw: RunningGateway): Promise<string> {
  const conn = await gw.gateway.upstreams.get('rp')!.acquire();
  const current = await fetchDefinitions((m, p) => conn.request(m, p), conn.info?.capabilities);
  const review = await reviewServer(gw.gateway.storage.records, createScanner(), { server: 'rp', current, others: new Map(), virtualServers: new Map() });
  await approveServer(gw.gateway.storage.records, 'rp', current);
  gw.gateway.admission.invalidate();
  return formatReview(review);
}

for (const clientEra of ['modern', 'legacy'] as const) for (const recheckMs of [0, 60_000]) {
  describe(`admission and rug-pull quarantine (${clientEra} client, recheckMs ${recheckMs})`, () => {
    let gw: RunningGateway;
    before(async () => {
      era = clientEra;
      gw = await startTestGateway(yaml(recheckMs));
      if (clientEra === 'legacy') await openSession(gw);
    });
    after(async () => { await gw.close(); });

    it('hides and refuses an unapproved server, with the command that approves it', async () => {
      assert.deepEqual(await toolNames(gw), []);
      const r = await rpc(gw, 'tools/call', { name: 'greet', arguments: { who: 'a' } });
      assert.equal(r.error.message.startsWith('Quarantined'), true, JSON.stringify(r));
      assert.match(r.error.message, /portcullis servers approve rp/);
    });

    it('lists and calls the approved tools', async () => {
      const review = await approve(gw);
      assert.match(review, /rp: not approved yet/);
      assert.deepEqual(await toolNames(gw), ['flip', 'greet']);
      assert.equal((await rpc(gw, 'tools/call', { name: 'greet', arguments: { who: 'a' } })).result.content[0].text, 'hello a');
    });

    for (const notify of [true, false]) {
      it(`quarantines a tool changed mid-session ${notify ? 'with' : 'without'} tools/list_changed until it is approved again`, async () => {
        await rpc(gw, 'tools/call', { name: 'flip', arguments: { notify } });
        await new Promise((r) => setTimeout(r, 200));
        // The call path checks the definition: refreshed on list_changed, or re-fetched when older than recheckMs
        // (with the long recheck and no notification, the re-list below is what brings the new definition in).
        if (!notify && recheckMs !== 0) assert.deepEqual(await toolNames(gw), ['flip']);
        const call = await rpc(gw, 'tools/call', { name: 'greet', arguments: { who: 'a', key: 'x' } });
        assert.equal(call.result, undefined, `the changed tool must not be called: ${JSON.stringify(call)}`);
        assert.match(call.error.message, /^Quarantined: tool "greet"/);
        assert.deepEqual(await toolNames(gw), ['flip']);
        // The operator reviews the diff, then approves: the tool is back.
        const review = await approve(gw);
        assert.match(review, /tool greet: changed \(high\)/);
        assert.match(review, /annotation-changed/);
        assert.match(review, /param-added-required/);
        assert.deepEqual(await toolNames(gw), ['flip', 'greet']);
        const ok = await rpc(gw, 'tools/call', { name: 'greet', arguments: { who: 'a', key: 'x' } });
        assert.match(ok.result.content[0].text, /^hello a/);
        // Flip back (approved again) for the next case.
        await rpc(gw, 'tools/call', { name: 'flip', arguments: { notify: true } });
        await new Promise((r) => setTimeout(r, 200));
        await approve(gw);
      });
    }
  });
}

describe('admission units', () => {
  it('a tool name offered by two approved servers is admitted with a collision warning', async () => {
    const storage = createMemoryStorage();
    const read = { name: 'read', description: 'Reads a file.', inputSchema: { type: 'object' } };
    await approveServer(storage.records, 'a', [toolItem(read)]);
    await approveServer(storage.records, 'b', [toolItem({ ...read, description: 'Reads a record.' }), toolItem({ name: 'only_b', description: 'Other.', inputSchema: { type: 'object' } })]);
    const cfg: UpstreamIntegrityConfig = { unapproved: 'block', allowTightening: false, findings: { low: 'warn', medium: 'warn', high: 'quarantine', critical: 'block' }, recheckMs: 0 };
    const admission = new Admission({ records: storage.records, log: createLogger('silent'), config: () => cfg });
    await admission.ready();
    const v = admission.judge('b', 'tool', { ...read, description: 'Reads a record.' });
    assert.equal(v.ok, true);
    assert.match(v.reason ?? '', /also offered by another approved server/);
    assert.equal(admission.judge('b', 'tool', { name: 'only_b', description: 'Other.', inputSchema: { type: 'object' } }).reason, undefined);
    await storage.close();
  });

  it('a call is checked against a tool list fetched after it arrived; concurrent calls share one fetch', async () => {
    let lists = 0;
    let version = 0;
    const release: Array<() => void> = [];
    const request = async (method: string) => {
      assert.equal(method, 'tools/list');
      lists++;
      const seen = version;
      await new Promise<void>((r) => release.push(r));
      return { tools: [{ name: 't', description: `v${seen}`, inputSchema: { type: 'object' } }] };
    };
    const cat = new Catalog('up', createLogger('silent'), request, () => ({ tools: {} }));
    const arrived = performance.now();
    const burst = Array.from({ length: 10 }, () => cat.refreshTools(arrived));
    assert.equal(lists, 1, 'ten calls that arrived together share one tools/list');
    version = 1; // the upstream changes after that fetch went out
    const late = cat.refreshTools(performance.now());
    assert.equal(lists, 2, 'a call arriving after the fetch started gets a fetch of its own');
    release.shift()!();
    await Promise.all(burst);
    assert.equal(cat.tools.peek('t')?.definition.description, 'v0');
    release.shift()!();
    await late;
    assert.equal(cat.tools.peek('t')?.definition.description, 'v1', 'the late call sees the changed definition');
  });
});
