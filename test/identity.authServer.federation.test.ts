/**
 * Sign-in federated to an upstream OpenID Connect provider (a second oidc-provider instance with its own minimal
 * login page), through the built-in authorization server's real pages in headless Chromium.
 *
 *   node --import tsx --test test/identity.authServer.federation.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { Browser } from 'playwright-core';
import { authorizeInBrowser, launchBrowser, startCallbackServer, type CallbackServer } from './support/oauthBrowser.js';
import { authorizeUrl, CookieJar, openLoginPage, pkcePair, redeemCode, startTestAuthServer, type TestAuthServer } from './support/oauthHarness.js';
import { startUpstreamIdp, type UpstreamIdp } from './support/oauthUpstream.js';

describe('federated login', () => {
  let t: TestAuthServer;
  let upstream: UpstreamIdp;
  let cb: CallbackServer;
  let browser: Browser;

  before(async () => {
    cb = await startCallbackServer();
    t = await startTestAuthServer({
      config: { clients: [{ clientId: 'app', clientName: 'Federated app', redirectUris: [cb.redirectUri] }] },
      configFor: async (origin) => {
        upstream = await startUpstreamIdp({
          clientId: 'portcullis',
          clientSecret: 'upstream-client-secret',
          redirectUri: `${origin}/oauth/federate/corp/callback`,
          user: { sub: 'u-1234', groups: ['Approver', 'staff'], preferred_username: 'alice.upstream' },
        });
        return {
          federation: [
            { name: 'corp', displayName: 'Corp SSO', issuer: upstream.issuer, clientId: 'portcullis', clientSecret: 'upstream-client-secret', scopes: ['openid', 'profile', 'groups'], groupsClaim: 'groups', allowPrivateNetworks: true },
            { name: 'other', displayName: 'Other IdP', issuer: 'https://idp.example', clientId: 'x', scopes: ['openid'], groupsClaim: 'groups', allowPrivateNetworks: false },
          ],
        };
      },
    });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await t?.close();
    await upstream?.close();
    await cb?.close();
  });

  it('offers one button per configured provider on the login page', async () => {
    const { challenge } = pkcePair();
    const login = await openLoginPage(t, new CookieJar(), authorizeUrl(t, { clientId: 'app', redirectUri: cb.redirectUri, resource: t.resource, scope: 'mcp', challenge, method: 'S256' }));
    assert.match(login.html, /Sign in with Corp SSO/);
    assert.match(login.html, /Sign in with Other IdP/);
  });

  it('signs in through the upstream provider; the account is fed:{name}:{sub} with the upstream groups', async () => {
    const { verifier, challenge } = pkcePair();
    const url = authorizeUrl(t, { clientId: 'app', redirectUri: cb.redirectUri, resource: t.resource, scope: 'mcp', challenge, method: 'S256' });
    const context = await browser.newContext();
    try {
      const shown = await authorizeInBrowser(context, url, cb, {
        onLogin: async (page) => {
          await Promise.all([page.waitForNavigation(), page.click('text=Sign in with Corp SSO')]);
          assert.match(page.url(), new RegExp(`^${upstream.issuer}/interaction/`));
          await Promise.all([page.waitForNavigation(), page.click('#upstream-login')]);
          return 'handled';
        },
      });
      assert.equal(upstream.logins, 1);
      assert.equal(shown.sawConsent, true);
      assert.match(shown.consentHtml!, /alice\.upstream/);
      const code = shown.callback.searchParams.get('code');
      assert.ok(code, shown.callback.href);
      const token = await redeemCode(t, { code, verifier, clientId: 'app', redirectUri: cb.redirectUri, resource: t.resource });
      assert.equal(token.status, 200, JSON.stringify(token.body));
      const { payload } = await jwtVerify(token.body.access_token, createLocalJWKSet(await t.as.publicJwks()), { issuer: t.issuer, audience: t.resource });
      assert.equal(payload.sub, 'fed:corp:u-1234');
      assert.deepEqual(payload.groups, ['approver', 'staff']);
      assert.deepEqual(payload.roles, ['approver', 'staff']);
    } finally {
      await context.close();
    }
  });

  it('refuses a callback whose state is unknown or reused', async () => {
    const res = await fetch(`${t.issuer}/federate/corp/callback?code=x&state=forged`, { redirect: 'manual' });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /expired or was already used/);
  });
});
