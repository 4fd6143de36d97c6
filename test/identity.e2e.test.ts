/**
 * End to end, as a newcomer meets it: `portcullis serve` (a real process, SQLite, authentication on by default)
 * prints a one-time link for the first administrator; the administrator chooses a password in Chromium; an MCP
 * host (the SDK client with its OAuth support) discovers the authorization server from the gateway's 401,
 * registers (dynamic registration, or a client ID metadata document served over HTTPS), is sent through the real
 * sign-in and consent pages, gets a token for exactly one endpoint, calls a real tool through the gateway,
 * refreshes, and is refused once its consent is revoked.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport, UnauthorizedError } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import type { Browser, BrowserContext } from 'playwright-core';
import { ROOT, binOf } from './support/gateway.js';
import { authorizeInBrowser, launchBrowser, startCallbackServer, type CallbackServer } from './support/oauthBrowser.js';
import { TestOAuthProvider } from './support/oauthClient.js';
import { createDevCertificates } from '../src/identity/tls/certDir.js';

const PASSWORD = 'correct horse battery staple';
let dir: string;
let child: ChildProcess;
let url: string;
let setupUrl: string;
let browser: Browser;
let context: BrowserContext;
let cb: CallbackServer;
let cimd: Server;
let cimdUrl: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pc-e2e-'));
  // The client ID metadata document is served over HTTPS (the SDK insists) by a dev CA the gateway trusts.
  const certs = await createDevCertificates(join(dir, 'certs'));
  cb = await startCallbackServer();
  cimd = createHttpsServer({ cert: readFileSync(certs.server.cert), key: readFileSync(certs.server.key) }, (req, res) => {
    if (req.url !== '/client.json') { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      client_id: cimdUrl, client_name: 'Metadata Document Client', redirect_uris: [cb.redirectUri],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none',
    }));
  });
  await new Promise<void>((r) => cimd.listen(0, '127.0.0.1', r));
  cimdUrl = `https://127.0.0.1:${(cimd.address() as AddressInfo).port}/client.json`;

  writeFileSync(join(dir, 'portcullis.yaml'), `server: { port: 0, dataDir: ./data }
auth:
  builtin:
    clientIdMetadataDocuments: { allowPrivateNetworks: true }
policy:
  rules:
    - { id: admins, effect: allow, principals: { groups: [admin] } }
upstreams:
  everything:
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: ${JSON.stringify([binOf('@modelcontextprotocol/server-everything'), 'stdio'])}
`);
  // Unapproved servers are blocked by default: the operator reviews and approves the upstream's definitions first.
  const approve = spawnCli(['servers', 'approve', 'everything']);
  assert.equal(approve.status, 0, approve.stdout + approve.stderr);
  child = spawn(process.execPath, [join(ROOT, 'bin/portcullis.js'), 'serve'], {
    cwd: dir,
    env: { ...process.env, PORTCULLIS_FROM_SOURCE: '1', NODE_EXTRA_CA_CERTS: certs.ca.cert, PORTCULLIS_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gateway did not start; stdout: ${out}; stderr: ${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const link = /^\s+(http:\/\/\S+\/setup\/\S+)$/m.exec(out);
      const listening = /Portcullis listening: (\S+)/.exec(out);
      if (link && listening) { clearTimeout(timer); setupUrl = link[1]!; url = listening[1]!; resolve(); }
    });
    child.once('exit', () => reject(new Error(`gateway exited; stderr: ${err}`)));
  });
  browser = await launchBrowser();
  context = await browser.newContext();
});

after(async () => {
  await context?.close();
  await browser?.close();
  await cb?.close();
  cimd?.close();
  if (child && child.exitCode === null) {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
  }
});

const endpoint = () => `${url}/servers/everything/mcp`;

/** Connects as an OAuth-capable host does: on 401 the user authorizes in the browser, then the host reconnects. */
async function connect(provider: TestOAuthProvider, steps: Parameters<typeof authorizeInBrowser>[3] = {}): Promise<{ client: Client; sawConsent: boolean }> {
  const first = new Client({ name: 'e2e', version: '1' });
  try {
    await first.connect(new StreamableHTTPClientTransport(new URL(endpoint()), { authProvider: provider }));
    return { client: first, sawConsent: false };
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  assert.ok(provider.authorizationUrl, 'the SDK asked to open an authorization URL');
  const r = await authorizeInBrowser(context, provider.authorizationUrl.href, cb, { username: 'admin', password: PASSWORD, ...steps });
  assert.equal(r.callback.searchParams.get('iss'), `${url}/oauth`, 'RFC 9207 iss in the authorization response');
  const transport = new StreamableHTTPClientTransport(new URL(endpoint()), { authProvider: provider });
  await transport.finishAuth(r.callback.searchParams);
  const client = new Client({ name: 'e2e', version: '1' });
  await client.connect(transport);
  return { client, sawConsent: r.sawConsent };
}

const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('first start', () => {
  test('the one-time setup link lets the administrator choose a password, once', async () => {
    const page = await context.newPage();
    await page.goto(setupUrl);
    await page.fill('#password', PASSWORD);
    await page.fill('#confirm', PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    assert.match((await page.textContent('body')) ?? '', /password/i);
    await page.goto(setupUrl);
    assert.doesNotMatch(await page.content(), /id="confirm"/, 'the link works only once');
    await page.close();
  });
});

describe('an MCP host with OAuth, through the gateway', () => {
  test('dynamic registration, sign-in and consent, a tool call, refresh, and refusal after revocation', async () => {
    const provider = new TestOAuthProvider(cb.redirectUri);
    const { client, sawConsent } = await connect(provider);
    assert.ok(sawConsent, 'the consent page was shown');
    assert.ok(provider.info?.client_id, 'the client registered dynamically');
    const access = provider.saved!.access_token;
    const c = claims(access);
    assert.equal(c.aud, endpoint(), 'the token is for this one endpoint');
    assert.equal(c.iss, `${url}/oauth`);
    assert.equal(c.sub, 'admin');
    assert.ok(provider.saved!.refresh_token, 'a refresh token was issued');

    const r = await client.callTool({ name: 'echo', arguments: { message: 'through the gate' } });
    assert.match(JSON.stringify(r.content), /through the gate/);

    // The access token stops working (here: garbled); the host refreshes by itself and carries on.
    const oldRefresh = provider.saved!.refresh_token;
    provider.saved = { ...provider.saved!, access_token: `${access.slice(0, -8)}AAAAAAAA` };
    await client.close();
    const again = new Client({ name: 'e2e', version: '1' });
    await again.connect(new StreamableHTTPClientTransport(new URL(endpoint()), { authProvider: provider }));
    assert.notEqual(provider.saved!.refresh_token, oldRefresh, 'the refresh token rotated');
    assert.notEqual(provider.saved!.access_token, access);
    assert.match(JSON.stringify((await again.callTool({ name: 'echo', arguments: { message: 'refreshed' } })).content), /refreshed/);
    await again.close();

    // A second authorization for the same client skips the consent page (consent is remembered), unless the client
    // asks for it (the SDK sends prompt=consent with offline_access, as OpenID Connect requires).
    assert.equal(provider.authorizationUrl!.searchParams.get('prompt'), 'consent');
    const second = new TestOAuthProvider(cb.redirectUri);
    second.info = provider.info;
    second.stripPrompt = true;
    const { client: c2, sawConsent: consentAgain } = await connect(second);
    assert.equal(consentAgain, false);
    await c2.close();

    // The user revokes the client's consent: its tokens stop working, refresh is refused, the host must re-authorize.
    const revoke = spawnCli(['user', 'revoke', 'admin', '--client', provider.info!.client_id]);
    assert.equal(revoke.status, 0, revoke.stderr);
    const refused = await fetch(endpoint(), {
      method: 'POST',
      headers: { authorization: `Bearer ${provider.saved!.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
    });
    assert.equal(refused.status, 401, 'the access token of a revoked grant is refused');
    const redirectsBefore = provider.redirects;
    const after = new Client({ name: 'e2e', version: '1' });
    await assert.rejects(after.connect(new StreamableHTTPClientTransport(new URL(endpoint()), { authProvider: provider })), UnauthorizedError);
    assert.equal(provider.redirects, redirectsBefore + 1, 'refresh failed, so the host was sent to authorize again');
  });

  test('a client identified by its metadata document (CIMD) over HTTPS', async () => {
    const provider = new TestOAuthProvider(cb.redirectUri, cimdUrl, 'Metadata Document Client');
    const { client, sawConsent } = await connect(provider, {});
    assert.ok(sawConsent);
    assert.equal(provider.info?.client_id, cimdUrl, 'the client used its metadata URL as client_id');
    assert.equal(claims(provider.saved!.access_token).client_id, cimdUrl);
    assert.match(JSON.stringify((await client.callTool({ name: 'echo', arguments: { message: 'cimd' } })).content), /cimd/);
    await client.close();
  });

  test('a user the policy gives nothing on an endpoint is offered nothing to consent to, and gets no token', async () => {
    const add = spawnSync(process.execPath, [join(ROOT, 'bin/portcullis.js'), 'user', 'add', 'eve', '--password-stdin'], {
      cwd: dir, env: { ...process.env, PORTCULLIS_FROM_SOURCE: '1' }, input: `${PASSWORD}\n`, encoding: 'utf8', timeout: 30_000,
    });
    assert.equal(add.status, 0, add.stderr);
    const isolated = await browser.newContext();
    try {
      const provider = new TestOAuthProvider(cb.redirectUri);
      const first = new Client({ name: 'e2e', version: '1' });
      await assert.rejects(first.connect(new StreamableHTTPClientTransport(new URL(endpoint()), { authProvider: provider })), UnauthorizedError);
      // The consent page says there is nothing to grant: no Allow button, only the way back to the application.
      const r = await authorizeInBrowser(isolated, provider.authorizationUrl!.href, cb, { username: 'eve', password: PASSWORD, decision: 'deny' });
      assert.ok(r.sawConsent);
      assert.doesNotMatch(r.consentHtml ?? '', /value="allow"/);
      assert.equal(r.callback.searchParams.get('error'), 'access_denied');
    } finally {
      await isolated.close();
    }
  });

  test('a token for one endpoint is refused at another', async () => {
    const provider = new TestOAuthProvider(cb.redirectUri);
    const { client } = await connect(provider);
    await client.close();
    const res = await fetch(`${url}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${provider.saved!.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
    });
    assert.equal(res.status, 401);
  });
});

describe('mcp-remote (npm), the stdio bridge many hosts use', () => {
  test('it registers, sends the user through sign-in and consent, and then calls a tool', async () => {
    const port = await freePort();
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [binOf('mcp-remote', 'mcp-remote'), endpoint(), String(port), '--transport', 'http-only'],
      env: { ...process.env as Record<string, string>, MCP_REMOTE_CONFIG_DIR: join(dir, 'mcp-remote'), BROWSER: 'true' },
      stderr: 'pipe',
    });
    let stderr = '';
    const authUrl = new Promise<string>((resolve) => {
      transport.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
        const m = /Please authorize this client by visiting:\s+(\S+)/.exec(stderr);
        if (m) resolve(m[1]!);
      });
    });
    const client = new Client({ name: 'via-mcp-remote', version: '1' });
    const connected = client.connect(transport);
    const page = await context.newPage();
    try {
      const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`mcp-remote printed no authorization URL; stderr: ${stderr}`)), 30_000).unref());
      await page.goto(await Promise.race([authUrl, timeout]));
      // The browser context is still signed in from the tests above; sign in again if asked.
      if (await page.$('form[action$="/login"]')) {
        await page.fill('#username', 'admin');
        await page.fill('#password', PASSWORD);
        await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      }
      if (await page.$('form[action$="/consent"]')) await Promise.all([page.waitForURL(new RegExp(`:${port}/`)), page.click('button[value=allow]')]);
      await connected;
      const r = await client.callTool({ name: 'echo', arguments: { message: 'via mcp-remote' } });
      assert.match(JSON.stringify(r.content), /via mcp-remote/);
    } finally {
      await page.close();
      await client.close();
    }
  });
});

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function spawnCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/portcullis.js'), ...args], { cwd: dir, env: { ...process.env, PORTCULLIS_FROM_SOURCE: '1' }, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
