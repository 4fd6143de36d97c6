/**
 * False positives on real definitions: the official MCP servers installed from npm (filesystem, memory, everything)
 * are spawned over stdio, listed, and scanned; honest definitions must raise nothing of high or critical severity.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countBySeverity, scanRealServers } from '../scripts/integrity-real-servers.js';

test('official servers\' tools, prompts, resources and templates raise no high or critical finding', { timeout: 60_000 }, async (t) => {
  const reports = await scanRealServers();
  assert.deepEqual(reports.map((r) => r.server), ['filesystem', 'memory', 'everything']);
  for (const r of reports) {
    assert.ok(r.items > 0 && r.fields > 0, `${r.server} listed nothing`);
    const counts = countBySeverity(r.findings);
    t.diagnostic(`${r.server}: ${r.items} items, ${r.fields} fields, findings ${JSON.stringify(counts)}`);
    assert.deepEqual(r.findings.filter((f) => f.severity === 'high' || f.severity === 'critical').map((f) => `${f.item}: ${f.rule} at ${f.path}`), []);
  }
});
