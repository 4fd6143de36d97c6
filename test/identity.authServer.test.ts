/**
 * The built-in OAuth 2.1 authorization server, mounted on a plain node:http server on 127.0.0.1 (issuer
 * http://127.0.0.1:PORT/oauth), driven through its real pages in headless Chromium and over plain HTTP.
 *
 *   node --import tsx --test test/identity.authServer.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type { Browser, BrowserContext } from 'playwright-core';
import { authorizeInBrowser, launchBrowser, startCallbackServer, type CallbackServer } from './support/oauthBrowser.js';
import {
  authorizeUrl,
  CookieJar,
  openLoginPage,
  PASSWORD,
  pkcePair,
  postForm,
  redeemCode,
  refreshTokens,
  registerClient,
  startDocumentServer,
  startTestAuthServer,
  tokenRequest,
  type DocumentServer,
  type TestAuthServer,
} from './support/oauthHarness.js';

const PRE_PUBLIC = 'prereg-public';
const PRE_SECRET = 'prereg-confidential';
const SECRET = 'a-confidential-client-secret-of-sufficient-length';

describe('built-in authorization server', () => {
  let t: TestAuthServer;
  let cb: CallbackServer;
  let docs: DocumentServer;
  let browser: Browser;
  let context: BrowserContext;
  let dcrClient: string;

  before(async () => {
    cb = await startCallbackServer();
    docs = await startDocumentServer();
    t = await startTestAuthServer({
      config: {
        clients: [
          { clientId: PRE_PUBLIC, clientName: 'Pre-registered app', redirectUris: [cb.redirectUri, 'http://localhost:1234/cb'] },
          { clientId: PRE_SECRET, clientName: 'Confidential app', redirectUris: [cb.redirectUri], clientSecret: SECRET },
        ],
      },
      // Only members of "admin" may have mcp:admin.
      scopesFor: (account, _resource, requested) => requested.filter((s) => s !== 'mcp:admin' || account.groups.includes('admin')),
    });
    await t.as.users.add('alice', { groups: ['approver'], password: PASSWORD });
    await t.as.users.add('bob', { groups: ['admin'], password: PASSWORD });
    const reg = await registerClient(t, { client_name: 'Dynamic app', redirect_uris: [cb.redirectUri], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'] });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    dcrClient = reg.body.client_id;
    browser = await launchBrowser();
    context = await browser.newContext();
  });

  after(async () => {
    await browser?.close();
    await t?.close();
    await cb?.close();
    await docs?.close();
  });

  /** A full authorization in the browser and the code redeemed; returns the token response and what was shown. */
  async function authorize(clientId: string, o: { ctx?: BrowserContext; scope?: string; resource?: string; username?: string; decision?: 'allow' | 'deny'; secret?: string } = {}) {
    const { verifier, challenge } = pkcePair();
    const resource = o.resource ?? t.resource;
    const state = `s-${Math.random().toString(36).slice(2)}`;
    const url = authorizeUrl(t, { clientId, redirectUri: cb.redirectUri, resource, challenge, method: 'S256', state, ...(o.scope !== undefined ? { scope: o.scope } : {}) });
    const shown = await authorizeInBrowser(o.ctx ?? context, url, cb, { username: o.username ?? 'alice', password: PASSWORD, decision: o.decision ?? 'allow' });
    const q = shown.callback.searchParams;
    if (q.has('error')) return { shown, error: q.get('error')!, token: undefined };
    assert.equal(q.get('state'), state);
    assert.equal(q.get('iss'), t.issuer, 'RFC 9207 iss in the authorization response');
    const token = await redeemCode(t, { code: q.get('code')!, verifier, clientId, redirectUri: cb.redirectUri, resource, ...(o.secret ? { secret: o.secret } : {}) });
    assert.equal(token.status, 200, JSON.stringify(token.body));
    return { shown, error: undefined, token };
  }

  async function verify(accessToken: string): Promise<JWTPayload> {
    const { payload, protectedHeader } = await jwtVerify(accessToken, createLocalJWKSet(await t.as.publicJwks()), { issuer: t.issuer, typ: 'at+jwt' });
    assert.equal(protectedHeader.alg, 'ES256');
    return payload;
  }

  describe('metadata', () => {
    it('serves RFC 8414 metadata at the path-inserted location and OIDC discovery at both locations', async () => {
      const urls = [
        `${t.origin}/.well-known/oauth-authorization-server/oauth`,
        `${t.issuer}/.well-known/openid-configuration`,
        `${t.origin}/.well-known/openid-configuration/oauth`,
      ];
      for (const url of urls) {
        const res = await fetch(url);
        assert.equal(res.status, 200, url);
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
        const m = (await res.json()) as Record<string, any>;
        assert.equal(m.issuer, t.issuer);
        assert.equal(m.authorization_endpoint, `${t.issuer}/auth`);
        assert.equal(m.token_endpoint, `${t.issuer}/token`);
        assert.equal(m.registration_endpoint, `${t.issuer}/reg`);
        assert.equal(m.jwks_uri, `${t.issuer}/jwks`);
        assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
        assert.equal(m.authorization_response_iss_parameter_supported, true);
        assert.equal(m.client_id_metadata_document_supported, true);
        assert.deepEqual(m.response_types_supported, ['code']);
        assert.deepEqual([...m.grant_types_supported].sort(), ['authorization_code', 'refresh_token']);
        assert.ok(m.token_endpoint_auth_methods_supported.includes('none'));
        assert.ok(m.scopes_supported.includes('mcp'));
        assert.equal(m.userinfo_endpoint, undefined);
        assert.equal(m.dpop_signing_alg_values_supported, undefined);
      }
      // The root location belongs to whatever is at the root, not to an issuer with a path.
      assert.equal((await fetch(`${t.origin}/.well-known/oauth-authorization-server`)).status, 404);
    });
  });

  describe('authorization code flow in the browser', () => {
    let first: Awaited<ReturnType<typeof authorize>>;

    it('works for a dynamically registered client; the token is a signed JWT for the one resource', async () => {
      first = await authorize(dcrClient, { scope: 'mcp' });
      assert.equal(first.shown.sawLogin, true);
      assert.equal(first.shown.sawConsent, true);
      assert.match(first.shown.consentHtml!, /Dynamic app/);
      assert.match(first.shown.consentHtml!, new RegExp(cb.origin.replace('http://', '')));
      const body = first.token!.body;
      assert.equal(body.token_type, 'Bearer');
      assert.equal(body.scope, 'mcp');
      assert.equal(typeof body.refresh_token, 'string', 'refresh tokens are issued without offline_access');
      assert.equal(first.token!.headers.get('cache-control'), 'no-store');
      const claims = await verify(body.access_token);
      assert.equal(claims.aud, t.resource);
      assert.equal(claims.sub, 'alice');
      assert.equal(claims.client_id, dcrClient);
      assert.equal(claims.scope, 'mcp');
      assert.equal(claims.exp! - claims.iat!, 300);
      assert.equal(typeof claims.jti, 'string');
      assert.deepEqual(claims.groups, ['approver']);
      assert.deepEqual(claims.roles, ['approver']);
      assert.equal(typeof claims.grant_id, 'string');
      assert.equal(await t.as.isGrantRevoked(claims.grant_id as string), false);
    });

    it('remembers consent: the next authorization of the same client skips the consent page', async () => {
      const again = await authorize(dcrClient, { scope: 'mcp' });
      assert.equal(again.shown.sawLogin, false, 'the login session is reused');
      assert.equal(again.shown.sawConsent, false, 'consent is remembered');
      const claims = decodeJwt(again.token!.body.access_token);
      assert.equal(claims.scope, 'mcp');
    });

    it('asks again when a client asks for another endpoint than the one approved', async () => {
      const other = await authorize(dcrClient, { scope: 'mcp', resource: t.otherResource });
      assert.equal(other.shown.sawConsent, true);
      assert.equal(decodeJwt(other.token!.body.access_token).aud, t.otherResource);
    });

    it('rotates refresh tokens; replaying a used one revokes the whole grant', async () => {
      const grantId = decodeJwt(first.token!.body.access_token).grant_id as string;
      const rt1 = first.token!.body.refresh_token as string;
      const r2 = await refreshTokens(t, { refreshToken: rt1, clientId: dcrClient, resource: t.resource });
      assert.equal(r2.status, 200, JSON.stringify(r2.body));
      const rt2 = r2.body.refresh_token as string;
      assert.notEqual(rt2, rt1, 'a new refresh token on every use');
      const c2 = await verify(r2.body.access_token);
      assert.equal(c2.grant_id, grantId);
      assert.equal(c2.aud, t.resource);
      // rt1 again: a replay.
      const replay = await refreshTokens(t, { refreshToken: rt1, clientId: dcrClient, resource: t.resource });
      assert.equal(replay.status, 400);
      assert.equal(replay.body.error, 'invalid_grant');
      assert.equal(await t.as.isGrantRevoked(grantId), true);
      const dead = await refreshTokens(t, { refreshToken: rt2, clientId: dcrClient, resource: t.resource });
      assert.equal(dead.body.error, 'invalid_grant', 'the newest refresh token of the chain is dead too');
    });

    it('two concurrent uses of one refresh token: one at most succeeds, and the grant is revoked', async () => {
      const ctx = await browser.newContext();
      const r = await authorize(PRE_PUBLIC, { ctx, username: 'bob', scope: 'mcp' }).finally(() => ctx.close());
      const grantId = decodeJwt(r.token!.body.access_token).grant_id as string;
      const both = await Promise.all([1, 2].map(() => refreshTokens(t, { refreshToken: r.token!.body.refresh_token, clientId: PRE_PUBLIC })));
      assert.ok(both.some((x) => x.body.error === 'invalid_grant'), JSON.stringify(both.map((x) => x.body)));
      assert.equal(await t.as.isGrantRevoked(grantId), true);
    });

    it('works for a client ID metadata document client', async () => {
      const clientId = docs.set('/cimd/client.json', { client_id: `${docs.origin}/cimd/client.json`, client_name: 'Metadata Document App', redirect_uris: [cb.redirectUri], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'] });
      const r = await authorize(clientId, { scope: 'mcp' });
      assert.equal(r.shown.sawConsent, true);
      assert.match(r.shown.consentHtml!, /Metadata Document App/);
      assert.match(r.shown.consentHtml!, /metadata document/);
      const claims = await verify(r.token!.body.access_token);
      assert.equal(claims.client_id, clientId);
      assert.equal(claims.aud, t.resource);
      // Cached: the flow (authorization, pages, token) fetched the document once.
      assert.equal(docs.hits.get('/cimd/client.json'), 1);
    });

    it('works for a pre-registered public client and a confidential one', async () => {
      const pub = await authorize(PRE_PUBLIC, { scope: 'mcp' });
      assert.match(pub.shown.consentHtml!, /Pre-registered app/);
      assert.equal((await verify(pub.token!.body.access_token)).client_id, PRE_PUBLIC);
      const conf = await authorize(PRE_SECRET, { scope: 'mcp', secret: SECRET });
      assert.equal((await verify(conf.token!.body.access_token)).client_id, PRE_SECRET);
    });

    it('grants requested ∩ offered ∩ what scopesFor allows, and shows what is not available', async () => {
      const r = await authorize(PRE_PUBLIC, { scope: 'mcp mcp:admin unknown-scope', resource: t.otherResource });
      assert.match(r.shown.consentHtml!, /Not available to your account: <code>mcp:admin<\/code>/);
      assert.equal(r.token!.body.scope, 'mcp');
      const ctx = await browser.newContext();
      try {
        const admin = await authorize(PRE_PUBLIC, { ctx, username: 'bob', scope: 'mcp mcp:admin' });
        assert.equal(decodeJwt(admin.token!.body.access_token).scope, 'mcp mcp:admin');
        assert.deepEqual(decodeJwt(admin.token!.body.access_token).roles, ['admin']);
      } finally {
        await ctx.close();
      }
    });

    it('gives a request without scope the default scope (every offered scope the account may have)', async () => {
      const ctx = await browser.newContext();
      try {
        const r = await authorize(dcrClient, { ctx });
        assert.equal(decodeJwt(r.token!.body.access_token).scope, 'mcp');
      } finally {
        await ctx.close();
      }
    });

    it('revoking consent revokes the client\'s grants and brings the consent page back', async () => {
      const r = await authorize(dcrClient, { scope: 'mcp' });
      assert.equal(r.shown.sawConsent, false);
      const grantId = decodeJwt(r.token!.body.access_token).grant_id as string;
      await t.as.revokeConsent('alice', dcrClient);
      assert.equal(await t.as.isGrantRevoked(grantId), true);
      const refreshed = await refreshTokens(t, { refreshToken: r.token!.body.refresh_token, clientId: dcrClient });
      assert.equal(refreshed.body.error, 'invalid_grant');
      const again = await authorize(dcrClient, { scope: 'mcp' });
      assert.equal(again.shown.sawConsent, true);
    });

    it('a denied consent returns access_denied to the client', async () => {
      const ctx = await browser.newContext();
      try {
        const r = await authorize(PRE_SECRET, { ctx, username: 'bob', decision: 'deny', scope: 'mcp' });
        assert.equal(r.error, 'access_denied');
      } finally {
        await ctx.close();
      }
    });

    it('sets __Host- session and __Secure- interaction cookies: Secure, HttpOnly, SameSite=Lax', async () => {
      const cookies = await context.cookies(t.origin + '/');
      const session = cookies.find((c) => c.name === '__Host-portcullis.session');
      assert.ok(session, JSON.stringify(cookies.map((c) => c.name)));
      assert.deepEqual([session.secure, session.httpOnly, session.sameSite, session.path], [true, true, 'Lax', '/']);
      const all = await context.cookies();
      const interaction = all.find((c) => c.name === '__Secure-portcullis.interaction');
      assert.ok(interaction);
      assert.deepEqual([interaction.secure, interaction.httpOnly, interaction.sameSite], [true, true, 'Lax']);
      assert.match(interaction.path, /^\/oauth\/interaction\//);
    });
  });

  describe('refusals', () => {
    /** The parameters of a redirect to the client: query, or fragment for response types that would use one. */
    const q = (location: string | null) => {
      const u = new URL(location!);
      return u.hash ? new URLSearchParams(u.hash.slice(1)) : u.searchParams;
    };

    async function authorizeRaw(params: Parameters<typeof authorizeUrl>[1]): Promise<Response> {
      return fetch(authorizeUrl(t, params), { redirect: 'manual' });
    }

    it('requires PKCE, and only S256', async () => {
      const none = await authorizeRaw({ clientId: PRE_PUBLIC, redirectUri: cb.redirectUri, resource: t.resource, scope: 'mcp' });
      assert.equal(none.status, 303);
      assert.equal(q(none.headers.get('location')).get('error'), 'invalid_request');
      assert.match(q(none.headers.get('location')).get('error_description')!, /PKCE/);
      const confidential = await authorizeRaw({ clientId: PRE_SECRET, redirectUri: cb.redirectUri, resource: t.resource, scope: 'mcp' });
      assert.equal(q(confidential.headers.get('location')).get('error'), 'invalid_request', 'confidential clients too');
      const plain = await authorizeRaw({ clientId: PRE_PUBLIC, redirectUri: cb.redirectUri, resource: t.resource, scope: 'mcp', challenge: 'a'.repeat(43), method: 'plain' });
      assert.equal(q(plain.headers.get('location')).get('error'), 'invalid_request');
      assert.match(q(plain.headers.get('location')).get('error_description')!, /code_challenge_method/);
    });

    it('requires a resource indicator naming one of the gateway\'s MCP endpoints', async () => {
      const { challenge } = pkcePair();
      const missing = await authorizeRaw({ clientId: PRE_PUBLIC, redirectUri: cb.redirectUri, scope: 'mcp', challenge, method: 'S256' });
      assert.equal(q(missing.headers.get('location')).get('error'), 'invalid_target');
      const foreign = await authorizeRaw({ clientId: PRE_PUBLIC, redirectUri: cb.redirectUri, scope: 'mcp', challenge, method: 'S256', resource: 'https://elsewhere.example/mcp' });
      assert.equal(q(foreign.headers.get('location')).get('error'), 'invalid_target');
      // Canonical comparison: upper-case scheme and host name the same endpoint.
      const upper = await authorizeRaw({ clientId: PRE_PUBLIC, redirectUri: cb.redirectUri, scope: 'mcp', challenge, method: 'S256', resource: t.resource.replace('http://', 'HTTP://') });
      assert.equal(upper.status, 303);
      assert.match(upper.headers.get('location')!, /\/oauth\/interaction\//);
    });

    it('refuses an unregistered redirect URI without redirecting; loopback IP ports may vary, localhost may not', async () => {
      const { challenge } = pkcePair();
      const base = { clientId: PRE_PUBLIC, resource: t.resource, scope: 'mcp', challenge, method: 'S256' };
      const foreign = await authorizeRaw({ ...base, redirectUri: 'https://attacker.example/callback' });
      assert.equal(foreign.status, 400);
      assert.equal(foreign.headers.get('location'), null);
      assert.match(await foreign.text(), /redirect_uri/);
      const otherPath = await authorizeRaw({ ...base, redirectUri: `${cb.origin}/elsewhere` });
      assert.equal(otherPath.status, 400);
      const otherPort = await authorizeRaw({ ...base, redirectUri: 'http://127.0.0.1:1/callback' });
      assert.equal(otherPort.status, 303, 'RFC 8252 §7.3: any port on the loopback IP');
      assert.match(otherPort.headers.get('location')!, /\/oauth\/interaction\//);
      const localhostSame = await authorizeRaw({ ...base, redirectUri: 'http://localhost:1234/cb' });
      assert.equal(localhostSame.status, 303);
      const localhostOther = await authorizeRaw({ ...base, redirectUri: 'http://localhost:4321/cb' });
      assert.equal(localhostOther.status, 400, 'localhost matches exactly');
    });

    it('refuses implicit, password and client credentials grants', async () => {
      const { challenge } = pkcePair();
      const implicit = await authorizeRaw({ clientId: PRE_PUBLIC, redirectUri: cb.redirectUri, resource: t.resource, scope: 'mcp', challenge, method: 'S256', responseType: 'token' });
      assert.equal(q(implicit.headers.get('location')).get('error'), 'unsupported_response_type');
      const password = await tokenRequest(t, { grant_type: 'password', username: 'alice', password: PASSWORD, client_id: PRE_PUBLIC });
      assert.equal(password.body.error, 'unsupported_grant_type');
      const cc = await tokenRequest(t, { grant_type: 'client_credentials' }, { id: PRE_SECRET, secret: SECRET });
      assert.equal(cc.body.error, 'unsupported_grant_type');
      const reg = await registerClient(t, { redirect_uris: [cb.redirectUri], grant_types: ['implicit'], response_types: ['token'] });
      assert.equal(reg.status, 400);
      assert.equal(reg.body.error, 'invalid_client_metadata');
    });

    it('accepts a registration listing offered scopes, and holds the client to them', async () => {
      const reg = await registerClient(t, { client_name: 'Scoped app', redirect_uris: [cb.redirectUri], scope: 'mcp offline_access' });
      assert.equal(reg.status, 201, JSON.stringify(reg.body));
      const unknown = await registerClient(t, { redirect_uris: [cb.redirectUri], scope: 'mcp something-else' });
      assert.equal(unknown.body.error, 'invalid_client_metadata');
      const { challenge } = pkcePair();
      const beyond = await authorizeRaw({ clientId: reg.body.client_id, redirectUri: cb.redirectUri, resource: t.resource, scope: 'mcp mcp:admin', challenge, method: 'S256' });
      assert.equal(q(beyond.headers.get('location')).get('error'), 'invalid_scope');
      // Without a scope, the default stays within the registered scope.
      const dflt = await authorizeRaw({ clientId: reg.body.client_id, redirectUri: cb.redirectUri, resource: t.resource, challenge, method: 'S256' });
      assert.equal(dflt.status, 303);
      assert.match(dflt.headers.get('location')!, /\/oauth\/interaction\//);
    });

    it('refuses a client metadata document whose client_id is not its URL', async () => {
      const url = docs.set('/cimd/liar.json', { client_id: 'https://someone-else.example/client.json', client_name: 'Liar', redirect_uris: [cb.redirectUri] });
      const { challenge } = pkcePair();
      const res = await authorizeRaw({ clientId: url, redirectUri: cb.redirectUri, resource: t.resource, scope: 'mcp', challenge, method: 'S256' });
      assert.equal(res.status, 400);
      const html = await res.text();
      assert.match(html, /invalid_client_metadata/);
      assert.match(html, /client_id does not equal the URL/);
    });

    it('refuses a second redemption of a code and revokes what the first one produced', async () => {
      const { verifier, challenge } = pkcePair();
      const url = authorizeUrl(t, { clientId: PRE_PUBLIC, redirectUri: cb.redirectUri, resource: t.resource, scope: 'mcp', challenge, method: 'S256' });
      const shown = await authorizeInBrowser(context, url, cb, { username: 'alice', password: PASSWORD });
      const code = shown.callback.searchParams.get('code')!;
      const ok = await redeemCode(t, { code, verifier, clientId: PRE_PUBLIC, redirectUri: cb.redirectUri, resource: t.resource });
      assert.equal(ok.status, 200);
      const again = await redeemCode(t, { code, verifier, clientId: PRE_PUBLIC, redirectUri: cb.redirectUri, resource: t.resource });
      assert.equal(again.body.error, 'invalid_grant');
      assert.equal(await t.as.isGrantRevoked(decodeJwt(ok.body.access_token).grant_id as string), true);
    });

    it('refuses a wrong PKCE verifier', async () => {
      const { challenge } = pkcePair();
      const url = authorizeUrl(t, { clientId: PRE_PUBLIC, redirectUri: cb.redirectUri, resource: t.resource, scope: 'mcp', challenge, method: 'S256' });
      const shown = await authorizeInBrowser(context, url, cb, { username: 'alice', password: PASSWORD });
      const res = await redeemCode(t, { code: shown.callback.searchParams.get('code')!, verifier: pkcePair().verifier, clientId: PRE_PUBLIC, redirectUri: cb.redirectUri, resource: t.resource });
      assert.equal(res.body.error, 'invalid_grant');
    });

    it('login and consent pages refuse framing and load nothing from elsewhere', async () => {
      const { challenge } = pkcePair();
      const login = await openLoginPage(t, new CookieJar(), authorizeUrl(t, { clientId: PRE_PUBLIC, redirectUri: cb.redirectUri, resource: t.resource, scope: 'mcp', challenge, method: 'S256' }));
      const h = login.response.headers;
      assert.equal(h.get('x-frame-options'), 'DENY');
      const csp = h.get('content-security-policy') ?? '';
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /base-uri 'none'/);
      assert.match(csp, new RegExp(`form-action 'self' ${cb.origin.replace(/[.:/]/g, '\\$&')}`));
      assert.equal(h.get('cache-control'), 'no-store');
      assert.equal(h.get('x-content-type-options'), 'nosniff');
      assert.doesNotMatch(login.html, /<script|src="http|href="http/);
    });

    it('refuses a login POST without its CSRF token or from another origin', async () => {
      const { challenge } = pkcePair();
      const jar = new CookieJar();
      const login = await openLoginPage(t, jar, authorizeUrl(t, { clientId: PRE_PUBLIC, redirectUri: cb.redirectUri, resource: t.resource, scope: 'mcp', challenge, method: 'S256' }));
      const noToken = await postForm(t, jar, login.action, { username: 'alice', password: PASSWORD });
      assert.equal(noToken.status, 403);
      assert.match(await noToken.text(), /security token/);
      const wrongToken = await postForm(t, jar, login.action, { username: 'alice', password: PASSWORD, csrf: 'x'.repeat(43) });
      assert.equal(wrongToken.status, 403);
      const crossSite = await postForm(t, jar, login.action, { username: 'alice', password: PASSWORD, csrf: login.csrf }, { origin: 'https://attacker.example' });
      assert.equal(crossSite.status, 403);
      const ok = await postForm(t, jar, login.action, { username: 'alice', password: PASSWORD, csrf: login.csrf });
      assert.equal(ok.status, 303, 'the same form with its token and origin signs in');
    });
  });

  describe('signing keys', () => {
    it('rotates after keyRotationDays; the previous key stays published until its tokens have expired', async () => {
      const ctx = await browser.newContext();
      try {
        const before = await authorize(PRE_PUBLIC, { ctx, scope: 'mcp' });
        const oldToken = before.token!.body.access_token as string;
        const oldKid = decodeProtectedHeader(oldToken).kid;
        assert.deepEqual((await t.as.publicJwks()).keys.map((k) => k.kid), [oldKid]);

        t.clock.advance(31 * 24 * 60 * 60 * 1000);
        const jwks = await t.as.publicJwks();
        assert.equal(jwks.keys.length, 2, 'current and previous');
        assert.equal(jwks.keys[1]!.kid, oldKid);
        const served = (await (await fetch(`${t.issuer}/jwks`)).json()) as { keys: Array<{ kid: string; d?: string }> };
        assert.deepEqual(served.keys.map((k) => k.kid), jwks.keys.map((k) => k.kid));
        assert.ok(served.keys.every((k) => k.d === undefined), 'no private parts published');

        const refreshed = await refreshTokens(t, { refreshToken: before.token!.body.refresh_token, clientId: PRE_PUBLIC });
        assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
        const newToken = refreshed.body.access_token as string;
        assert.equal(decodeProtectedHeader(newToken).kid, jwks.keys[0]!.kid, 'new tokens are signed with the new key');
        await verify(oldToken);
        await verify(newToken);

        // Past the overlap (access token lifetime + skew) the old key is gone.
        t.clock.advance((300 + 61) * 1000);
        const later = await t.as.publicJwks();
        assert.deepEqual(later.keys.map((k) => k.kid), [jwks.keys[0]!.kid]);
        await assert.rejects(verify(oldToken));
        await verify(newToken);
      } finally {
        await ctx.close();
      }
    });
  });
});

describe('built-in authorization server, other settings', () => {
  it('with dynamic registration off: no registration endpoint, and POST /reg is refused', async () => {
    const t = await startTestAuthServer({ config: { dynamicRegistration: false } });
    try {
      const m = (await (await fetch(`${t.origin}/.well-known/oauth-authorization-server/oauth`)).json()) as Record<string, unknown>;
      assert.equal(m.registration_endpoint, undefined);
      const reg = await registerClient(t, { redirect_uris: ['http://127.0.0.1:9/callback'] });
      assert.equal(reg.status, 404);
    } finally {
      await t.close();
    }
  });

  it('refuses a client metadata document on a private address unless allowPrivateNetworks', async () => {
    const docs = await startDocumentServer();
    const t = await startTestAuthServer({ config: { clientIdMetadataDocuments: { enabled: true, allowedHosts: [], allowPrivateNetworks: false, cacheSeconds: 60 } } });
    try {
      const { challenge } = pkcePair();
      for (const clientId of [docs.set('/c.json', {}).replace('http://', 'https://'), docs.set('/c.json', {})]) {
        const res = await fetch(authorizeUrl(t, { clientId, redirectUri: 'http://127.0.0.1:9/callback', resource: t.resource, challenge, method: 'S256' }), { redirect: 'manual' });
        assert.equal(res.status, 400);
        const html = await res.text();
        assert.match(html, /invalid_client/);
        assert.match(html, /address is not public|must use https/);
      }
      assert.equal(docs.hits.size, 0, 'nothing was fetched');
    } finally {
      await t.close();
      await docs.close();
    }
  });

  it('applies the trusted-host list to client metadata documents', async () => {
    const docs = await startDocumentServer();
    const t = await startTestAuthServer({ config: { clientIdMetadataDocuments: { enabled: true, allowedHosts: ['*.example.com'], allowPrivateNetworks: true, cacheSeconds: 60 } } });
    try {
      const clientId = docs.set('/c.json', { client_id: `${docs.origin}/c.json`, redirect_uris: ['http://127.0.0.1:9/callback'] });
      const { challenge } = pkcePair();
      const res = await fetch(authorizeUrl(t, { clientId, redirectUri: 'http://127.0.0.1:9/callback', resource: t.resource, challenge, method: 'S256' }), { redirect: 'manual' });
      assert.equal(res.status, 400);
      assert.match(await res.text(), /not trusted/);
      assert.equal(docs.hits.size, 0);
    } finally {
      await t.close();
      await docs.close();
    }
  });

  it('rate-limits sign-in after maxAttempts failures, with a clear message', async () => {
    const t = await startTestAuthServer({ config: { clients: [{ clientId: 'c', redirectUris: ['http://127.0.0.1:9/callback'] }] } });
    try {
      await t.as.users.add('carol', { password: PASSWORD });
      const { challenge } = pkcePair();
      const jar = new CookieJar();
      const login = await openLoginPage(t, jar, authorizeUrl(t, { clientId: 'c', redirectUri: 'http://127.0.0.1:9/callback', resource: t.resource, scope: 'mcp', challenge, method: 'S256' }));
      for (let i = 0; i < 5; i++) {
        const bad = await postForm(t, jar, login.action, { username: 'carol', password: `wrong-password-${i}`, csrf: login.csrf });
        assert.equal(bad.status, 400);
        assert.match(await bad.text(), /Wrong user name or password/);
      }
      const blocked = await postForm(t, jar, login.action, { username: 'carol', password: PASSWORD, csrf: login.csrf });
      assert.equal(blocked.status, 429, 'even the right password is refused while blocked');
      assert.match(await blocked.text(), /Too many failed sign-in attempts for this account or from your address\. Try again in 5 minutes\./);
      assert.ok(Number(blocked.headers.get('retry-after')) > 0);
      // The address is blocked too: another account from the same address waits as well.
      await t.as.users.add('dave', { password: PASSWORD });
      const other = await postForm(t, jar, login.action, { username: 'dave', password: PASSWORD, csrf: login.csrf });
      assert.equal(other.status, 429);
    } finally {
      await t.close();
    }
  });

  it('first start: creates admin without a password and a one-time setup link that sets one', async () => {
    const t = await startTestAuthServer();
    const browser = await launchBrowser();
    try {
      const first = await t.as.ensureFirstAdmin();
      assert.ok(first);
      assert.equal(first.username, 'admin');
      assert.match(first.setupUrl, new RegExp(`^${t.issuer}/setup/[A-Za-z0-9_-]{43}$`));
      const admin = await t.as.users.get('admin');
      assert.deepEqual([admin?.groups, admin?.hasPassword], [['admin'], false]);
      assert.equal(await t.as.users.verify('admin', ''), undefined);
      // Only the token's hash is stored.
      const token = first.setupUrl.split('/').at(-1)!;
      assert.equal((await t.records.list('oauth:setupLinks')).some((r) => r.key === token || JSON.stringify(r.value).includes(token)), false);

      const page = await browser.newPage();
      await page.goto(first.setupUrl);
      await page.fill('#password', 'an admin password that is long');
      await page.fill('#confirm', 'an admin password that is long');
      await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
      assert.match((await page.textContent('h1')) ?? '', /Password set/);
      assert.ok(await t.as.users.verify('admin', 'an admin password that is long'));
      const stored = await t.records.get('oauth:users', 'admin');
      assert.match(String(stored?.passwordHash), /^scrypt\$65536\$8\$1\$/);
      assert.doesNotMatch(JSON.stringify(stored), /an admin password/);

      await page.goto(first.setupUrl);
      assert.match((await page.textContent('h1')) ?? '', /Link expired/, 'the link works once');
      assert.equal(await t.as.ensureFirstAdmin(), undefined, 'only on a first start');
    } finally {
      await browser.close();
      await t.close();
    }
  });
});
