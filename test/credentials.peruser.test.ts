/**
 * Per-user upstream credentials end to end, against an OAuth-protected upstream written for the test
 * (support/protectedUpstream.ts): its own authorization server (code + PKCE, resource-bound JWT access tokens that
 * live 3 s, rotating refresh tokens, revocation) and an MCP server that verifies every token and reports whose it saw.
 *
 * Two gateway users (alice, bob) connect two upstream accounts (up-alice, up-bob); their calls carry only their own
 * tokens, sequentially and concurrently; the inbound token never reaches the upstream; tokens refresh after expiry
 * with rotation; revocation by the gateway (and at the upstream) leads to the clear "connect your account" error; a
 * 2026 client with elicitation.url gets a URL elicitation and its retry succeeds; no token appears in the log.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { modern, post, startTestGateway } from './support/gateway.js';
import { startTestIssuer, type TestIssuer } from './support/issuer.js';
import { connectAccount, credentialsUpstreamYaml, externalIssuerAuthYaml, startProtectedUpstream, type ProtectedUpstream } from './support/protectedUpstream.js';
import type { RunningGateway } from '../src/gateway.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { vaultFor } from '../src/vault/resolve.js';
import { UserTokenStore } from '../src/credentials/tokenStore.js';
import { parseConfig } from '../src/config/load.js';

process.env.PORTCULLIS_VAULT_KEY = randomBytes(32).toString('base64');

const TTL_S = 3;
let iss: TestIssuer;
let up: ProtectedUpstream;
let gw: RunningGateway;
let tokens: UserTokenStore;
const logLines: string[] = [];
const inbound: Record<string, string> = {};
const PATH = '/servers/up/mcp';

const keyOf = (user: string) => `${iss.issuer} ${user}`;

async function call(user: string, args: Record<string, unknown> = {}, caps: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  const { body, headers } = modern('tools/call', { name: 'whoami', arguments: args, ...extra }, 1, caps);
  const r = await post(`${gw.url}${PATH}`, body, { ...headers, authorization: `Bearer ${inbound[user]}` });
  return r.json();
}

const textOf = (r: any): string => r.result?.content?.[0]?.text ?? JSON.stringify(r);

before(async () => {
  iss = await startTestIssuer();
  up = await startProtectedUpstream({ accessTokenTtl: TTL_S });
  const storage = createMemoryStorage({ replayEvents: 16 });
  const yaml = `${externalIssuerAuthYaml(iss.issuer)}upstreams:\n${credentialsUpstreamYaml('up', up, 'per-user', { secret: 'vault' })}`;
  // The client secret comes from the vault, like any secret in the configuration.
  const config = parseConfig(`server: { port: 0, dataDir: /tmp/pc-peruser-unused }\n${yaml}policy: { rules: [{ id: all, effect: allow }] }\n`, { source: 'test' });
  await vaultFor(config, storage.records).set('up_client', up.clientSecret);
  const logger = pino({ level: 'debug' }, { write: (s: string) => { logLines.push(s); } });
  gw = await startTestGateway(yaml, {}, { storage, logger });
  up.configure(`${gw.url}/credentials/callback`);
  tokens = new UserTokenStore(vaultFor(gw.gateway.config, storage.records));
  for (const user of ['alice', 'bob', 'carol']) inbound[user] = await iss.sign({ sub: user, scope: 'mcp' }, { aud: `${gw.url}${PATH}`, expiresIn: '10m' });
});

after(async () => {
  await gw?.close();
  await up?.close();
  await iss?.close();
});

describe('per-user upstream credentials', () => {
  it('refuses a user without a connected account with the connect URL (-32042, a URL elicitation in data)', async () => {
    const r = await call('alice');
    assert.equal(r.error?.code, -32042, JSON.stringify(r));
    assert.match(r.error.message, /Connect your account first: up is used with your own account/);
    const url: string = r.error.data.connectUrl;
    assert.ok(url.startsWith(`${gw.url}/credentials/connect/`));
    assert.ok(!r.error.message.includes(url), 'the link is a capability: not in the message, which is logged and audited');
    assert.deepEqual(r.error.data.elicitations.map((e: any) => [e.mode, e.url]), [['url', url]]);
    const { body, headers } = modern('tools/list', {}, 2, { elicitation: { url: {} } });
    const list = (await post(`${gw.url}${PATH}`, body, { ...headers, authorization: `Bearer ${inbound.alice}` })).json();
    assert.equal(list.error?.code, -32042, 'a list cannot answer input_required: the error');
    assert.equal(up.seen.length, 0, 'nothing reached the upstream');
  });

  it('connects two users to two accounts; each call carries only its own user\'s token, concurrently too', async () => {
    for (const [user, account] of [['alice', 'up-alice'], ['bob', 'up-bob']] as const) {
      const r = await call(user);
      const done = await connectAccount(r.error.data.connectUrl, account);
      assert.equal(done.status, 200, done.text);
      assert.match(done.text, /account is connected/);
    }
    assert.equal(textOf(await call('alice')), 'sub=up-alice');
    assert.equal(textOf(await call('bob')), 'sub=up-bob');
    const users = Array.from({ length: 16 }, (_, i) => (i % 2 ? 'alice' : 'bob'));
    const results = await Promise.all(users.map((u, i) => call(u, { delayMs: 20 + (i % 5) * 15 })));
    results.forEach((r, i) => assert.equal(textOf(r), `sub=up-${users[i]}`));
    // What the upstream saw: two accounts, each token only ever with its own subject, and never a gateway token.
    const subsByToken = new Map<string, Set<string>>();
    for (const s of up.seen) (subsByToken.get(s.token) ?? subsByToken.set(s.token, new Set()).get(s.token)!).add(s.sub);
    for (const subs of subsByToken.values()) assert.equal(subs.size, 1);
    assert.deepEqual(new Set(up.seen.map((s) => s.sub)), new Set(['up-alice', 'up-bob']));
    for (const t of Object.values(inbound)) assert.ok(!up.seen.some((s) => s.token === t), 'the client\'s token never goes upstream');
  });

  it('a 2025-11-25 session: its calls carry its own user\'s token; a user without an account gets -32042 with the URL elicitation', async () => {
    const legacy = async (user: string) => {
      const auth = { authorization: `Bearer ${inbound[user]}` };
      const init = await post(`${gw.url}${PATH}`, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: { elicitation: { url: {} } }, clientInfo: { name: 'legacy', version: '1' } } }, auth);
      const h = { ...auth, 'mcp-session-id': init.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
      return (await post(`${gw.url}${PATH}`, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } }, h)).json();
    };
    const [a, b, c] = await Promise.all([legacy('alice'), legacy('bob'), legacy('carol')]);
    assert.equal(textOf(a), 'sub=up-alice');
    assert.equal(textOf(b), 'sub=up-bob');
    assert.equal(c.error?.code, -32042, JSON.stringify(c));
    assert.equal(c.error.data.elicitations[0].mode, 'url');
  });

  it('refreshes an expired token (rotating the refresh token) without the user noticing', async () => {
    const before = await tokens.get('up', keyOf('alice'));
    assert.ok(before?.refreshToken);
    await new Promise((r) => setTimeout(r, TTL_S * 1000 + 300));
    assert.equal(textOf(await call('alice')), 'sub=up-alice');
    const afterRefresh = await tokens.get('up', keyOf('alice'));
    assert.notEqual(afterRefresh!.accessToken, before.accessToken);
    assert.notEqual(afterRefresh!.refreshToken, before.refreshToken, 'refresh tokens rotate');
    assert.equal(up.seen.at(-1)!.token, afterRefresh!.accessToken);
    // (Presenting the rotated-out refresh token would be refused too, and would revoke the whole grant as a replay:
    // the revocation test below relies on the grant being alive.)
  });

  it('refreshes once when the upstream refuses a token with 401, and retries the call with the new one', async () => {
    const before = await tokens.get('up', keyOf('bob'));
    const refused = up.refused;
    up.rejectNext(1);
    assert.equal(textOf(await call('bob')), 'sub=up-bob');
    assert.equal(up.refused, refused + 1);
    const now = await tokens.get('up', keyOf('bob'));
    assert.notEqual(now!.accessToken, before!.accessToken);
    assert.equal(up.seen.at(-1)!.token, now!.accessToken);
    // Refused twice in a row: one refresh, one retry, then the failure is the caller's (no loop).
    up.rejectNext(2);
    const r = await call('bob');
    assert.ok(r.error, JSON.stringify(r));
    assert.equal(up.refused, refused + 3);
  });

  it('revocation by the gateway: the next call asks to connect again, the other user is untouched', async () => {
    const stored = await tokens.get('up', keyOf('alice'));
    assert.equal(await gw.gateway.credentials.revoke('up', keyOf('alice')), true);
    assert.equal(await tokens.get('up', keyOf('alice')), undefined);
    const r = await call('alice');
    assert.equal(r.error?.code, -32042);
    assert.equal(textOf(await call('bob')), 'sub=up-bob');
    assert.equal(await up.refreshDirectly(stored!.refreshToken!), 400, 'revoked at the authorization server too (RFC 7009)');
  });

  it('revocation at the upstream: the refused refresh ends in the connect error', async () => {
    const stored = await tokens.get('up', keyOf('bob'));
    await up.revokeDirectly(stored!.refreshToken!);
    await new Promise((r) => setTimeout(r, TTL_S * 1000 + 300));
    const r = await call('bob');
    assert.equal(r.error?.code, -32042, JSON.stringify(r));
    assert.equal(await tokens.get('up', keyOf('bob')), undefined, 'the dead record is gone');
  });

  it('a 2026 client that declared elicitation.url gets a URL elicitation; the retry after connecting succeeds', async () => {
    const caps = { elicitation: { url: {} } };
    const r = await call('alice', {}, caps);
    assert.equal(r.result?.resultType, 'input_required', JSON.stringify(r));
    const [key, req] = Object.entries(r.result.inputRequests as Record<string, any>)[0]!;
    assert.equal(req.method, 'elicitation/create');
    assert.equal(req.params.mode, 'url');
    const done = await connectAccount(req.params.url, 'up-alice');
    assert.equal(done.status, 200, done.text);
    const retry = await call('alice', {}, caps, { inputResponses: { [key]: { action: 'accept' } } });
    assert.equal(textOf(retry), 'sub=up-alice');
  });

  it('a connect link is single-use, and a callback from another browser is refused', async () => {
    const r = await call('bob');
    const url = r.error.data.connectUrl;
    assert.equal((await connectAccount(url, 'up-bob')).status, 200);
    const again = await connectAccount(url, 'up-mallory');
    assert.equal(again.status, 404);
    assert.equal(textOf(await call('bob')), 'sub=up-bob');
    const forged = await fetch(`${gw.url}/credentials/callback?code=x&state=y`);
    assert.equal(forged.status, 400);
  });

  it('never writes a token to the log', () => {
    const log = logLines.join('');
    assert.ok(log.includes('upstream account connected'), 'the log was captured');
    const secrets = [...new Set(up.seen.map((s) => s.token)), ...Object.values(inbound), up.clientSecret];
    for (const s of secrets) assert.ok(!log.includes(s), 'a token or secret is in the log');
    assert.ok(!log.includes('/credentials/connect/'), 'no connect link (a capability) in the log');
    assert.ok(log.includes('PC_CREDENTIALS_REQUIRED') || log.includes('not connected'), 'the refusals were logged');
  });
});

describe('per-user credentials configuration', () => {
  const base = 'server: { port: 0 }\nauth: { mode: none }\n';
  it('refuses a static Authorization header, a missing OAuth client, and the SSE transport', () => {
    assert.throws(() => parseConfig(`${base}upstreams:\n  u: { transport: http, url: "http://127.0.0.1:1/mcp", headers: { Authorization: "Bearer x" }, credentials: { mode: per-user, oauth: { clientId: c } } }\n`, { source: 't' }), /static Authorization header cannot be combined/);
    assert.throws(() => parseConfig(`${base}upstreams:\n  u: { transport: http, url: "http://127.0.0.1:1/mcp", credentials: { mode: per-user } }\n`, { source: 't' }), /need oauth/);
    assert.throws(() => parseConfig(`${base}upstreams:\n  u: { transport: sse, url: "http://127.0.0.1:1/sse", credentials: { mode: per-user, oauth: { clientId: c } } }\n`, { source: 't' }), /need transport http/);
  });
});
