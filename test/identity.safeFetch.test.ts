/**
 * The SSRF-safe fetch behind JWKS, discovery, client ID metadata documents and federated sign-in: non-public
 * addresses in every spelling are refused before and after DNS, redirects are not followed, answers are bounded.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkFetchUrl, isPrivateAddress, publicOnlyLookup, safeFetch, safeFetchJson, SafeFetchError } from '../src/egress/fetch.js';

describe('addresses', () => {
  test('non-public addresses are refused in every spelling, public ones pass', () => {
    for (const a of [
      '127.0.0.1', '127.8.9.10', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1',
      '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fd00::1', 'fe80::1', 'ff02::1',
      '::ffff:127.0.0.1', '::ffff:7f00:1', '0:0:0:0:0:ffff:7f00:1', '::ffff:a9fe:a9fe', '64:ff9b::7f00:1', 'not-an-ip',
    ]) assert.equal(isPrivateAddress(a), true, a);
    for (const a of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:808:808']) assert.equal(isPrivateAddress(a), false, a);
  });

  test('URLs: literal non-public hosts (as the URL parser normalises them), credentials and plain http are refused', () => {
    for (const u of ['https://[::ffff:127.0.0.1]/x', 'https://[::1]/x', 'https://127.0.0.1/x', 'https://localhost/x', 'https://a.localhost/x', 'https://169.254.169.254/latest']) {
      assert.throws(() => checkFetchUrl(u, false), SafeFetchError, u);
    }
    assert.throws(() => checkFetchUrl('http://example.com/x', false), /only https/);
    assert.throws(() => checkFetchUrl('https://user:pw@example.com/x', false), /credentials/);
    assert.equal(checkFetchUrl('https://example.com/x', false).hostname, 'example.com');
    assert.equal(checkFetchUrl('http://127.0.0.1:1/x', true).port, '1');
  });

  test('a name that resolves to a non-public address fails at connection time', async () => {
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => publicOnlyLookup('localhost', {}, (e) => resolve(e)));
    assert.equal(err?.code, 'EPRIVATE');
  });
});

describe('fetching (private networks allowed, on loopback)', () => {
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/redirect') res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
      else if (req.url === '/big') res.writeHead(200).end('x'.repeat(300 * 1024));
      else if (req.url === '/list') res.writeHead(200, { 'content-type': 'application/json' }).end('[1]');
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => { server.close(); server.closeAllConnections(); });

  test('a JSON document is fetched; redirects, oversized answers and non-objects are refused', async () => {
    assert.deepEqual(await safeFetchJson(`${base}/doc`, { allowPrivateNetworks: true }), { ok: true });
    await assert.rejects(safeFetch(`${base}/redirect`, { allowPrivateNetworks: true }), /redirects are not followed/);
    await assert.rejects(safeFetch(`${base}/big`, { allowPrivateNetworks: true }), /larger than/);
    await assert.rejects(safeFetchJson(`${base}/list`, { allowPrivateNetworks: true }), /not a JSON object/);
  });

  test('without allowPrivateNetworks the same loopback server is never contacted', async () => {
    await assert.rejects(safeFetch(`${base}/doc`, { allowPrivateNetworks: false }), SafeFetchError);
  });
});
