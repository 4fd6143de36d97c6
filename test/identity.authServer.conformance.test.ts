/**
 * The official MCP conformance suite's authorization-server scenarios against the built-in authorization server:
 *
 *   - authorization-server-metadata-endpoint: the RFC 8414 / OIDC discovery documents;
 *   - authorization-code-grant: the suite prints an authorization URL and waits for the callback on
 *     http://127.0.0.1:PORT/callback; headless Chromium signs in and allows access on the real pages.
 *
 * authorization-code-grant reads the metadata found by the metadata scenario earlier in the same run, so with
 * `--scenario authorization-code-grant` alone it always fails ("Invalid authorization server metadata", suite
 * 0.2.0-alpha.12); it is run here as the suite runs it by default: both scenarios in order, without --scenario.
 *
 * Every check must be SUCCESS. Needs `npm run conformance:install`.
 *
 *   node --import tsx --test test/identity.authServer.conformance.test.ts
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { conformanceTools } from '../scripts/conformance.js';
import { launchBrowser } from './support/oauthBrowser.js';
import { PASSWORD, startTestAuthServer, type TestAuthServer } from './support/oauthHarness.js';

interface Check { id: string; status: string; errorMessage?: string }

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Runs the suite; `onLine` sees its output as it comes (to find the authorization URL). Checks of every scenario run. */
function runSuite(args: string[], onLine: (line: string) => void = () => {}): Promise<{ code: number | null; output: string; checks: Check[] }> {
  const { node, cli } = conformanceTools();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-as-conformance-'));
  const child = spawn(node, [cli, 'authorization', ...args, '-o', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let pending = '';
  const take = (d: Buffer) => {
    output += d;
    pending += d;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) onLine(line);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
      const checks = walk(dir).filter((f) => f.endsWith('checks.json')).flatMap((f) => JSON.parse(readFileSync(f, 'utf8')) as Check[]);
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, output, checks });
    });
  });
}

describe('MCP conformance suite: authorization server scenarios', () => {
  let t: TestAuthServer;
  let browser: Browser;
  let port: number;

  before(async () => {
    port = await freePort();
    t = await startTestAuthServer({ config: { clients: [{ clientId: 'conformance-client', clientName: 'MCP conformance suite', redirectUris: [`http://127.0.0.1:${port}/callback`] }] } });
    await t.as.users.add('alice', { groups: ['approver'], password: PASSWORD });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it('authorization-server-metadata-endpoint', async () => {
    const r = await runSuite(['--url', t.issuer, '--scenario', 'authorization-server-metadata-endpoint']);
    assert.equal(r.code, 0, r.output);
    assert.ok(r.checks.length >= 2, r.output);
    for (const c of r.checks) assert.equal(c.status, 'SUCCESS', `${c.id}: ${c.errorMessage ?? ''}\n${r.output}`);
  });

  it('authorization-code-grant, after the metadata scenario in the same run (signed in and allowed in the browser)', async () => {
    let drive: Promise<void> | undefined;
    const r = await runSuite(['--url', t.issuer, '--client-id', 'conformance-client', '--resource', t.resource, '--port', String(port)], (line) => {
      const url = line.trim();
      if (drive || !url.startsWith(`${t.issuer}/auth?`)) return;
      drive = (async () => {
        const page = await browser.newPage();
        try {
          await page.goto(url);
          await page.fill('#username', 'alice');
          await page.fill('#password', PASSWORD);
          await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
          await Promise.all([page.waitForURL(`http://127.0.0.1:${port}/callback**`), page.click('button[value=allow]')]);
        } finally {
          await page.close();
        }
      })();
    });
    assert.ok(drive, `no authorization URL printed:\n${r.output}`);
    await drive;
    assert.equal(r.code, 0, r.output);
    assert.deepEqual(r.checks.map((c) => c.id).sort(), ['authorization-code-grant', 'authorization-server-metadata', 'authorization-server-metadata-cimd'], r.output);
    for (const c of r.checks) assert.equal(c.status, 'SUCCESS', `${c.id}: ${c.errorMessage ?? ''}\n${r.output}`);
  });
});
