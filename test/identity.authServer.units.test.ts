/**
 * The built-in authorization server's small pieces on their own: redirect URI matching, resource URIs, client
 * metadata documents, passwords, accounts, signing keys, the storage adapter.
 *
 *   node --import tsx --test test/identity.authServer.units.test.ts
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { silentLogger } from '../src/core/log.js';
import { createAdapterFactory, GRANTS_NS } from '../src/identity/authServer/adapter.js';
import { clientIdUrlProblem, hostAllowed, metadataFromDocument } from '../src/identity/authServer/cimd.js';
import { applicationTypeFor, redirectUriAllowed } from '../src/identity/authServer/clients.js';
import { groupsFromClaim } from '../src/identity/authServer/federation.js';
import { KEYS_NS, SigningKeys } from '../src/identity/authServer/keys.js';
import { hashPassword, verifyPassword } from '../src/identity/authServer/password.js';
import { canonicalUri } from '../src/identity/authServer/provider.js';
import { ScopePolicy } from '../src/identity/authServer/scopes.js';
import { createUserDirectory, UserError } from '../src/identity/authServer/users.js';
import { createMemoryStorage } from '../src/storage/memory.js';

/** oidc-provider errors carry their text in error_description (message is the error code). */
const described = (re: RegExp) => (e: unknown) => re.test(String((e as { error_description?: string }).error_description));

describe('redirect URI matching', () => {
  const registered = ['http://127.0.0.1:3000/callback', 'http://[::1]:3000/cb?x=1', 'http://localhost:3000/callback', 'https://app.example/cb', 'myapp://oauth'];

  it('matches exactly', () => {
    for (const uri of registered) assert.equal(redirectUriAllowed(uri, registered), true, uri);
    assert.equal(redirectUriAllowed('https://app.example/cb/', registered), false);
    assert.equal(redirectUriAllowed('https://app.example:444/cb', registered), false);
    assert.equal(redirectUriAllowed('myapp://oauth/x', registered), false);
  });

  it('lets the port of a loopback IP literal vary (RFC 8252 §7.3), nothing else', () => {
    assert.equal(redirectUriAllowed('http://127.0.0.1:51234/callback', registered), true);
    assert.equal(redirectUriAllowed('http://127.0.0.1/callback', registered), true);
    assert.equal(redirectUriAllowed('http://[::1]:9/cb?x=1', registered), true);
    assert.equal(redirectUriAllowed('http://127.0.0.1:51234/other', registered), false);
    assert.equal(redirectUriAllowed('http://[::1]:9/cb?x=2', registered), false);
    assert.equal(redirectUriAllowed('http://localhost:51234/callback', registered), false, 'localhost: exact');
    assert.equal(redirectUriAllowed('https://127.0.0.1:51234/callback', registered), false, 'https is not the loopback rule');
    assert.equal(redirectUriAllowed('http://user@127.0.0.1:51234/callback', registered), false);
    assert.equal(redirectUriAllowed('http://127.0.0.2:3000/callback', registered), false);
  });

  it('makes clients with local redirects native, others web', () => {
    assert.equal(applicationTypeFor(['http://127.0.0.1:3000/cb']), 'native');
    assert.equal(applicationTypeFor(['myapp://cb']), 'native');
    assert.equal(applicationTypeFor(['https://app.example/cb']), 'web');
  });
});

describe('resource URIs', () => {
  it('compares canonical forms (RFC 8707): case of scheme and host, default port, a lone slash', () => {
    assert.equal(canonicalUri('HTTPS://MCP.Example.com:443/Mcp'), 'https://mcp.example.com/Mcp');
    assert.equal(canonicalUri('https://mcp.example.com/'), 'https://mcp.example.com');
    assert.equal(canonicalUri('https://mcp.example.com'), 'https://mcp.example.com');
    assert.equal(canonicalUri('https://mcp.example.com/mcp#frag'), undefined);
    assert.equal(canonicalUri('mcp.example.com'), undefined);
  });
});

describe('scopes', () => {
  it('grants requested ∩ offered ∩ scopesFor, and needs a scope besides the protocol ones', () => {
    const p = new ScopePolicy(['mcp', 'mcp:admin', 'offline_access'], (a, _r, req) => req.filter((s) => s !== 'mcp:admin' || a.groups.includes('admin')));
    assert.equal(p.defaultScope(), 'mcp mcp:admin');
    assert.equal(p.defaultScope('mcp offline_access'), 'mcp', 'within the client\'s registered scope');
    assert.equal(p.defaultScope('other'), 'mcp mcp:admin');
    assert.deepEqual(p.decide({ id: 'a', groups: [] }, 'r', ['mcp', 'mcp:admin', 'other', 'openid']), { granted: ['mcp'], refused: ['mcp:admin'] });
    assert.deepEqual(p.decide({ id: 'a', groups: ['admin'] }, 'r', ['mcp:admin']), { granted: ['mcp:admin'], refused: [] });
    assert.throws(() => new ScopePolicy(['offline_access']), /at least one scope/);
  });
});

describe('client ID metadata documents', () => {
  const cfg = { enabled: true, allowedHosts: [], allowPrivateNetworks: false, cacheSeconds: 60 };

  it('checks the client_id URL', () => {
    assert.equal(clientIdUrlProblem('https://app.example/client.json', cfg), undefined);
    assert.match(clientIdUrlProblem('http://app.example/client.json', cfg)!, /https/);
    assert.equal(clientIdUrlProblem('http://127.0.0.1:9/client.json', { ...cfg, allowPrivateNetworks: true }), undefined);
    assert.match(clientIdUrlProblem('https://app.example/', cfg)!, /path/);
    assert.match(clientIdUrlProblem('https://app.example/c.json#x', cfg)!, /fragment/);
    assert.match(clientIdUrlProblem('https://u:p@app.example/c.json', cfg)!, /credentials/);
    assert.match(clientIdUrlProblem('https://app.example/a/../c.json', cfg)!, /dot segments/);
  });

  it('applies the trusted-host list', () => {
    const allowed = ['app.example', '*.tools.example', 'port.example:8443'];
    assert.equal(hostAllowed(new URL('https://app.example/c'), allowed), true);
    assert.equal(hostAllowed(new URL('https://a.tools.example/c'), allowed), true);
    assert.equal(hostAllowed(new URL('https://tools.example/c'), allowed), false);
    assert.equal(hostAllowed(new URL('https://eviltools.example/c'), allowed), false);
    assert.equal(hostAllowed(new URL('https://port.example:8443/c'), allowed), true);
    assert.equal(hostAllowed(new URL('https://port.example/c'), allowed), false);
    assert.equal(hostAllowed(new URL('https://anything.example/c'), []), true);
  });

  it('validates the document and keeps only what is used', () => {
    const id = 'https://app.example/client.json';
    const doc = { client_id: id, client_name: 'App', redirect_uris: ['http://127.0.0.1:3000/cb'], logo_uri: 'https://app.example/logo.png', jwks_uri: 'https://app.example/jwks' };
    const m = metadataFromDocument(id, doc);
    assert.deepEqual(m, { client_id: id, client_name: 'App', redirect_uris: ['http://127.0.0.1:3000/cb'], application_type: 'native', grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none' });
    assert.throws(() => metadataFromDocument(id, { ...doc, client_id: 'https://other.example/client.json' }), described(/client_id does not equal/));
    assert.throws(() => metadataFromDocument(id, { ...doc, redirect_uris: [] }), described(/redirect_uris/));
    assert.throws(() => metadataFromDocument(id, { ...doc, token_endpoint_auth_method: 'client_secret_basic' }), described(/not supported/));
    assert.throws(() => metadataFromDocument(id, { ...doc, client_secret: 's' }), described(/secret/));
  });
});

describe('passwords and accounts', () => {
  it('hashes with scrypt, a salt per hash, and verifies in constant time', async () => {
    const a = await hashPassword('a password of some length');
    const b = await hashPassword('a password of some length');
    assert.match(a, /^scrypt\$65536\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, b, 'salted');
    assert.equal(await verifyPassword('a password of some length', a), true);
    assert.equal(await verifyPassword('a password of some lengtH', a), false);
    assert.equal(await verifyPassword('anything', undefined), false);
    assert.equal(await verifyPassword('x', 'scrypt$1073741824$8$1$AA$AA'), false, 'absurd parameters are refused, not run');
  });

  it('keeps users with groups and roles; removing one revokes everything tagged with it', async () => {
    const storage = createMemoryStorage();
    try {
      const users = createUserDirectory(storage.records);
      await users.add('Alice', { groups: ['Admin', 'approver', 'admin'], password: 'a password of some length' });
      assert.deepEqual(await users.get('alice'), { username: 'alice', groups: ['admin', 'approver'], roles: ['admin', 'approver'], hasPassword: true, createdAt: (await users.get('alice'))!.createdAt });
      await assert.rejects(users.add('alice'), UserError);
      await assert.rejects(users.add('bad name'), /invalid user name/);
      await assert.rejects(users.setPassword('alice', 'short'), /at least 12/);
      assert.equal(await users.verify('ALICE', 'a password of some length').then((u) => u?.username), 'alice');
      assert.equal(await users.verify('alice', 'wrong password!!'), undefined);
      assert.equal(await users.verify('nobody', 'a password of some length'), undefined);
      await users.setGroups('alice', ['approver']);
      assert.deepEqual((await users.get('alice'))!.roles, ['approver']);
      await storage.records.put(GRANTS_NS, 'g1', { accountId: 'alice' }, { tags: { accountId: 'alice', grantId: 'g1' } });
      assert.equal(await users.remove('alice'), true);
      assert.equal(await storage.records.get(GRANTS_NS, 'g1'), undefined);
      assert.equal(await users.remove('alice'), false);
    } finally {
      await storage.close();
    }
  });

  it('reads upstream groups from an array or a string claim, dropping unusable names', () => {
    assert.deepEqual(groupsFromClaim(['Admin', 'staff', 'staff', 'bad name', 42]), ['admin', 'staff']);
    assert.deepEqual(groupsFromClaim('a b,c'), ['a', 'b', 'c']);
    assert.deepEqual(groupsFromClaim(undefined), []);
  });
});

describe('signing keys', () => {
  it('are sealed in the store, rotate by age, and keep the previous key for the overlap only', async () => {
    const storage = createMemoryStorage();
    let now = 1_000_000;
    const secret = randomBytes(32);
    const opts = { records: storage.records, secret, rotationMs: 1000, overlapMs: 100, now: () => now, log: silentLogger };
    try {
      const keys = new SigningKeys(opts);
      await keys.refresh();
      const k1 = keys.currentKid;
      const stored = (await storage.records.list(KEYS_NS))[0]!;
      assert.doesNotMatch(JSON.stringify(stored.value), /"d"/, 'the private key is not stored in clear');
      now += 999;
      assert.equal(await keys.refresh(), false);
      now += 1;
      assert.equal(await keys.refresh(), true);
      assert.notEqual(keys.currentKid, k1);
      assert.deepEqual(keys.publicJwks().keys.map((k) => k.kid), [keys.currentKid, k1]);
      assert.ok(keys.publicJwks().keys.every((k) => !('d' in k)));
      // Another replica with the same secret sees the same keys.
      const replica = new SigningKeys(opts);
      await replica.refresh();
      assert.equal(replica.currentKid, keys.currentKid);
      // With another secret the stored keys are unreadable: a new one is made.
      const stranger = new SigningKeys({ ...opts, secret: randomBytes(32) });
      await stranger.refresh();
      assert.ok(![k1, keys.currentKid].includes(stranger.currentKid));
      now += 101;
      await keys.refresh();
      assert.equal(keys.publicJwks().keys.some((k) => k.kid === k1), false, 'gone after the overlap');
    } finally {
      await storage.close();
    }
  });
});

describe('storage adapter', () => {
  it('revokes by grant id, finds by uid, and treats a second consume of a refresh token as a replay', async () => {
    const storage = createMemoryStorage();
    try {
      const factory = createAdapterFactory(storage.records);
      const rt = factory('RefreshToken');
      const at = factory('AccessToken');
      const session = factory('Session');
      await rt.upsert('rt1', { grantId: 'g1', accountId: 'alice' }, 60);
      await at.upsert('at1', { grantId: 'g1' }, 60);
      await session.upsert('s1', { uid: 'u1', accountId: 'alice' }, 60);
      assert.deepEqual(await session.findByUid('u1'), { uid: 'u1', accountId: 'alice' });
      await rt.consume('rt1');
      assert.ok((await rt.find('rt1'))?.consumed);
      await factory('Grant').upsert('g1', { jti: 'g1', accountId: 'alice' }, 60);
      await assert.rejects(rt.consume('rt1'), (e: { error?: string; error_detail?: string }) => e.error === 'invalid_grant' && /already used/.test(String(e.error_detail)));
      assert.equal(await storage.records.get(GRANTS_NS, 'g1'), undefined, 'the grant is revoked');
      assert.equal(await at.find('at1'), undefined);
    } finally {
      await storage.close();
    }
  });
});
