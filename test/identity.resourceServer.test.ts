/**
 * The gateway as an OAuth 2.1 resource server (MCP authorization spec), against an external issuer on loopback:
 * metadata, challenges, every token rejection, audience binding per endpoint, session and state-handle binding to
 * the principal, and that the client's token never reaches an upstream.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { modern, npmUpstream, post, startTestGateway } from './support/gateway.js';
import { startTestIssuer, type TestIssuer } from './support/issuer.js';
import { startRecordingUpstream, type RecordingUpstream } from './support/recordingUpstream.js';
import type { RunningGateway } from '../src/gateway.js';
import { principalFromClaims, stringList, claimAt } from '../src/identity/resourceServer/claims.js';
import { revokePrincipalSessions, revokeSession } from '../src/transport/sessionRevocation.js';

let iss: TestIssuer;
let up: RecordingUpstream;
let gw: RunningGateway;

before(async () => {
  iss = await startTestIssuer();
  up = await startRecordingUpstream();
  gw = await startTestGateway(`auth:
  mode: oauth
  builtin: { enabled: false }
  issuers:
    - issuer: ${iss.issuer}
      allowPrivateNetworks: true
      claims: { tenant: tid }
upstreams:
  rec: { transport: http, url: ${JSON.stringify(up.url)}, protocol: legacy }
  other: { transport: http, url: ${JSON.stringify(up.url)}, protocol: legacy }
${npmUpstream('everything', '@modelcontextprotocol/server-everything', ['stdio'], 'connection: per-session')}
virtualServers:
  default: { upstreams: [rec] }
`);
});
after(async () => {
  await gw?.close();
  await up?.close();
  await iss?.close();
});

const endpoint = (name: string) => `${gw.url}/servers/${name}/mcp`;
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const token = (sub: string, aud: string, extra: Record<string, unknown> = {}, opts: Parameters<TestIssuer['sign']>[1] = {}) =>
  iss.sign({ sub, scope: 'mcp', ...extra }, { aud, ...opts });
const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } };
const b64url = (s: string) => Buffer.from(s).toString('base64url');

describe('protected resource metadata (RFC 9728)', () => {
  test('every endpoint publishes its own document at the path-aware well-known URL', async () => {
    for (const path of ['/servers/rec/mcp', '/virtual/default/mcp', '/mcp']) {
      const res = await fetch(`${gw.url}/.well-known/oauth-protected-resource${path}`);
      assert.equal(res.status, 200, path);
      const doc = await res.json() as Record<string, unknown>;
      assert.equal(doc.resource, `${gw.url}${path}`);
      assert.deepEqual(doc.authorization_servers, [iss.issuer]);
      assert.deepEqual(doc.bearer_methods_supported, ['header']);
      assert.ok((doc.scopes_supported as string[]).includes('mcp'));
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
    }
    assert.equal((await fetch(`${gw.url}/.well-known/oauth-protected-resource/servers/nope/mcp`)).status, 404);
  });

  test('a request without a token gets 401 naming the metadata, and no detail', async () => {
    const r = await post(endpoint('rec'), INIT);
    assert.equal(r.status, 401);
    const challenge = r.headers.get('www-authenticate')!;
    assert.match(challenge, /^Bearer /);
    const m = /resource_metadata="([^"]+)"/.exec(challenge)!;
    assert.equal(m[1], `${gw.url}/.well-known/oauth-protected-resource/servers/rec/mcp`);
    assert.match(challenge, /scope="mcp"/);
    assert.doesNotMatch(challenge, /error=/);
    assert.equal((await fetch(m[1]!)).status, 200);
    assert.equal(r.json().error.message, 'Unauthorized');
  });
});

describe('access tokens', () => {
  test('a valid token for the endpoint works, and the token never reaches the upstream', async () => {
    const t = await token('alice', endpoint('rec'));
    const init = await post(endpoint('rec'), INIT, bearer(t));
    assert.equal(init.status, 200);
    const h = { ...bearer(t), 'mcp-session-id': init.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
    const call = await post(endpoint('rec'), { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } }, h);
    assert.equal(call.json().result.content[0].text, 'hello');
    assert.ok(up.requests.length > 0);
    for (const r of up.requests) {
      assert.equal(r.headers.authorization, undefined, `upstream ${r.method} received an Authorization header`);
      assert.ok(!JSON.stringify(r.headers).includes(t.slice(-20)), 'the token appears in an upstream header');
    }
  });

  test('the default endpoint is its own resource: a token for /mcp is not one for /virtual/default/mcp', async () => {
    const t = await token('alice', `${gw.url}/mcp`);
    assert.equal((await post(`${gw.url}/mcp`, INIT, bearer(t))).status, 200);
    assert.equal((await post(`${gw.url}/virtual/default/mcp`, INIT, bearer(t))).status, 401);
  });

  const refusals: Array<[string, () => Promise<string>]> = [
    ['a token for another endpoint (audience)', () => token('alice', endpoint('other'))],
    ['a token without audience', () => iss.sign({ sub: 'alice', scope: 'mcp' })],
    ['an expired token', () => token('alice', endpoint('rec'), {}, { expiresIn: Math.floor(Date.now() / 1000) - 120 })],
    ['a token not valid yet', () => token('alice', endpoint('rec'), {}, { notBefore: Math.floor(Date.now() / 1000) + 600 })],
    ['a token from an untrusted issuer', () => token('alice', endpoint('rec'), { iss: 'https://evil.example' })],
    ['alg none', async () => `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify({ iss: iss.issuer, sub: 'alice', aud: endpoint('rec'), scope: 'mcp', exp: Math.floor(Date.now() / 1000) + 300 }))}.`],
    ['HS256 signed with the public key (key confusion)', async () => {
      const jwks = await (await fetch(`${iss.issuer}/jwks`)).text();
      const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: 'k1' }));
      const body = b64url(JSON.stringify({ iss: iss.issuer, sub: 'alice', aud: endpoint('rec'), scope: 'mcp', exp: Math.floor(Date.now() / 1000) + 300 }));
      return `${head}.${body}.${createHmac('sha256', jwks).update(`${head}.${body}`).digest('base64url')}`;
    }],
    ['a token with a forged signature', async () => { const t = await token('alice', endpoint('rec')); return `${t.slice(0, -6)}AAAAAA`; }],
    ['a token with a changed payload', async () => {
      const [h, , s] = (await token('alice', endpoint('rec'))).split('.');
      return `${h}.${b64url(JSON.stringify({ iss: iss.issuer, sub: 'root', aud: endpoint('rec'), scope: 'mcp', exp: Math.floor(Date.now() / 1000) + 300 }))}.${s}`;
    }],
    ['garbage', async () => 'not.a.jwt'],
  ];
  for (const [name, make] of refusals) {
    test(`refused with 401 invalid_token: ${name}`, async () => {
      const r = await post(endpoint('rec'), INIT, bearer(await make()));
      assert.equal(r.status, 401);
      const challenge = r.headers.get('www-authenticate')!;
      assert.match(challenge, /error="invalid_token"/);
      assert.match(challenge, /resource_metadata="/);
      assert.equal(r.json().error.message, 'Unauthorized', 'no detail leaks');
    });
  }

  test('a token in the query string is refused (400 invalid_request), even with a valid header', async () => {
    const t = await token('alice', endpoint('rec'));
    const r = await post(`${endpoint('rec')}?access_token=${t}`, INIT, bearer(t));
    assert.equal(r.status, 400);
    assert.match(r.headers.get('www-authenticate')!, /error="invalid_request"/);
  });

  test('a malformed Authorization header is refused (400)', async () => {
    for (const h of ['Basic YWxpY2U6c2VjcmV0', 'Bearer', 'Bearer a b', 'Bearer  ']) {
      const r = await post(endpoint('rec'), INIT, { authorization: h });
      assert.equal(r.status, 400, h);
    }
  });

  test('a token without the required scope gets 403 insufficient_scope with the scope to ask for', async () => {
    const t = await token('alice', endpoint('rec'), { scope: 'other' });
    const r = await post(endpoint('rec'), INIT, bearer(t));
    assert.equal(r.status, 403);
    const challenge = r.headers.get('www-authenticate')!;
    assert.match(challenge, /error="insufficient_scope"/);
    assert.match(challenge, /scope="other mcp"/);
  });
});

describe('binding to the principal', () => {
  test('a session created by one user is unknown (404) to another, on every method', async () => {
    const a = await token('alice', endpoint('rec'));
    const b = await token('bob', endpoint('rec'));
    const init = await post(endpoint('rec'), INIT, bearer(a));
    const sid = init.headers.get('mcp-session-id')!;
    const hb = { ...bearer(b), 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    const hijack = await post(endpoint('rec'), { jsonrpc: '2.0', id: 2, method: 'tools/list' }, hb);
    assert.equal(hijack.status, 404);
    assert.equal((await fetch(endpoint('rec'), { headers: { ...hb, accept: 'text/event-stream' } })).status, 404);
    assert.equal((await fetch(endpoint('rec'), { method: 'DELETE', headers: hb })).status, 404);
    // The same user from another issuer is another principal.
    const ha = { ...bearer(a), 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    assert.equal((await post(endpoint('rec'), { jsonrpc: '2.0', id: 3, method: 'tools/list' }, ha)).status, 200, 'the owner still uses it');
  });

  test('a session can be revoked, by id or by principal, from shared storage', async () => {
    const a = await token('dave', endpoint('rec'));
    const open = async () => {
      const init = await post(endpoint('rec'), INIT, bearer(a));
      return { ...bearer(a), 'mcp-session-id': init.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
    };
    const list = (h: Record<string, string>) => post(endpoint('rec'), { jsonrpc: '2.0', id: 9, method: 'tools/list' }, h);
    const gone = async (h: Record<string, string>) => {
      for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
        if ((await list(h)).status === 404) return true;
      }
      return false;
    };
    const one = await open();
    const two = await open();
    assert.equal((await list(one)).status, 200);
    await revokeSession(gw.gateway.storage.records, one['mcp-session-id']);
    assert.ok(await gone(one), 'the revoked session ends');
    assert.equal((await list(two)).status, 200, 'other sessions live on');
    await revokePrincipalSessions(gw.gateway.storage.records, 'dave');
    assert.ok(await gone(two), "revoking the user ends the user's sessions");
    const three = await open();
    assert.equal((await list(three)).status, 200, 'a session created after the revocation works');
  });

  test('a 2026 requestState handle issued to one user is refused for another', async () => {
    const ev = endpoint('everything');
    const a = await token('alice', ev);
    const b = await token('bob', ev);
    const caps = { elicitation: { form: {} } };
    const first = modern('tools/call', { name: 'trigger-elicitation-request', arguments: {} }, 1, caps);
    const r1 = (await post(ev, first.body, { ...first.headers, ...bearer(a) })).json().result;
    assert.equal(r1.resultType, 'input_required');
    const [key] = Object.keys(r1.inputRequests);
    const answer = { [key!]: { action: 'accept', content: { name: 'Eve', check: true, email: 'eve@example.com' } } };
    const stolen = modern('tools/call', { name: 'trigger-elicitation-request', arguments: {}, inputResponses: answer, requestState: r1.requestState }, 2, caps);
    const refused = (await post(ev, stolen.body, { ...stolen.headers, ...bearer(b) })).json();
    assert.equal(refused.error?.code, -32602);
    assert.match(refused.error.message, /requestState/);
    const own = (await post(ev, stolen.body, { ...stolen.headers, ...bearer(a) })).json();
    assert.match(JSON.stringify(own.result.content), /Eve/);
  });

  test('an HTTP+SSE stream opened by one user cannot be posted to by another', async () => {
    const a = await token('alice', endpoint('rec'));
    const b = await token('bob', endpoint('rec'));
    const ac = new AbortController();
    const res = await fetch(`${gw.url}/servers/rec/sse`, { headers: { accept: 'text/event-stream', ...bearer(a) }, signal: ac.signal });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    let text = '';
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
    const path = /data: (\S+)/.exec(text)![1]!;
    const asB = await post(`${gw.url}${path}`, INIT, bearer(b));
    assert.equal(asB.status, 404);
    const asA = await post(`${gw.url}${path}`, INIT, bearer(a));
    assert.equal(asA.status, 202);
    ac.abort();
  });
});

describe('issuer keys', () => {
  test('a token signed with a newly rotated key is accepted once the JWKS is refetched (rate-limited)', async () => {
    const before = iss.jwksFetches;
    await iss.rotate();
    const t = await token('carol', endpoint('rec'));
    // The cooldown since the last fetch may still run; the unknown kid is refetched as soon as it is over.
    const deadline = Date.now() + 8000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await post(endpoint('rec'), INIT, bearer(t))).status;
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(status, 200);
    assert.ok(iss.jwksFetches > before);
    assert.ok(iss.jwksFetches - before <= 3, `JWKS fetched ${iss.jwksFetches - before} times: refetching must be rate-limited`);
  });
});

describe('claims to principal', () => {
  test('mapping with dotted paths, string or array scopes, tenant', () => {
    const p = principalFromClaims(
      { iss: 'https://idp', sub: 'u1', scope: 'mcp read', realm_access: { roles: ['admin'] }, groups: 'ops', tid: 't1', azp: 'cli' },
      { subject: 'sub', scopes: 'scope', roles: 'realm_access.roles', groups: 'groups', clientId: 'client_id', tenant: 'tid' },
      undefined,
    )!;
    assert.deepEqual([p.subject, p.issuer, p.clientId, p.tenant, p.key], ['u1', 'https://idp', 'cli', 't1', 'https://idp u1']);
    assert.deepEqual([...p.scopes], ['mcp', 'read']);
    assert.deepEqual([...p.roles], ['admin']);
    assert.deepEqual([...p.groups], ['ops']);
    assert.equal(principalFromClaims({ iss: 'https://idp' }, { subject: 'sub', scopes: 'scope', roles: 'r', groups: 'g', clientId: 'c' }, undefined), undefined);
    assert.deepEqual(stringList(['a', 1, 'b']), ['a', 'b']);
    assert.equal(claimAt({ 'a.b': 1, a: { b: 2 } }, 'a.b'), 1);
  });
});
