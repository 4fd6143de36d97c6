/**
 * Connecting an upstream account is bound to the browser's gateway sign-in: a connect link forwarded to another
 * user (account-linking CSRF) is refused, and a browser that is not signed in is sent to sign in first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectFlow } from '../src/credentials/connect.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { silentLogger } from '../src/core/log.js';
import type { UpstreamOAuthClient } from '../src/credentials/oauthClient.js';

test('only the ticket\'s own principal, signed in in this browser, can connect an account', async () => {
  const authorizations: string[] = [];
  const client = { authorizationUrl: async (state: string) => { authorizations.push(state); return `https://as.example/authorize?state=${state}`; } } as unknown as UpstreamOAuthClient;
  const flow = new ConnectFlow({ records: createMemoryStorage().records, client: () => client, base: () => base, log: silentLogger, stored: async () => {} });
  // Who the browser is, by a test cookie standing in for the console session.
  flow.setBrowserIdentity({ signedIn: async (req: IncomingMessage) => /who=([^;]+)/.exec(req.headers.cookie ?? '')?.[1]?.replace('_', ' '), signInUrl: () => `${base}/console/` });
  const server = createServer((req, res) => void flow.handle(req, res, new URL(req.url!, base).pathname));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const send = (url: string, method: 'GET' | 'POST', who?: string) => new Promise<{ status: number; body: string; location?: string }>((resolve, reject) => {
    const r = request(url, { method, headers: who ? { cookie: `who=${who}` } : {} }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, body, ...(res.headers.location ? { location: res.headers.location } : {}) }));
    });
    r.on('error', reject);
    r.end();
  });
  try {
    const link = await flow.ticket('crm', 'idp alice');
    const anonymous = await send(link, 'GET');
    assert.equal(anonymous.status, 401);
    assert.match(anonymous.body, /Sign in to the gateway first \(http:\/\/127\.0\.0\.1:\d+\/console\/\) in this browser/);
    const mallory = await send(link, 'GET', 'idp_mallory');
    assert.equal(mallory.status, 403);
    assert.match(mallory.body, /made for another gateway user/);
    assert.equal((await send(link, 'POST', 'idp_mallory')).status, 403, 'the button refuses another user too');
    assert.equal(authorizations.length, 0, 'no authorization was started for anyone else');
    const alice = await send(link, 'GET', 'idp_alice');
    assert.equal(alice.status, 200);
    assert.match(alice.body, /gateway user <b>idp alice<\/b>/);
    const started = await send(link, 'POST', 'idp_alice');
    assert.equal(started.status, 303);
    assert.match(started.location ?? '', /^https:\/\/as\.example\/authorize\?state=/);
    assert.equal(authorizations.length, 1);
  } finally {
    server.close();
  }
});
