/**
 * The web console in a real browser (Debian's Chromium through playwright-core), against a real gateway with the
 * built-in authorization server: sign in through its pages, approve a pending call and see the client's call
 * complete, find it in the audit log, review a drifted tool (the rug-pull fixture) and re-approve it, revoke a
 * session and see the client's next request fail; an auditor cannot approve, and a state-changing request without
 * the CSRF token is refused; a user without a console role sees only their own Accounts page, connects an upstream
 * account there (through an OAuth-protected upstream's own sign-in) and disconnects it. Screenshots of each step are
 * kept under artifacts/console/.
 *
 * MCP clients authenticate with tokens of a test issuer (configured beside the built-in server), so the caller and
 * the console users are different principals (four eyes).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ROOT, fixtureArgs, post, startTestGateway } from './support/gateway.js';
import { launchBrowser } from './support/oauthBrowser.js';
import { startTestIssuer, type TestIssuer } from './support/issuer.js';
import type { RunningGateway } from '../src/gateway.js';
import type { AuthServer } from '../src/identity/authServer/index.js';
import { approveReviewed, definitionsOf, reviewDigest } from '../src/console/servers.js';
import { startProtectedUpstream, type ProtectedUpstream } from './support/protectedUpstream.js';
import { parseConfig } from '../src/config/load.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { vaultFor } from '../src/vault/resolve.js';
import { UserTokenStore } from '../src/credentials/tokenStore.js';

// Per-user upstream tokens live in the vault.
process.env.PORTCULLIS_VAULT_KEY ??= randomBytes(32).toString('base64');

const PASSWORD = 'correct horse battery staple';
const SHOTS = join(ROOT, 'artifacts', 'console');

let iss: TestIssuer;
let gw: RunningGateway;
let browser: Browser;

before(async () => {
  const b = spawnSync(process.execPath, ['scripts/build-console.mjs'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  mkdirSync(SHOTS, { recursive: true });
  iss = await startTestIssuer();
  gw = await startTestGateway(`auth:
  mode: oauth
  issuers:
    - { issuer: ${JSON.stringify(iss.issuer)}, allowPrivateNetworks: true }
policy:
  rules:
    - { id: everyone, effect: allow }
    - { id: greetings, effect: approval, tools: ["fs/greet"], description: "greetings need a second pair of eyes" }
approvals: { waitSeconds: 2 }
upstreams:
  fs:
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: ${fixtureArgs('fixtures/rugpull-server.ts')}
    integrity: { unapproved: warn }
  rp:
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: ${fixtureArgs('fixtures/rugpull-server.ts')}
    integrity: { unapproved: block, recheckMs: 0 }
`);
  const users = (gw.http.identity.authServer as AuthServer).users;
  await users.add('bob', { groups: ['approver', 'auditor'], password: PASSWORD });
  await users.add('root', { groups: ['admin'], password: PASSWORD });
  await users.add('carol', { groups: ['auditor'], password: PASSWORD });
  await users.add('dave', { groups: ['staff'], password: PASSWORD });
  // The operator approved the rug-pull server before it pulled the rug.
  await approveReviewed(gw.gateway, 'rp', reviewDigest(await definitionsOf(gw.gateway, 'rp')), 'setup');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await gw?.close();
  await iss?.close();
});

const tokenFor = (server: string) => iss.sign({ sub: 'alice', scope: 'mcp', client_id: 'alice-agent' }, { aud: `${gw.url}/servers/${server}/mcp` });

async function mcpClient(server: string): Promise<Client> {
  const client = new Client({ name: 'alice-agent', version: '1' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${gw.url}/servers/${server}/mcp`), { requestInit: { headers: { authorization: `Bearer ${await tokenFor(server)}` } } }));
  return client;
}

/** Signs in through the authorization server's pages (of the gateway at `base`); returns the console page. */
async function signIn(context: BrowserContext, username: string, shot?: string, base = gw.url): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${base}/console/`);
  await page.waitForSelector('form[action$="/login"]');
  if (shot) await page.screenshot({ path: join(SHOTS, `${shot}-login.png`) });
  await page.fill('#username', username);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  // Consent is asked once per account; after that the sign-in goes straight back to the console.
  await page.waitForSelector('form[action$="/consent"], #who');
  if (await page.$('form[action$="/consent"]')) {
    if (shot) await page.screenshot({ path: join(SHOTS, `${shot}-consent.png`) });
    await page.click('button[value=allow]');
  }
  await page.waitForSelector('#who');
  assert.equal(new URL(page.url()).pathname, '/console/');
  return page;
}

describe('the console in Chromium', () => {
  it('signs in an approver, who approves a pending call; the client\'s call completes; it is in the audit log', async () => {
    const context = await browser.newContext();
    try {
      const page = await signIn(context, 'bob', '01-signin');
      assert.match((await page.textContent('#who'))!, /bob · approver, auditor/);
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === '__Host-portcullis.console')!;
      assert.deepEqual([session.httpOnly, session.secure, session.sameSite, session.path], [true, true, 'Strict', '/']);
      assert.equal(await page.evaluate('document.cookie.includes("portcullis.console")'), false, 'not readable by scripts');

      const client = await mcpClient('fs');
      try {
        const done = client.callTool({ name: 'greet', arguments: { who: '<img src=x onerror=alert(1)>' } });
        // The queue updates by itself (server-sent events): no reload.
        const card = await page.waitForSelector('article.approval.pending', { timeout: 15_000 });
        assert.match((await card.textContent())!, /greet on fs.*Calleralice.*Clientalice-agent.*greetings need a second pair of eyes/s);
        assert.match((await card.$eval('pre.args', (e) => e.textContent))!, /<img src=x onerror=alert\(1\)>/, 'arguments shown as text');
        assert.equal(await page.$('article.approval img'), null, 'never as markup');
        await page.screenshot({ path: join(SHOTS, '02-approvals-pending.png'), fullPage: true });
        await page.fill('article.approval.pending input', 'checked with alice');
        await page.click('article.approval.pending button.approve');
        const result = await done;
        assert.deepEqual(result.content, [{ type: 'text', text: 'hello <img src=x onerror=alert(1)>' }]);
        await page.waitForSelector('p.empty');
        await page.screenshot({ path: join(SHOTS, '03-approvals-after.png'), fullPage: true });
      } finally {
        await client.close();
      }

      await page.click('a[href="#/audit"]');
      await page.waitForSelector('#chain.ok');
      assert.match((await page.textContent('#chain'))!, /Chain verified/);
      await page.fill('input[name=type]', 'admin.console.*');
      await page.click('form.filters button[type=submit]');
      await page.waitForSelector('table.records td:text("admin.console.approvals.approve")');
      const row = await page.textContent('table.records tbody tr:has(td:text("admin.console.approvals.approve"))');
      assert.match(row!, /bob.*checked with alice.*ok/s);
      await page.fill('input[name=type]', 'request');
      await page.fill('input[name=text]', 'greet');
      await page.fill('input[name=principal]', 'alice');
      await page.click('form.filters button[type=submit]');
      await page.waitForSelector('table.records tbody tr:has(td:text("fs tool greet"))');
      assert.match((await page.textContent('table.records tbody tr:has(td:text("fs tool greet")) >> nth=0'))!, /alice.*ok/s, 'the completed call');
      await page.screenshot({ path: join(SHOTS, '04-audit.png'), fullPage: true });
    } finally {
      await context.close();
    }
  });

  it('shows a drifted tool with its diff; re-approving makes it callable again', async () => {
    const client = await mcpClient('rp');
    const context = await browser.newContext();
    try {
      assert.match(JSON.stringify((await client.callTool({ name: 'greet', arguments: { who: 'ann' } })).content), /hello ann/);
      await client.callTool({ name: 'flip', arguments: {} });
      const refused = await client.callTool({ name: 'greet', arguments: { who: 'ann', key: 'k' } }).then((r) => JSON.stringify(r), (e: Error) => e.message);
      assert.doesNotMatch(refused, /hello ann/, 'the drifted tool is quarantined');

      const page = await signIn(context, 'root', '05-admin');
      await page.click('a[href="#/servers"]');
      const rp = await page.waitForSelector('article.server[data-server=rp]');
      await page.waitForSelector('article.server[data-server=rp] pre.drift');
      assert.match((await rp.textContent())!, /drifted/);
      assert.match((await page.textContent('article.server[data-server=rp] tr[data-item=greet]'))!, /changed.*quarantined/s);
      assert.match((await page.textContent('article.server[data-server=rp] pre.drift'))!, /id_rsa/, 'the diff shows the new description');
      await page.screenshot({ path: join(SHOTS, '06-servers-drift.png'), fullPage: true });
      await page.click('article.server[data-server=rp] button.approve');
      await page.waitForSelector('#note');
      assert.match((await page.textContent('#note'))!, /Approved rp: 2 items pinned/);
      await page.waitForSelector('article.server[data-server=rp] tr[data-item=greet] td:text-matches("^admitted")');
      await page.screenshot({ path: join(SHOTS, '07-servers-reapproved.png'), fullPage: true });
      assert.match(JSON.stringify((await client.callTool({ name: 'greet', arguments: { who: 'ann', key: 'k' } })).content), /hello ann \(rug pulled\)/);
    } finally {
      await client.close();
      await context.close();
    }
  });

  it('revokes a 2025 session: the client\'s next request gets 404', async () => {
    const url = `${gw.url}/servers/fs/mcp`;
    const auth = { authorization: `Bearer ${await tokenFor('fs')}` };
    const init = await post(url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'legacy-agent', version: '2' } } }, auth);
    const sid = init.headers.get('mcp-session-id')!;
    const h = { ...auth, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, h);
    assert.equal((await post(url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, h)).status, 200);
    const context = await browser.newContext();
    try {
      const page = await signIn(context, 'root');
      await page.click('a[href="#/sessions"]');
      const row = await page.waitForSelector(`tr[data-session="${sid}"]`);
      assert.match((await row.textContent())!, /alice.*legacy-agent/s);
      await page.screenshot({ path: join(SHOTS, '08-sessions.png'), fullPage: true });
      await page.click(`tr[data-session="${sid}"] button.deny`);
      await page.waitForSelector('#note');
      assert.equal(await page.$(`tr[data-session="${sid}"]`), null);
      await page.screenshot({ path: join(SHOTS, '09-sessions-revoked.png'), fullPage: true });
      assert.equal((await post(url, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, h)).status, 404);
    } finally {
      await context.close();
    }
  });

  it('answers "what can this user do?", charts live metrics, signs out', async () => {
    const context = await browser.newContext();
    try {
      const page = await signIn(context, 'root');
      await page.click('a[href="#/policy"]');
      await page.fill('input[name=subject]', 'kim');
      await page.fill('input[name=roles]', 'staff');
      await page.click('form.filters button[type=submit]');
      await page.waitForSelector('table.policy tr[data-item=greet]');
      assert.match((await page.textContent('article:has(h2:text("fs")) tr[data-item=greet]'))!, /call: approval.*greetings \(approval\)/s);
      await page.screenshot({ path: join(SHOTS, '11-policy.png'), fullPage: true });
      await page.click('a[href="#/metrics"]');
      await page.waitForSelector('figure.chart svg path.line');
      assert.match((await page.textContent('#totals'))!, /Last 5 minutes: [1-9]\d* requests, \d+ errors, \d+ denials/);
      assert.equal(await page.locator('figure.chart').count(), 4);
      await page.screenshot({ path: join(SHOTS, '12-metrics.png'), fullPage: true });
      await page.click('a[href="#/accounts"]');
      await page.waitForSelector('#no-accounts');
      assert.match((await page.textContent('#no-accounts'))!, /nothing to connect/);
      await page.click('header button.link');
      await page.waitForSelector('main.message:has-text("signed out")');
      assert.equal((await context.cookies()).some((c) => c.name === '__Host-portcullis.console'), false, 'the session cookie is gone');
      const res = await context.request.get(`${gw.url}/console/api/me`);
      assert.equal(res.status(), 401);
    } finally {
      await context.close();
    }
  });

  it('an auditor cannot approve; a state change without the CSRF token is refused', async () => {
    const client = await mcpClient('fs');
    const context = await browser.newContext();
    try {
      const done = client.callTool({ name: 'greet', arguments: { who: 'auditor' } }).catch((e: Error) => e);
      const page = await signIn(context, 'carol');
      const card = await page.waitForSelector('article.approval.pending', { timeout: 15_000 });
      assert.equal(await card.$('button.approve'), null, 'no approve button for an auditor');
      await page.screenshot({ path: join(SHOTS, '10-auditor.png'), fullPage: true });
      const id = await card.getAttribute('data-approval');
      // A string, not a function: the test runner's transpiler would add helpers the page does not have.
      const attempt = await page.evaluate(`(async () => {
        const me = await (await fetch('api/me')).json();
        const call = async (headers) => {
          const r = await fetch('api/approvals/${id}/decide', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ decision: 'approve' }) });
          return { status: r.status, body: await r.json() };
        };
        return { withToken: await call({ 'x-csrf-token': me.csrf }), withoutToken: await call({}) };
      })()`) as { withToken: { status: number; body: { error: string } }; withoutToken: { status: number; body: { error: string } } };
      assert.equal(attempt.withToken.status, 403);
      assert.match(attempt.withToken.body.error, /needs the console role approver or admin; you have auditor/);
      assert.equal(attempt.withoutToken.status, 403);
      assert.match(attempt.withoutToken.body.error, /CSRF token/);
      const still = await gw.gateway.approvals.store.get(id!);
      assert.equal(still?.status, 'pending');
      await gw.gateway.approvals.decide(id!, { key: 'ops', subject: 'ops', roles: ['approver'] }, 'deny', 'test over');
      await done;
    } finally {
      await client.close();
      await context.close();
    }
  });
});

describe('a user without a console role, in Chromium', () => {
  let up: ProtectedUpstream;
  let accountsGw: RunningGateway;
  before(async () => {
    up = await startProtectedUpstream({ accessTokenTtl: 60 });
    const yaml = `auth:
  mode: oauth
policy: { rules: [{ id: all, effect: allow }] }
upstreams:
  crm:
    transport: http
    url: ${up.mcpUrl}
    description: Customer records, as yourself
    credentials:
      mode: per-user
      oauth: { clientId: ${up.clientId}, clientSecret: "\${secret:crm_client}", scopes: [tools], allowPrivateNetworks: true }
`;
    // The client secret is a vault secret, in the storage the gateway starts with.
    const storage = createMemoryStorage({ replayEvents: 16 });
    const config = parseConfig(`server: { port: 0, dataDir: /tmp/pc-console-browser-unused }\n${yaml}`, { source: 'test' });
    await vaultFor(config, storage.records).set('crm_client', up.clientSecret);
    accountsGw = await startTestGateway(yaml, {}, { storage });
    up.configure(`${accountsGw.url}/credentials/callback`);
    await (accountsGw.http.identity.authServer as AuthServer).users.add('dave', { groups: ['staff'], password: PASSWORD });
  });
  after(async () => {
    await accountsGw?.close();
    await up?.close();
  });

  it('signs in to their own Accounts page only; connects an upstream account there and disconnects it', async () => {
    const context = await browser.newContext();
    try {
      const page = await signIn(context, 'dave', undefined, accountsGw.url);
      assert.equal((await page.textContent('#who'))!.trim(), 'dave');
      assert.deepEqual(await page.$$eval('header nav a', (as) => as.map((a) => a.textContent)), ['Accounts'], 'no other page');
      const card = 'article.account[data-upstream=crm]';
      await page.waitForSelector(`${card} .badge.disconnected`);
      assert.match((await page.textContent(card))!, /not connected.*Customer records, as yourself/s);
      await page.screenshot({ path: join(SHOTS, '13-accounts.png'), fullPage: true });

      // Connect: the gateway's confirmation page (the consent step), then the upstream's own sign-in.
      await page.click(`${card} button.connect`);
      await page.waitForSelector('button#connect');
      assert.match((await page.textContent('main'))!, /Connect crm.*gateway user .*\/oauth dave/s);
      await page.screenshot({ path: join(SHOTS, '14-accounts-confirm.png') });
      await page.click('button#connect');
      await page.waitForSelector('input[name=account]');
      assert.equal(new URL(page.url()).origin, up.issuer, 'at the upstream\'s authorization server');
      await page.fill('input[name=account]', 'dave-at-crm');
      await page.click('button');
      await page.waitForSelector('a#console');
      assert.match((await page.textContent('main'))!, /crm connected/);
      await page.click('a#console');
      await page.waitForSelector(`${card} .badge.connected`);
      assert.match((await page.textContent(card))!, /connected.*Connected.*Scope.*Token expires.*renewed automatically/s);
      await page.screenshot({ path: join(SHOTS, '15-accounts-connected.png'), fullPage: true });
      const tokens = new UserTokenStore(vaultFor(accountsGw.gateway.config, accountsGw.gateway.storage.records));
      const stored = await tokens.get('crm', `${accountsGw.url}/oauth dave`);
      assert.ok(stored, 'the tokens belong to the signed-in user');
      assert.ok(!(await page.content()).includes(stored.accessToken), 'no token on the page');

      await page.click(`${card} button.disconnect`);
      await page.waitForSelector('#note');
      await page.waitForSelector(`${card} .badge.disconnected`);
      assert.match((await page.textContent('#note'))!, /Disconnected your crm account/);
      await page.screenshot({ path: join(SHOTS, '16-accounts-disconnected.png'), fullPage: true });
      assert.equal(await tokens.get('crm', `${accountsGw.url}/oauth dave`), undefined);
      assert.equal(await up.refreshDirectly(stored.refreshToken!), 400, 'revoked at the upstream');
    } finally {
      await context.close();
    }
  });
});
