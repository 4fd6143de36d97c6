/**
 * Token exchange (RFC 8693) for an upstream with `credentials.mode: token-exchange`: the gateway signs an identity
 * assertion per principal and exchanges it at the upstream's authorization server, which trusts the gateway's JWKS
 * (support/protectedUpstream.ts registers the grant). No browser step; each user's calls carry the token derived
 * from their own identity; one exchange per user while the token lives, again after it expires; a refused exchange is
 * a clear error; the assertion itself never reaches the upstream, and no token is logged.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { modern, post, startTestGateway } from './support/gateway.js';
import { startTestIssuer, type TestIssuer } from './support/issuer.js';
import { credentialsUpstreamYaml, externalIssuerAuthYaml, startProtectedUpstream, type ProtectedUpstream } from './support/protectedUpstream.js';
import type { RunningGateway } from '../src/gateway.js';

process.env.PORTCULLIS_VAULT_KEY = randomBytes(32).toString('base64');

// Long enough that the concurrent calls of the first test finish well within one token's life (minus the gateway's
// 1-second expiry margin) on a loaded machine; the expiry test waits it out.
const TTL_S = 5;
const PATH = '/servers/up/mcp';
let iss: TestIssuer;
let up: ProtectedUpstream;
let gw: RunningGateway;
const inbound: Record<string, string> = {};
const logLines: string[] = [];

async function call(user: string, args: Record<string, unknown> = {}) {
  const { body, headers } = modern('tools/call', { name: 'whoami', arguments: args });
  return (await post(`${gw.url}${PATH}`, body, { ...headers, authorization: `Bearer ${inbound[user]}` })).json();
}
const textOf = (r: any): string => r.result?.content?.[0]?.text ?? JSON.stringify(r);

before(async () => {
  iss = await startTestIssuer();
  up = await startProtectedUpstream({ accessTokenTtl: TTL_S });
  const logger = pino({ level: 'debug' }, { write: (s: string) => { logLines.push(s); } });
  gw = await startTestGateway(`${externalIssuerAuthYaml(iss.issuer)}upstreams:\n${credentialsUpstreamYaml('up', up, 'token-exchange', { secret: 'inline', issuer: true })}`, {}, { logger });
  up.configure(`${gw.url}/credentials/callback`, { base: gw.url, denied: [`${iss.issuer} mallory`] });
  for (const user of ['alice', 'bob', 'mallory']) inbound[user] = await iss.sign({ sub: user, scope: 'mcp' }, { aud: `${gw.url}${PATH}`, expiresIn: '10m' });
});

after(async () => {
  await gw?.close();
  await up?.close();
  await iss?.close();
});

describe('token exchange (RFC 8693)', () => {
  it('derives each user\'s token from their own identity, one exchange per user, concurrent calls never crossed', async () => {
    const users = Array.from({ length: 12 }, (_, i) => (i % 2 ? 'alice' : 'bob'));
    const results = await Promise.all(users.map((u, i) => call(u, { delayMs: 10 + (i % 4) * 10 })));
    results.forEach((r, i) => assert.equal(textOf(r), `sub=xchg:${iss.issuer} ${users[i]}`));
    assert.equal(up.exchanges, 2, 'one exchange per user, shared by their concurrent calls');
    for (const s of up.seen) assert.equal(decodeJwt(s.token).iss, up.issuer, 'only tokens the authorization server issued reach the upstream');
    for (const a of up.assertions) assert.ok(!up.seen.some((s) => s.token === a), 'the assertion never goes to the upstream');
    for (const t of Object.values(inbound)) assert.ok(!up.seen.some((s) => s.token === t) && !up.assertions.includes(t), 'the client\'s token goes nowhere');
  });

  it('sends a short-lived assertion for the principal, signed with the key it publishes (no private part)', async () => {
    const a = decodeJwt(up.assertions[0]!);
    assert.equal(a.iss, `${gw.url}/credentials`);
    assert.equal(a.aud, up.issuer);
    assert.match(String(a.sub), new RegExp(`^${iss.issuer} (alice|bob)$`));
    assert.ok(a.exp! - a.iat! <= 60);
    const jwks = await (await fetch(`${gw.url}/credentials/jwks`)).json() as { keys: Record<string, unknown>[] };
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.kid, decodeProtectedHeader(up.assertions[0]!).kid);
    assert.equal(jwks.keys[0]!.d, undefined);
  });

  it('exchanges again once the token expired', async () => {
    await new Promise((r) => setTimeout(r, TTL_S * 1000 + 200));
    assert.equal(textOf(await call('alice')), `sub=xchg:${iss.issuer} alice`);
    assert.equal(up.exchanges, 3);
  });

  it('a refused exchange is a clear error and reaches nothing upstream', async () => {
    const seen = up.seen.length;
    const r = await call('mallory');
    assert.equal(r.error?.code, -32010, JSON.stringify(r));
    assert.match(r.error.message, /refused the token exchange for this user \(invalid_grant\)/);
    assert.equal(up.seen.length, seen);
  });

  it('never writes a token or an assertion to the log', () => {
    const log = logLines.join('');
    assert.ok(log.includes('upstream token obtained by token exchange'), 'the log was captured');
    for (const s of [...up.seen.map((x) => x.token), ...up.assertions, ...Object.values(inbound)]) assert.ok(!log.includes(s));
  });
});
