/**
 * `portcullis credentials list|revoke` against a running gateway's SQLite storage: the revoked user's next call asks
 * them to connect again (the gateway reads tokens from storage on every call), the other user is untouched, the
 * upstream's authorization server no longer honours the revoked refresh token, and no command output shows a token.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, modern, post } from './support/gateway.js';
import { startTestIssuer, type TestIssuer } from './support/issuer.js';
import { connectAccount, credentialsUpstreamYaml, externalIssuerAuthYaml, startProtectedUpstream, type ProtectedUpstream } from './support/protectedUpstream.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { loadConfigFile } from '../src/config/load.js';
import { silentLogger } from '../src/core/log.js';
import { UserTokenStore } from '../src/credentials/tokenStore.js';
import { vaultFor } from '../src/vault/resolve.js';

const VAULT_KEY = randomBytes(32).toString('base64');
process.env.PORTCULLIS_VAULT_KEY = VAULT_KEY;
const BIN = join(ROOT, 'bin', 'portcullis.js');
const PATH = '/servers/up/mcp';

let dir: string;
let iss: TestIssuer;
let up: ProtectedUpstream;
let gw: RunningGateway;
const inbound: Record<string, string> = {};

/** Asynchronous: the upstream's authorization server runs in this process and must answer the command's requests. */
function cli(args: string[]): Promise<{ status: number | null; out: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: { ...process.env, PORTCULLIS_FROM_SOURCE: '1' }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((resolve) => child.on('exit', (status) => resolve({ status, out })));
}

async function call(user: string) {
  const { body, headers } = modern('tools/call', { name: 'whoami', arguments: {} });
  return (await post(`${gw.url}${PATH}`, body, { ...headers, authorization: `Bearer ${inbound[user]}` })).json();
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pc-credentials-cli-'));
  iss = await startTestIssuer();
  up = await startProtectedUpstream({ accessTokenTtl: 60 });
  writeFileSync(join(dir, 'portcullis.yaml'), `server: { port: 0, dataDir: ${JSON.stringify(join(dir, 'data'))} }
${externalIssuerAuthYaml(iss.issuer)}upstreams:
${credentialsUpstreamYaml('up', up, 'per-user', { secret: 'vault', issuer: true, extra: '    integrity: { unapproved: warn }\n' })}policy: { rules: [{ id: all, effect: allow }] }
`);
  const set = spawnSync(process.execPath, [BIN, 'vault', 'set', 'up_client'], { cwd: dir, env: { ...process.env, PORTCULLIS_FROM_SOURCE: '1' }, input: up.clientSecret, encoding: 'utf8' });
  assert.equal(set.status, 0, set.stderr);
  const config = await loadConfigFile(join(dir, 'portcullis.yaml'));
  gw = await startGateway(config, { logger: silentLogger });
  up.configure(`${gw.url}/credentials/callback`);
  for (const user of ['alice', 'bob']) {
    inbound[user] = await iss.sign({ sub: user, scope: 'mcp' }, { aud: `${gw.url}${PATH}` });
    const r = await call(user);
    assert.equal(r.error?.code, -32042, JSON.stringify(r));
    assert.equal((await connectAccount(r.error.data.connectUrl, `up-${user}`)).status, 200);
  }
});

after(async () => {
  await gw?.close();
  await up?.close();
  await iss?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('portcullis credentials', () => {
  it('lists connected accounts and revokes one user\'s, which takes effect on the running gateway', async () => {
    assert.equal((await call('alice')).result?.content?.[0]?.text, 'sub=up-alice');
    const store = new UserTokenStore(vaultFor(gw.gateway.config, gw.gateway.storage.records));
    const alice = await store.get('up', `${iss.issuer} alice`);

    const listed = await cli(['credentials', 'list']);
    assert.equal(listed.status, 0, listed.out);
    assert.match(listed.out, new RegExp(`up  ${iss.issuer} alice  connected `));
    assert.match(listed.out, /bob/);

    const revoked = await cli(['credentials', 'revoke', '--user', 'alice', '--upstream', 'up']);
    assert.equal(revoked.status, 0, revoked.out);
    assert.match(revoked.out, /revoked .* alice.s account at up/, revoked.out);
    for (const t of [alice!.accessToken, alice!.refreshToken!, up.clientSecret]) {
      assert.ok(!listed.out.includes(t) && !revoked.out.includes(t), 'no token in command output');
    }

    assert.equal((await call('alice')).error?.code, -32042, 'alice must connect again');
    assert.equal((await call('bob')).result?.content?.[0]?.text, 'sub=up-bob');
    assert.equal(await up.refreshDirectly(alice!.refreshToken!), 400, 'revoked at the upstream\'s authorization server');

    const none = await cli(['credentials', 'revoke', '--user', 'alice', '--upstream', 'up']);
    assert.equal(none.status, 1);
    assert.match(none.out, /has no connected account at up/);
  });
});
