/**
 * Runs the official MCP conformance suite (tools/conformance) directly against
 * the conformance fixture over Streamable HTTP:
 *
 * - the dual-era fixture, under the 2025-11-25 and the 2026-07-28 requirement sets;
 * - the legacy-only fixture, under the 2025-11-25 requirement set.
 *
 * Every scored scenario must pass (conformance/expected-failures.yaml lists
 * suite defects only, and is empty). Needs `npm run conformance:install`.
 *
 *   node --import tsx --test test/conformance.direct.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { startFixture, type RunningFixture } from '../fixtures/conformance-server/index.js';
import {
  conformanceTools,
  DEFAULT_EXPECTED_FAILURES,
  formatReport,
  judge,
  runConformance,
  type Check,
  type RequirementSet,
  type ScenarioOutcome
} from '../scripts/conformance.js';

const installProblem = ((): string | undefined => {
  try {
    conformanceTools();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
})();

function requireSuite(): void {
  if (installProblem !== undefined) assert.fail(installProblem);
}

async function expectConformant(url: string, requirements: RequirementSet, label: string, scoredCount: number): Promise<void> {
  requireSuite();
  const result = await runConformance({ url, requirements, label, expectedFailuresFile: DEFAULT_EXPECTED_FAILURES });
  const report = formatReport(result);
  assert.ok(result.ok, report);
  assert.equal(result.scored.total, scoredCount, report);
  assert.equal(result.scored.failed, 0, report);
  assert.deepEqual(result.unexpectedFailures, [], report);
  assert.deepEqual(result.expectedFailures, [], report);
}

describe('conformance: dual-era fixture over HTTP', () => {
  let fixture: RunningFixture;
  before(async () => {
    fixture = await startFixture();
  });
  after(async () => {
    await fixture?.close();
  });

  it('passes every scored 2025-11-25 scenario', async () => {
    await expectConformant(fixture.url, '2025-11-25', 'direct-dual-2025-11-25', 30);
  });

  it('passes every scored 2026-07-28 scenario', async () => {
    await expectConformant(fixture.url, '2026-07-28', 'direct-dual-2026-07-28', 37);
  });
});

describe('conformance: legacy-only fixture over HTTP', () => {
  let fixture: RunningFixture;
  before(async () => {
    fixture = await startFixture({ legacyOnly: true });
  });
  after(async () => {
    await fixture?.close();
  });

  it('passes every scored 2025-11-25 scenario', async () => {
    await expectConformant(fixture.url, '2025-11-25', 'direct-legacy-only-2025-11-25', 30);
  });

  it('refuses 2026-07-28 requests as a 2025-era server does', async () => {
    const meta = {
      'io.modelcontextprotocol/protocolVersion': '2026-07-28',
      'io.modelcontextprotocol/clientInfo': { name: 'direct-test', version: '1.0.0' },
      'io.modelcontextprotocol/clientCapabilities': {}
    };
    const response = await fetch(fixture.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2026-07-28',
        'mcp-method': 'server/discover'
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: meta } })
    });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error?: { code?: number } };
    assert.equal(body.error?.code, -32000);

    // `initialize` asking for 2026-07-28 is answered with the newest 2025-era revision.
    const init = await fetch(fixture.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2026-07-28', capabilities: {}, clientInfo: { name: 'direct-test', version: '1.0.0' } }
      })
    });
    assert.equal(init.status, 200);
    const sessionId = init.headers.get('mcp-session-id');
    assert.ok(sessionId);
    const text = await init.text();
    assert.match(text, /"protocolVersion":"2025-11-25"/);
    const deleted = await fetch(fixture.url, {
      method: 'DELETE',
      headers: { 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' }
    });
    assert.equal(deleted.status, 200);
  });
});

describe('conformance runner: judging a run', () => {
  const outcome = (scenario: string, checks: Check[], scored = true): ScenarioOutcome => ({
    scenario,
    scored,
    passed: checks.filter(c => c.status === 'SUCCESS').length,
    failed: checks.filter(c => c.status === 'FAILURE').length,
    warnings: checks.filter(c => c.status === 'WARNING').length,
    failures: checks.filter(c => c.status === 'FAILURE').map(c => ({ id: c.id })),
    warningChecks: []
  });
  const entry = (scenario: string, check?: string) => ({ scenario, ...(check ? { check } : {}), reason: 'r', spec: 's' });

  it('separates unexpected, expected and stale entries', () => {
    const checks = new Map<string, Check[]>([
      ['a', [{ id: 'a1', status: 'FAILURE' }, { id: 'a2', status: 'SUCCESS' }]],
      ['b', [{ id: 'b1', status: 'SUCCESS' }]],
      ['c', [{ id: 'c1', status: 'FAILURE' }, { id: 'c2', status: 'FAILURE' }]],
      ['d', [{ id: 'd1', status: 'WARNING' }]],
      ['u', [{ id: 'u1', status: 'FAILURE' }]]
    ]);
    const scenarios = [...checks].map(([name, list]) => outcome(name, list, name !== 'u'));
    const verdict = judge(scenarios, checks, [entry('a', 'a1'), entry('b'), entry('c', 'c1'), entry('c', 'gone'), entry('zz')]);
    assert.deepEqual(verdict.expectedFailures, ['a:a1', 'c:c1']);
    assert.deepEqual(verdict.staleEntries, ['b']);
    assert.deepEqual(verdict.unexpectedFailures, ['c:c2']);
    assert.equal(verdict.problems.length, 1);
    assert.match(verdict.problems[0] ?? '', /zz/);
  });

  it('flags a per-check entry whose check now passes', () => {
    const checks = new Map<string, Check[]>([['a', [{ id: 'a1', status: 'SUCCESS' }]]]);
    const verdict = judge([outcome('a', checks.get('a')!)], checks, [entry('a', 'a1')]);
    assert.deepEqual(verdict.staleEntries, ['a:a1']);
  });
});
