/**
 * Safe egress with a stub resolver: a test host name (`*.egress.test`) resolves to loopback addresses chosen per
 * test, and 127.0.0.2 stands in for "a public address" while every other loopback address stays private. Over real
 * TLS (a test CA) and plain HTTP upstream wires, this proves: literal addresses in every spelling refused before any
 * connection, names resolving to private or metadata addresses refused, a DNS answer that changes between requests
 * (rebinding) vetted at every connection and the connection made to exactly the vetted address, redirects followed
 * only where allowed and each hop re-checked, credentials dropped across origins, and the per-purpose allow-list.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LookupAddress } from 'node:dns';
import { configureEgress, isPrivateAddress, safeFetch, SafeFetchError, setResolverForTests } from '../src/egress/fetch.js';
import { createCertificateAuthority, issueServerCertificate } from '../src/identity/tls/certs.js';
import { HttpWire } from '../src/upstream/wires/http.js';
import { parseConfig } from '../src/config/load.js';
import { isConfigError } from '../src/config/error.js';
import { silentLogger } from '../src/core/log.js';

const PUBLIC = '127.0.0.2';
/** host name → the answers the stub gives, in turn (the last one repeats). */
const answers = new Map<string, string[]>();
const lookups: string[] = [];
let ca = '';

function stub(): void {
  setResolverForTests({
    resolve: (hostname, cb) => {
      lookups.push(hostname);
      const list = answers.get(hostname);
      if (!list || list.length === 0) { cb(Object.assign(new Error(`ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []); return; }
      const address = list.length > 1 ? list.shift()! : list[0]!;
      cb(null, [{ address, family: 4 } as LookupAddress]);
    },
    isPrivate: (a) => a !== PUBLIC && isPrivateAddress(a),
    ca,
  });
}

describe('egress', () => {
  let tlsServer: HttpsServer;
  let port = 0;
  const seen: { host: string | undefined; path: string | undefined; auth: string | undefined; local: string | undefined }[] = [];
  before(async () => {
    const authority = await createCertificateAuthority({ commonName: 'egress test CA' });
    ca = authority.certPem;
    const cert = await issueServerCertificate(authority, { hosts: ['public.egress.test', 'other.egress.test', 'private.egress.test', 'rebind.egress.test'] });
    tlsServer = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      seen.push({ host: req.headers.host, path: req.url, auth: req.headers.authorization, local: req.socket.localAddress });
      const u = new URL(req.url ?? '/', 'https://x');
      if (u.pathname === '/to') res.writeHead(302, { location: u.searchParams.get('where')! }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, path: u.pathname }));
    });
    // One server on every loopback address: where a connection lands is visible in localAddress.
    await new Promise<void>((r) => tlsServer.listen(0, '0.0.0.0', r));
    port = (tlsServer.address() as AddressInfo).port;
    stub();
  });
  after(() => {
    setResolverForTests(undefined);
    configureEgress(undefined);
    tlsServer.close();
    tlsServer.closeAllConnections();
  });
  const at = (host: string, path = '/doc') => `https://${host}:${port}${path}`;

  test('a name that resolves to a public address is fetched, at the address its lookup vetted', async () => {
    answers.set('public.egress.test', [PUBLIC]);
    const r = await safeFetch(at('public.egress.test'), { allowPrivateNetworks: false, purpose: 'jwks' });
    assert.equal(r.status, 200);
    assert.equal(seen.at(-1)?.local?.replace('::ffff:', ''), PUBLIC);
  });

  test('literal private, metadata and ULA addresses are refused in every spelling, before any connection', async () => {
    const before = seen.length;
    for (const u of [
      `https://127.0.0.1:${port}/`, `https://2130706433:${port}/`, `https://0x7f000001:${port}/`, `https://017700000001:${port}/`, `https://127.1:${port}/`,
      'https://169.254.169.254/latest/meta-data/', 'https://[::ffff:169.254.169.254]/', 'https://[::ffff:127.0.0.1]/', 'https://[fd00::1]/', 'https://[fe80::1]/',
      'https://[::1]/', 'https://0.0.0.0/', 'https://localhost/', 'https://metadata.localhost/',
    ]) {
      await assert.rejects(safeFetch(u, { allowPrivateNetworks: false }), (e: unknown) => e instanceof SafeFetchError && /not public/.test(e.message), u);
    }
    assert.equal(seen.length, before, 'no connection was made');
  });

  test('a name that resolves to a private or metadata address is refused at connection time', async () => {
    answers.set('private.egress.test', ['127.0.0.1']);
    answers.set('metadata.egress.test', ['169.254.169.254']);
    const before = seen.length;
    await assert.rejects(safeFetch(at('private.egress.test'), { allowPrivateNetworks: false }), /EPRIVATE/);
    await assert.rejects(safeFetch('https://metadata.egress.test/latest', { allowPrivateNetworks: false }), /EPRIVATE/);
    assert.equal(seen.length, before);
  });

  test('a DNS answer that changes (rebinding) is vetted at every connection; the vetted address is the one used', async () => {
    answers.set('rebind.egress.test', [PUBLIC, '127.0.0.1']);
    const count = () => lookups.filter((h) => h === 'rebind.egress.test').length;
    // A fresh agent per phase, so each request opens its own connection.
    stub();
    const first = await safeFetch(at('rebind.egress.test'), { allowPrivateNetworks: false, headers: { connection: 'close' } });
    assert.equal(first.status, 200);
    assert.equal(count(), 1, 'one resolution for the connection: no second lookup between check and use');
    assert.equal(seen.at(-1)?.local?.replace('::ffff:', ''), PUBLIC);
    stub();
    await assert.rejects(safeFetch(at('rebind.egress.test'), { allowPrivateNetworks: false }), /EPRIVATE/);
    assert.equal(count(), 2);
  });

  test('redirects: refused by default; where allowed, every hop is checked again and credentials stay with their origin', async () => {
    answers.set('public.egress.test', [PUBLIC]);
    answers.set('other.egress.test', [PUBLIC]);
    answers.set('private.egress.test', ['127.0.0.1']);
    await assert.rejects(safeFetch(at('public.egress.test', `/to?where=${encodeURIComponent(at('public.egress.test', '/final'))}`), { allowPrivateNetworks: false }), /redirects are not followed/);
    const ok = await safeFetch(at('public.egress.test', `/to?where=${encodeURIComponent(at('other.egress.test', '/final'))}`), { allowPrivateNetworks: false, maxRedirects: 2, headers: { authorization: 'Bearer secret' } });
    assert.equal(JSON.parse(ok.text).path, '/final');
    assert.equal(ok.url, at('other.egress.test', '/final'));
    assert.equal(seen.at(-2)?.auth, 'Bearer secret');
    assert.equal(seen.at(-1)?.auth, undefined, 'the Authorization header did not follow to another origin');
    for (const where of [at('private.egress.test', '/x'), 'https://169.254.169.254/latest', `https://2130706433:${port}/`, `http://public.egress.test:${port}/`]) {
      const before = seen.length;
      await assert.rejects(safeFetch(at('public.egress.test', `/to?where=${encodeURIComponent(where)}`), { allowPrivateNetworks: false, maxRedirects: 3 }), SafeFetchError, where);
      assert.equal(seen.length, before + 1, `only the first hop was made (${where})`);
    }
  });

  test('a purpose with an allow-list reaches only the hosts on it', async () => {
    answers.set('public.egress.test', [PUBLIC]);
    configureEgress({ allowHosts: { webhook: ['hooks.example.com'], jwks: ['*.egress.test'] } });
    try {
      await assert.rejects(safeFetch(at('public.egress.test'), { allowPrivateNetworks: false, purpose: 'webhook' }), /not in egress.allowHosts.webhook/);
      assert.equal((await safeFetch(at('public.egress.test'), { allowPrivateNetworks: false, purpose: 'jwks' })).status, 200);
      assert.equal((await safeFetch(at('public.egress.test'), { allowPrivateNetworks: false, purpose: 'oidc' })).status, 200, 'no list: any public host');
    } finally {
      configureEgress(undefined);
    }
  });
});

describe('egress of HTTP upstreams', () => {
  let server: Server;
  let port = 0;
  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        const msg = JSON.parse(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { at: req.socket.localAddress } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
    port = (server.address() as AddressInfo).port;
    stub();
  });
  after(() => { setResolverForTests(undefined); server.close(); server.closeAllConnections(); });

  async function ask(url: string, allowPrivateNetworks = false): Promise<unknown> {
    const wire = new HttpWire({ name: 'up', logger: silentLogger, url, headers: {}, allowPrivateNetworks });
    await wire.start();
    try {
      return await new Promise((resolve) => {
        wire.onmessage = (m) => resolve(m);
        void wire.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
      });
    } finally {
      await wire.close();
    }
  }

  test('a host name is reached only at public addresses unless the upstream allows private networks; literal addresses as configured', async () => {
    answers.set('up.egress.test', ['127.0.0.1']);
    const refused = await ask(`http://up.egress.test:${port}/mcp`) as { error?: { message: string } };
    assert.match(refused.error?.message ?? '', /EPRIVATE|non-public/, JSON.stringify(refused));
    const allowed = await ask(`http://up.egress.test:${port}/mcp`, true) as { result?: { at: string } };
    assert.equal(allowed.result?.at.replace('::ffff:', ''), '127.0.0.1');
    const literal = await ask(`http://127.0.0.1:${port}/mcp`) as { result?: { at: string } };
    assert.ok(literal.result, 'an upstream named by a literal address is reached there');
  });

  test('config: plain http only to loopback, unless the upstream allows private networks', () => {
    const load = (url: string, extra = '') => parseConfig(`upstreams:\n  up: { transport: http, url: "${url}"${extra} }\n`, { source: 'test' });
    assert.throws(() => load('http://mcp.example.com/mcp'), (e: unknown) => isConfigError(e) && /plain http is allowed only to a loopback address/.test(e.format()));
    assert.doesNotThrow(() => load('http://127.0.0.1:9/mcp'));
    assert.doesNotThrow(() => load('http://localhost:9/mcp'));
    assert.doesNotThrow(() => load('http://mcp.internal:8080/mcp', ', allowPrivateNetworks: true'));
    assert.doesNotThrow(() => load('https://mcp.example.com/mcp'));
  });
});
