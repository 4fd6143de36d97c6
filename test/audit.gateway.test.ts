/**
 * The audit stage in a running gateway: what a request record holds (principal, target, decision, content per
 * audit.content, outcome, latency), bounded records, and that a response is never sent without its record.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { digest } from '../src/core/canonical.js';
import { createLogger } from '../src/core/log.js';
import { AuditLog } from '../src/audit/log.js';
import { memoryKeyStore } from '../src/audit/keys.js';
import { createSqliteAuditStore } from '../src/audit/sqlite.js';
import { verifyLog } from '../src/audit/verify.js';
import type { AuditRecord } from '../src/audit/record.js';
import type { RunningGateway } from '../src/gateway.js';
import { modern, post, startTestGateway } from './support/gateway.js';
import { memoryServer, memoryWires } from './support/memoryUpstream.js';

const ECHO = { name: 'echo', description: 'Echoes its text', inputSchema: { type: 'object', properties: { text: { type: 'string' } } } };
const SECRET = 'AKIAIOSFODNN7EXAMPLE';

const running: RunningGateway[] = [];
after(async () => { for (const g of running) await g.close(); });

async function gateway(yaml = '', audit?: AuditLog): Promise<RunningGateway> {
  const files = memoryServer({ tools: [ECHO, { ...ECHO, name: 'hidden' }], call: (_n, args) => ({ content: [{ type: 'text', text: `echo ${String(args.text)}` }] }) });
  const gw = await startTestGateway(`upstreams:\n  files: { transport: stdio, command: unused }\n${yaml}`, {}, { createWire: memoryWires({ files }), ...(audit && { audit }) });
  running.push(gw);
  return gw;
}

async function call(gw: RunningGateway, name: string, args: Record<string, unknown>) {
  const m = modern('tools/call', { name, arguments: args });
  return (await post(`${gw.url}/servers/files/mcp`, m.body, m.headers)).json();
}

async function records(gw: RunningGateway): Promise<AuditRecord[]> {
  const rows = await gw.gateway.audit!.store.rows(0, 1000);
  return rows.map((r) => ({ ...JSON.parse(r.body), hash: r.hash }));
}

describe('audit stage', () => {
  it('records a call with its principal, target, deciding rules, hashed content, outcome and latency', async () => {
    const gw = await gateway();
    const res = await call(gw, 'echo', { text: 'hello' });
    assert.equal(res.result.content[0].text, 'echo hello');
    const calls = (await records(gw)).filter((r) => r.method === 'tools/call');
    assert.equal(calls.length, 1);
    const r = calls[0]!;
    assert.equal(r.type, 'request');
    assert.equal(r.principal, 'local');
    assert.equal(r.endpoint, 'server:files');
    assert.equal(r.upstream, 'files');
    assert.deepEqual(r.item, { kind: 'tool', name: 'echo', action: 'call' });
    assert.deepEqual(r.decision, { outcome: 'allow', rules: ['tests-allow-everything'] });
    assert.deepEqual(r.arguments, { sha256: digest({ text: 'hello' }) }, 'audit.content defaults to hashes');
    assert.equal(typeof (r.result as { sha256: string }).sha256, 'string');
    assert.equal(r.outcome, 'ok');
    assert.equal(r.era, 'modern');
    assert.ok(typeof r.latencyMs === 'number' && r.latencyMs >= 0);
    assert.ok(Number.isInteger(r.time) && Math.abs(r.time - Date.now()) < 60_000);
    const report = await verifyLog(gw.gateway.audit!.store, new Map());
    assert.equal(report.ok, true, report.problem?.message);
  });

  it('records a refused call with the policy decision and the stage that refused it', async () => {
    const gw = await gateway('policy: { rules: [{ id: only-echo, effect: allow, tools: [files/echo] }] }\n');
    const res = await call(gw, 'hidden', { text: 'x' });
    assert.ok(res.error, 'refused');
    const r = (await records(gw)).find((x) => x.method === 'tools/call')!;
    assert.notEqual(r.outcome, 'ok');
    assert.equal(r.error?.code, r.outcome);
    assert.equal(r.error?.stage, 'policy');
    assert.equal(r.decision?.outcome, 'deny');
  });

  it('redacted: secrets are replaced by markers; guardrail findings are recorded with the refusal', async () => {
    const gw = await gateway('audit: { content: redacted }\n');
    const res = await call(gw, 'echo', { text: `key ${SECRET}` });
    assert.ok(res.error, 'the guardrails refuse a secret in the arguments');
    const rows = await gw.gateway.audit!.store.rows(0, 100);
    assert.ok(!rows.some((x) => x.body.includes(SECRET)), 'the secret is not in the log');
    const r = (await records(gw)).find((x) => x.method === 'tools/call')!;
    assert.deepEqual(r.arguments, { text: 'key [REDACTED:aws-access-key]' });
    assert.equal(r.error?.stage, 'guardrails');
    assert.deepEqual(r.findings?.map((f) => [f.rule, f.direction, f.action]), [['aws-access-key', 'argument', 'block']]);
    // Results go through the same renderer.
    const rendered = gw.gateway.audit!.render({ content: [{ type: 'text', text: `found ${SECRET}` }] }, 'result');
    assert.deepEqual(rendered, { content: [{ type: 'text', text: 'found [REDACTED:aws-access-key]' }] });
  });

  it('full content beyond maxRecordBytes becomes a truncation marker; the record is kept', async () => {
    const gw = await gateway('audit: { content: full, maxRecordBytes: 4096 }\n');
    const big = 'x'.repeat(10_000);
    await call(gw, 'echo', { text: big });
    const r = (await records(gw)).find((x) => x.method === 'tools/call')!;
    assert.deepEqual(r.arguments, { truncated: true, bytes: Buffer.byteLength(JSON.stringify({ text: big })), sha256: digest({ text: big }) });
    assert.equal((r.result as { truncated: boolean }).truncated, true);
    assert.equal(r.outcome, 'ok');
    const rows = await gw.gateway.audit!.store.rows(0, 100);
    assert.ok(rows.every((x) => Buffer.byteLength(x.body) <= 4096));
  });

  it('a response is not sent when its record cannot be written', async () => {
    const store = createSqliteAuditStore(':memory:');
    const failing = Object.assign(Object.create(store), { append: async () => { throw new Error('disk full'); } });
    const gw = await gateway('', new AuditLog({ store: failing, keys: memoryKeyStore(), log: createLogger('silent') }));
    const res = await call(gw, 'echo', { text: 'hello' });
    assert.equal(res.result, undefined, 'no result without its record');
    assert.ok(res.error);
  });

  it('audit.enabled false: no log', async () => {
    const gw = await gateway('audit: { enabled: false }\n');
    assert.equal((await call(gw, 'echo', { text: 'hi' })).result.content[0].text, 'echo hi');
    assert.equal(gw.gateway.audit, undefined);
  });
});
