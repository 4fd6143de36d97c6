/**
 * "Your accounts" in the console, over HTTP without a browser: a user of the built-in authorization server without
 * any console role signs in and gets a session that reaches only their own accounts (every other API answers 403);
 * they connect their account at an OAuth-protected upstream (support/protectedUpstream.ts) from the console, through
 * the gateway's connect page and the upstream's own authorization server, see it connected (never a token), and
 * disconnect it (revoked at the upstream too, RFC 7009). Another user sees only their own list and cannot use the
 * first user's link; upstreams that are not per-user cannot be connected; CSRF and Origin are enforced; every action
 * is audited without the link. With auth.mode none the local operator has the same page.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { ROOT, fixtureArgs, startTestGateway } from './support/gateway.js';
import { connectAccount, credentialsUpstreamYaml, startProtectedUpstream, type ProtectedUpstream } from './support/protectedUpstream.js';
import { consoleSignIn, type ConsoleBrowser } from './support/consoleSignIn.js';
import type { RunningGateway } from '../src/gateway.js';
import type { AuthServer } from '../src/identity/authServer/index.js';
import { parseConfig } from '../src/config/load.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import type { Storage } from '../src/storage/types.js';
import { vaultFor } from '../src/vault/resolve.js';
import { UserTokenStore } from '../src/credentials/tokenStore.js';
import { searchAudit } from '../src/console/auditQuery.js';

process.env.PORTCULLIS_VAULT_KEY = randomBytes(32).toString('base64');

const PASSWORD = 'correct horse battery staple';

let up: ProtectedUpstream;
let gw: RunningGateway;
let tokens: UserTokenStore;
let dave: ConsoleBrowser;

interface Account { upstream: string; mode: string; connected?: boolean; connectedAt?: number; expiresAt?: number; scope?: string; renews?: boolean }

/** The upstreams: `up` per-user, `xchg` token exchange (nothing to connect), `fs` a plain stdio server. */
const upstreamsYaml = (u: ProtectedUpstream) => `upstreams:
${credentialsUpstreamYaml('up', u, 'per-user', { secret: 'vault', extra: '    description: The protected test server\n' })}${credentialsUpstreamYaml('xchg', u, 'token-exchange', { secret: 'vault', issuer: true })}  fs:
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: ${fixtureArgs('fixtures/rugpull-server.ts')}
`;

/** Storage whose vault already holds the upstream's client secret (a ${secret:…} reference is resolved at start). */
async function storageWithSecret(yaml: string): Promise<Storage> {
  const storage = createMemoryStorage({ replayEvents: 16 });
  const config = parseConfig(`server: { port: 0, dataDir: /tmp/pc-console-accounts-unused }\n${yaml}`, { source: 'test' });
  await vaultFor(config, storage.records).set('up_client', up.clientSecret);
  return storage;
}

function api(b: ConsoleBrowser, method: string, path: string, headers: Record<string, string> = {}) {
  return fetch(`${gw.url}/console/api/${path}`, {
    method,
    headers: { cookie: b.cookie(), ...(method === 'POST' ? { origin: gw.url, 'x-csrf-token': b.csrf, 'content-type': 'application/json' } : {}), ...headers },
    ...(method === 'POST' ? { body: '{}' } : {}),
  });
}

const accounts = async (b: ConsoleBrowser) => {
  const res = await api(b, 'GET', 'accounts');
  assert.equal(res.status, 200);
  const text = await res.text();
  return { text, list: (JSON.parse(text) as { accounts: Account[] }).accounts };
};

before(async () => {
  const b = spawnSync(process.execPath, ['scripts/build-console.mjs'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  up = await startProtectedUpstream({ accessTokenTtl: 60 });
  const yaml = `auth:\n  mode: oauth\npolicy: { rules: [{ id: all, effect: allow }] }\n${upstreamsYaml(up)}`;
  const storage = await storageWithSecret(yaml);
  gw = await startTestGateway(yaml, {}, { storage });
  up.configure(`${gw.url}/credentials/callback`);
  tokens = new UserTokenStore(vaultFor(gw.gateway.config, storage.records));
  const users = (gw.http.identity.authServer as AuthServer).users;
  await users.add('dave', { groups: ['staff'], password: PASSWORD });
  await users.add('erin', { groups: [], password: PASSWORD });
  dave = await consoleSignIn(gw.url, 'dave', PASSWORD);
});

after(async () => {
  await gw?.close();
  await up?.close();
});

describe('the console for a user without a console role', () => {
  it('signs them in (audited, roles []); every API but their own is refused', async () => {
    const me = await (await api(dave, 'GET', 'me')).json() as { subject: string; roles: string[] };
    assert.deepEqual([me.subject, me.roles], ['dave', []]);
    const signin = (await searchAudit(gw.gateway.audit!, { type: 'admin.console.signin', principal: 'dave' })).records[0];
    assert.equal(signin?.outcome, 'ok');
    assert.deepEqual(signin?.detail, { roles: [] });
    for (const path of ['approvals', 'approvals/events', 'audit', 'audit/verify', 'servers', 'sessions', 'policy?subject=dave', 'metrics']) {
      const res = await api(dave, 'GET', path);
      assert.equal(res.status, 403, path);
      assert.match(((await res.json()) as { error: string }).error, /needs the console role .*; you have none/, path);
    }
    for (const path of ['approvals/x/decide', 'servers/fs/approve', 'sessions/x/revoke']) assert.equal((await api(dave, 'POST', path)).status, 403, path);
  });

  it('lists the per-user upstream as not connected, token exchange as automatic, and nothing else', async () => {
    const { list } = await accounts(dave);
    assert.deepEqual(list, [
      { upstream: 'up', mode: 'per-user', description: 'The protected test server', connected: false },
      { upstream: 'xchg', mode: 'token-exchange' },
    ]);
  });

  it('refuses connect without the CSRF token or from another origin, and for upstreams that are not per-user', async () => {
    const noToken = await api(dave, 'POST', 'accounts/up/connect', { 'x-csrf-token': '' });
    assert.equal(noToken.status, 403);
    assert.match(((await noToken.json()) as { error: string }).error, /CSRF token/);
    assert.equal((await api(dave, 'POST', 'accounts/up/connect', { origin: 'http://127.0.0.1:1' })).status, 403);
    assert.equal((await api(dave, 'GET', 'accounts/up/connect')).status, 404, 'no GET that changes anything');
    for (const name of ['fs', 'xchg', 'nowhere', '__proto__']) {
      const res = await api(dave, 'POST', `accounts/${name}/connect`);
      assert.equal(res.status, 404, name);
      assert.equal((await api(dave, 'POST', `accounts/${name}/disconnect`)).status, 404, name);
    }
  });

  it('connects their account from the console through the upstream\'s authorization server; shows it without tokens', async () => {
    const res = await api(dave, 'POST', 'accounts/up/connect');
    assert.equal(res.status, 200);
    const { upstream, url } = await res.json() as { upstream: string; url: string };
    assert.equal(upstream, 'up');
    assert.match(url, new RegExp(`^${gw.url}/credentials/connect/[\\w-]{43}$`));
    // Erin's browser cannot use Dave's link (it names Dave's gateway user).
    const erin = await consoleSignIn(gw.url, 'erin', PASSWORD);
    assert.equal((await connectAccount(url, 'up-erin', new Map(erin.jar))).status, 403);
    // Dave's browser: the console session cookie makes the connect page's same-user check pass.
    const done = await connectAccount(url, 'up-dave', dave.jar);
    assert.equal(done.status, 200, done.text);
    assert.match(done.text, /account is connected/);
    assert.ok(done.text.includes(`href="${gw.url}/console/#/accounts"`), 'a link back to the console');

    const stored = await tokens.get('up', `${gw.url}/oauth dave`);
    assert.ok(stored?.accessToken && stored.refreshToken, 'stored for the console user\'s principal key');
    const { text, list } = await accounts(dave);
    const a = list.find((x) => x.upstream === 'up')!;
    assert.equal(a.connected, true);
    assert.equal(a.connectedAt, stored.connectedAt);
    assert.equal(a.scope, stored.scope);
    assert.ok(a.expiresAt && a.expiresAt > Date.now());
    assert.equal(a.renews, true);
    assert.ok(!text.includes(stored.accessToken) && !text.includes(stored.refreshToken!), 'no token in the answer');
    assert.doesNotMatch(text, /accessToken|refreshToken/);

    // Erin sees her own list only.
    assert.equal((await accounts(erin)).list.find((x) => x.upstream === 'up')!.connected, false);
    assert.equal(await tokens.get('up', `${gw.url}/oauth erin`), undefined);
  });

  it('disconnects: the record is gone and the upstream\'s authorization server revoked the grant', async () => {
    const stored = (await tokens.get('up', `${gw.url}/oauth dave`))!;
    const res = await api(dave, 'POST', 'accounts/up/disconnect');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { upstream: 'up', disconnected: true });
    assert.equal(await tokens.get('up', `${gw.url}/oauth dave`), undefined);
    assert.equal(await up.refreshDirectly(stored.refreshToken!), 400, 'revoked at the authorization server (RFC 7009)');
    assert.equal((await accounts(dave)).list.find((x) => x.upstream === 'up')!.connected, false);
    assert.deepEqual(await (await api(dave, 'POST', 'accounts/up/disconnect')).json(), { upstream: 'up', disconnected: false });
  });

  it('audits connect and disconnect with the upstream, never the link', async () => {
    const found = await searchAudit(gw.gateway.audit!, { type: 'admin.console.accounts.*', principal: 'dave' });
    const ok = found.records.filter((r) => r.outcome === 'ok').map((r) => [r.type, r.detail]);
    assert.deepEqual(ok.reverse(), [
      ['admin.console.accounts.connect', { upstream: 'up' }],
      ['admin.console.accounts.disconnect', { upstream: 'up' }],
      ['admin.console.accounts.disconnect', { upstream: 'up' }],
    ]);
    assert.ok(found.records.some((r) => r.type === 'admin.console.accounts.connect' && r.outcome === 'http_404'), 'refusals too');
    assert.ok(!JSON.stringify(found.records).includes('/credentials/connect/'));
  });
});

describe('the accounts page of the local operator (auth.mode none)', () => {
  it('lists and connects as the principal "local"', async () => {
    const yaml = `policy: { rules: [{ id: all, effect: allow }] }\n${upstreamsYaml(up)}`;
    const local = await startTestGateway(yaml, {}, { storage: await storageWithSecret(`auth: { mode: none }\n${yaml}`) });
    try {
      const page = await fetch(`${local.url}/console/`);
      const cookie = (page.headers.get('set-cookie') ?? '').split(';', 1)[0]!;
      const { csrf } = await (await fetch(`${local.url}/console/api/me`, { headers: { cookie } })).json() as { csrf: string };
      const list = await (await fetch(`${local.url}/console/api/accounts`, { headers: { cookie } })).json() as { accounts: Account[] };
      assert.equal(list.accounts.find((a) => a.upstream === 'up')?.connected, false);
      const res = await fetch(`${local.url}/console/api/accounts/up/connect`, { method: 'POST', headers: { cookie, origin: local.url, 'x-csrf-token': csrf } });
      const { url } = await res.json() as { url: string };
      const confirm = await fetch(url);
      assert.equal(confirm.status, 200, 'a loopback browser is the local operator');
      // Not no-referrer: browsers would then send `Origin: null` on the button's POST, which the gateway refuses.
      assert.equal(confirm.headers.get('referrer-policy'), 'same-origin');
      assert.match(await confirm.text(), /gateway user <b>local<\/b>/);
    } finally {
      await local.close();
    }
  });
});
