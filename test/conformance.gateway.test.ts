/**
 * The official MCP conformance suite run THROUGH the gateway's per-server endpoint:
 *  (b) the fixture as a Streamable HTTP upstream, both requirement sets;
 *  (c) the fixture as a stdio upstream, both requirement sets;
 *  (d) the 2026-07-28 set with a legacy-only upstream (era bridging), over HTTP and over stdio.
 * Every scored scenario must pass. Needs `npm run conformance:install`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFixture, type RunningFixture } from '../fixtures/conformance-server/index.js';
import { join } from 'node:path';
import { DEFAULT_EXPECTED_FAILURES, formatReport, runConformance, type RequirementSet } from '../scripts/conformance.js';
import { ROOT } from './support/gateway.js';
import { fixtureArgs, startTestGateway } from './support/gateway.js';
import type { RunningGateway } from '../src/gateway.js';

/** What a 2025-era upstream cannot express to a 2026-07-28 run (see each file's reasons). */
const BRIDGED_HTTP = join(ROOT, 'conformance', 'expected-failures.bridged-http.yaml');
const BRIDGED_STDIO = join(ROOT, 'conformance', 'expected-failures.bridged-stdio.yaml');

async function expectConformant(url: string, requirements: RequirementSet, label: string, expectedFailuresFile = DEFAULT_EXPECTED_FAILURES): Promise<void> {
  const result = await runConformance({ url, requirements, label, expectedFailuresFile });
  const report = formatReport(result);
  assert.ok(result.ok, report);
  assert.ok(result.scored.total > 0, report);
  assert.deepEqual(result.unexpectedFailures, [], report);
}

const node = JSON.stringify(process.execPath);
let dual: RunningFixture;
let legacyOnly: RunningFixture;
let gw: RunningGateway;

before(async () => {
  dual = await startFixture();
  legacyOnly = await startFixture({ legacyOnly: true });
  gw = await startTestGateway(`
upstreams:
  http-fixture: { transport: http, url: ${JSON.stringify(dual.url)} }
  stdio-fixture: { transport: stdio, command: ${node}, args: ${fixtureArgs('fixtures/conformance-server/main.ts', '--stdio')} }
  legacy-http: { transport: http, url: ${JSON.stringify(legacyOnly.url)} }
  legacy-stdio: { transport: stdio, command: ${node}, args: ${fixtureArgs('fixtures/conformance-server/main.ts', '--stdio', '--legacy-only')}, connection: per-session }
`);
});
after(async () => {
  await gw?.close();
  await dual?.close();
  await legacyOnly?.close();
});

const endpoint = (name: string) => `${gw.url}/servers/${name}/mcp`;

describe('conformance through the gateway', () => {
  for (const requirements of ['2025-11-25', '2026-07-28'] as const) {
    it(`(b) HTTP upstream, ${requirements}`, async () => {
      await expectConformant(endpoint('http-fixture'), requirements, `gateway-http-${requirements}`);
    });
    it(`(c) stdio upstream, ${requirements}`, async () => {
      await expectConformant(endpoint('stdio-fixture'), requirements, `gateway-stdio-${requirements}`);
    });
  }
  it('(d) 2026-07-28 client through the gateway to a legacy-only HTTP upstream', async () => {
    await expectConformant(endpoint('legacy-http'), '2026-07-28', 'gateway-bridge-http-2026-07-28', BRIDGED_HTTP);
  });
  it('(d) 2026-07-28 client through the gateway to a legacy-only stdio upstream', async () => {
    await expectConformant(endpoint('legacy-stdio'), '2026-07-28', 'gateway-bridge-stdio-2026-07-28', BRIDGED_STDIO);
  });
});
