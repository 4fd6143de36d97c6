/**
 * TLS end to end, on real loopback sockets: the gateway serving HTTPS (protocol floor, ciphers), mutual TLS in
 * "required" and "optional" modes with the principal mapped from the real peer certificate, certificate reload
 * (a new certificate is served on new connections; a broken one is not), and the gateway as a TLS client of an
 * upstream behind a private CA that demands a client certificate.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { Agent, fetch } from 'undici';
import { parseConfig } from '../src/config/load.js';
import type { GatewayConfig, TlsConfig, UpstreamTlsConfig } from '../src/config/types.js';
import { silentLogger } from '../src/core/log.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import {
  createCertificateAuthority, issueClientCertificate, issueServerCertificate, type CertificateAuthority, type IssuedCertificate,
} from '../src/identity/tls/certs.js';
import { createDevCertificates, createDevClientCertificate } from '../src/identity/tls/certDir.js';
import { certificateThumbprint, peerCertificate, principalFromCertificate, subjectAltNames, type PeerCertificateInfo } from '../src/identity/tls/mtls.js';
import { createPool } from '../src/upstream/wires/httpShared.js';
import { startFixture, type RunningFixture } from '../fixtures/conformance-server/index.js';
import { modern, parseMaybeSse, ROOT } from './support/gateway.js';

// The listener logs certificate loads; keep test output clean unless asked.
process.env.PORTCULLIS_LOG_LEVEL ??= process.env.TEST_LOG_LEVEL ?? 'silent';

const dir = mkdtempSync(join(tmpdir(), 'pc-tls-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Files { cert: string; key: string }
const write = (name: string, issued: IssuedCertificate): Files => {
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  writeFileSync(files.cert, issued.certPem);
  writeFileSync(files.key, issued.keyPem, { mode: 0o600 });
  return files;
};

let ca: CertificateAuthority;
let rogueCa: CertificateAuthority;
let caFile: string;
let server: Files;
let alice: Files & { pem: string };
let mallory: Files;
let fixture: RunningFixture;
const agents: Agent[] = [];

before(async () => {
  [ca, rogueCa] = await Promise.all([createCertificateAuthority(), createCertificateAuthority({ commonName: 'Rogue CA' })]);
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, ca.certPem);
  server = write('server', await issueServerCertificate(ca));
  const aliceCert = await issueClientCertificate(ca, { name: 'alice', emails: ['alice@example.com'] });
  alice = { ...write('alice', aliceCert), pem: aliceCert.certPem };
  mallory = write('mallory', await issueClientCertificate(rogueCa, { name: 'mallory' }));
  fixture = await startFixture();
});
after(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await fixture?.close();
});

/** A gateway in front of the fixture, serving HTTPS with `tls` (set on the parsed config, as the loader would). */
async function startTlsGateway(tls: Partial<TlsConfig>, upstreams: Record<string, { url: string; tls?: UpstreamTlsConfig }> = {}): Promise<RunningGateway> {
  const ups = { fx: { url: fixture.url }, ...upstreams };
  const yaml = `server: { port: 0, dataDir: ${JSON.stringify(join(ROOT, 'data', 'test'))} }
auth: { mode: none }
storage: { driver: memory }
policy: { rules: [{ id: local-allowed, effect: allow, principals: { methods: [local, mtls] } }] }
upstreams:
${Object.entries(ups).map(([name, u]) => `  ${name}: { transport: http, url: ${JSON.stringify(u.url)}, integrity: { unapproved: warn } }`).join('\n')}
`;
  const config = structuredClone(parseConfig(yaml, { source: 'test' })) as GatewayConfig;
  config.server.tls = { cert: server.cert, key: server.key, clientCertificates: 'none', minVersion: 'TLSv1.2', ...tls };
  for (const [name, u] of Object.entries(upstreams)) {
    const up = config.upstreams[name];
    if (u.tls && up && up.transport === 'http') up.tls = u.tls;
  }
  return startGateway(config, { logger: silentLogger, storage: createMemoryStorage({ replayEvents: 16 }) });
}

function agent(connectOpts: ConnectionOptions): Agent {
  const a = new Agent({ connect: connectOpts });
  agents.push(a);
  return a;
}

/** tools/call test_simple_text through the gateway over HTTPS (modern era, one POST). */
async function callSimpleText(url: string, dispatcher: Agent): Promise<string> {
  const { body, headers } = modern('tools/call', { name: 'test_simple_text', arguments: {} });
  const res = await fetch(url, {
    method: 'POST',
    dispatcher,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const msg = parseMaybeSse(text);
  assert.ok(msg.result, text);
  return msg.result.content[0].text as string;
}

interface Exchange {
  /** HTTP status of GET /healthz, when the exchange got that far. */
  status?: number;
  error?: Error;
  serverCert?: PeerCertificate;
  protocol?: string | null;
  cipher?: string;
}

/**
 * One raw TLS connection: handshake, GET /healthz, read the answer. With TLS 1.3 a client learns that the server
 * refused its certificate only after its own handshake completed, so "refused" means no HTTP answer came back.
 */
function exchange(port: number, opts: ConnectionOptions): Promise<Exchange> {
  return new Promise((resolve) => {
    const out: Exchange = {};
    let data = '';
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(caFile), ...opts });
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), 5000);
    socket.once('secureConnect', () => {
      out.serverCert = socket.getPeerCertificate();
      out.protocol = socket.getProtocol();
      out.cipher = socket.getCipher().name;
      socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    });
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.once('error', (e) => (out.error = e));
    socket.once('close', () => {
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (m) out.status = Number(m[1]);
      resolve(out);
    });
  });
}

const portOf = (gw: RunningGateway): number => (gw.http.server.address() as AddressInfo).port;

/** The peer certificate of every request the gateway receives, as identity/tls/mtls.ts sees it. */
function capturePeers(gw: RunningGateway): (PeerCertificateInfo | undefined)[] {
  const seen: (PeerCertificateInfo | undefined)[] = [];
  gw.http.server.on('request', (req) => seen.push(peerCertificate(req)));
  return seen;
}

describe('HTTPS', () => {
  let gw: RunningGateway;
  before(async () => { gw = await startTlsGateway({}); });
  after(async () => { await gw?.close(); });

  test('an MCP call over HTTPS, trusting the development CA', { timeout: 20_000 }, async () => {
    assert.match(gw.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const text = await callSimpleText(`${gw.url}/mcp`, agent({ ca: readFileSync(caFile) }));
    assert.equal(text, 'This is a simple text response for testing.');
  });

  test('a client that does not trust the CA refuses the connection', { timeout: 10_000 }, async () => {
    await assert.rejects(callSimpleText(`${gw.url}/mcp`, agent({})), (e: Error) => /certificate/i.test(String((e.cause as Error | undefined)?.message ?? e.message)));
  });

  test('TLS 1.2 and 1.3 with forward-secret AEAD ciphers; TLS 1.1 and weak ciphers are refused', { timeout: 10_000 }, async () => {
    const v13 = await exchange(portOf(gw), {});
    assert.equal(v13.status, 200);
    assert.equal(v13.protocol, 'TLSv1.3');
    const v12 = await exchange(portOf(gw), { maxVersion: 'TLSv1.2' });
    assert.equal(v12.status, 200);
    assert.equal(v12.protocol, 'TLSv1.2');
    assert.match(v12.cipher!, /^ECDHE-ECDSA-(AES\d+-GCM|CHACHA20-POLY1305)/);

    // SECLEVEL=0 so that the client itself is willing to speak TLS 1.1: the refusal must come from the server.
    const v11 = await exchange(portOf(gw), { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' });
    assert.equal(v11.status, undefined);
    assert.match(String(v11.error?.message), /protocol version|unsupported protocol/i);

    const cbc = await exchange(portOf(gw), { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA:AES128-SHA' });
    assert.equal(cbc.status, undefined);
    assert.match(String(cbc.error?.message), /handshake failure|no shared cipher/i);
  });

  test('minVersion TLSv1.3 refuses TLS 1.2', { timeout: 10_000 }, async () => {
    const strict = await startTlsGateway({ minVersion: 'TLSv1.3' });
    try {
      assert.equal((await exchange(portOf(strict), {})).status, 200);
      const v12 = await exchange(portOf(strict), { maxVersion: 'TLSv1.2' });
      assert.equal(v12.status, undefined);
      assert.match(String(v12.error?.message), /protocol version/i);
    } finally {
      await strict.close();
    }
  });
});

describe('mutual TLS, clientCertificates: required', () => {
  let gw: RunningGateway;
  let peers: (PeerCertificateInfo | undefined)[];
  before(async () => {
    gw = await startTlsGateway({ clientCa: caFile, clientCertificates: 'required' });
    peers = capturePeers(gw);
  });
  after(async () => { await gw?.close(); });

  test('no certificate: no connection', { timeout: 10_000 }, async () => {
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      const r = await exchange(portOf(gw), { maxVersion });
      assert.equal(r.status, undefined, maxVersion);
      assert.ok(r.error, maxVersion);
    }
    await assert.rejects(callSimpleText(`${gw.url}/mcp`, agent({ ca: readFileSync(caFile) })));
  });

  test('a certificate from another CA: no connection', { timeout: 10_000 }, async () => {
    const n = peers.length;
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      // Node's server verifies the chain when the handshake ends and drops the connection before reading a byte.
      const r = await exchange(portOf(gw), { maxVersion, cert: readFileSync(mallory.cert), key: readFileSync(mallory.key) });
      assert.equal(r.status, undefined, maxVersion);
    }
    assert.equal(peers.length, n, 'no request reached the gateway');
  });

  test('a valid certificate: the MCP call works and the peer certificate maps to the configured principal', { timeout: 20_000 }, async () => {
    const before = peers.length;
    const text = await callSimpleText(`${gw.url}/mcp`, agent({ ca: readFileSync(caFile), cert: readFileSync(alice.cert), key: readFileSync(alice.key) }));
    assert.equal(text, 'This is a simple text response for testing.');
    const peer = peers[before];
    assert.ok(peer, 'the request carried a peer certificate');
    assert.equal(peer.authorized, true);

    const der = new X509Certificate(alice.pem).raw;
    const thumbprint = createHash('sha256').update(der).digest('base64url');
    assert.equal(certificateThumbprint(peer.cert), thumbprint);

    const p = principalFromCertificate(peer.cert, { principalFrom: 'san-uri', roles: ['agent'], requireBoundTokens: false });
    assert.ok(p);
    assert.deepEqual({ ...p, attributes: undefined }, {
      subject: 'spiffe://portcullis/client/alice', issuer: 'mtls', method: 'mtls', scopes: [], roles: ['agent'], groups: [],
      attributes: undefined, key: 'mtls spiffe://portcullis/client/alice', certThumbprint: thumbprint,
    });
    assert.equal(p.attributes.certSubject, 'CN=alice');
    assert.equal(p.attributes.certIssuer, `CN=${ca.cert.subjectName.getField('CN')[0]}`);
    assert.equal(p.attributes.certSerial, new X509Certificate(alice.pem).serialNumber);
    assert.equal(p.attributes.certFingerprint, new X509Certificate(alice.pem).fingerprint256);

    const by = (principalFrom: 'san-uri' | 'san-dns' | 'san-email' | 'subject-cn') =>
      principalFromCertificate(peer.cert, { principalFrom, roles: [], requireBoundTokens: false })?.subject;
    assert.equal(by('san-email'), 'alice@example.com');
    assert.equal(by('subject-cn'), 'alice');
    assert.equal(by('san-dns'), undefined, 'no DNS name in the certificate: no principal');
  });
});

describe('mutual TLS, clientCertificates: optional', () => {
  let gw: RunningGateway;
  let peers: (PeerCertificateInfo | undefined)[];
  before(async () => {
    gw = await startTlsGateway({ clientCa: caFile, clientCertificates: 'optional' });
    peers = capturePeers(gw);
  });
  after(async () => { await gw?.close(); });

  test('no certificate: the request is served, without a peer certificate', { timeout: 10_000 }, async () => {
    const n = peers.length;
    assert.equal((await exchange(portOf(gw), {})).status, 200);
    assert.equal(peers.length, n + 1);
    assert.equal(peers[n], undefined);
  });

  test('a certificate that fails verification is not authorized; a valid one is', { timeout: 10_000 }, async () => {
    const n = peers.length;
    assert.equal((await exchange(portOf(gw), { cert: readFileSync(mallory.cert), key: readFileSync(mallory.key) })).status, 200);
    assert.equal(peers[n]?.authorized, false);
    assert.equal(peers[n]?.cert.subject.CN, 'mallory');
    assert.equal((await exchange(portOf(gw), { cert: readFileSync(alice.cert), key: readFileSync(alice.key) })).status, 200);
    assert.equal(peers[n + 1]?.authorized, true);
  });
});

test('clientCa with clientCertificates "none" asks for and verifies certificates without requiring one', { timeout: 10_000 }, async () => {
  const gw = await startTlsGateway({ clientCa: caFile, clientCertificates: 'none' });
  try {
    const peers = capturePeers(gw);
    assert.equal((await exchange(portOf(gw), {})).status, 200);
    assert.equal((await exchange(portOf(gw), { cert: readFileSync(alice.cert), key: readFileSync(alice.key) })).status, 200);
    assert.equal((await exchange(portOf(gw), { cert: readFileSync(mallory.cert), key: readFileSync(mallory.key) })).status, 200);
    assert.deepEqual(peers.map((p) => p?.authorized), [undefined, true, false]);
  } finally {
    await gw.close();
  }
});

describe('certificate reload', () => {
  test('a replaced certificate is served on new connections; a broken replacement keeps the previous one', { timeout: 30_000 }, async () => {
    const certs = mkdtempSync(join(dir, 'reload-'));
    const first = await createDevCertificates(certs);
    const devCa = readFileSync(first.ca.cert);
    const gw = await startTlsGateway({ cert: first.server.cert, key: first.server.key });
    const serial = async (): Promise<string | undefined> => {
      const r = await exchange(portOf(gw), { ca: devCa });
      return r.status === 200 ? r.serverCert?.serialNumber : undefined;
    };
    const waitForSerial = async (want: (s: string | undefined) => boolean): Promise<string | undefined> => {
      const end = Date.now() + 8000;
      for (;;) {
        const s = await serial();
        if (want(s) || Date.now() > end) return s;
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      const s1 = await serial();
      assert.ok(s1);
      assert.ok((statSync(first.server.key).mode & 0o777) === 0o600, 'private keys are written 0600');

      await createDevCertificates(certs, { force: true }); // same CA, new server certificate and key
      const s2 = await waitForSerial((s) => s !== s1);
      assert.ok(s2 && s2 !== s1, 'the new certificate is served');

      // A certificate whose key is not the one on disk, then a file that is not a certificate at all.
      const stray = await issueServerCertificate(await createCertificateAuthority());
      writeFileSync(first.server.cert, stray.certPem);
      await new Promise((r) => setTimeout(r, 2500)); // several polling rounds
      assert.equal(await serial(), s2, 'a certificate not matching the key is not loaded');
      writeFileSync(first.server.cert, '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n');
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(await serial(), s2, 'a broken file is not loaded');

      await createDevCertificates(certs, { force: true });
      const s3 = await waitForSerial((s) => s !== s2);
      assert.ok(s3 && s3 !== s2, 'a good replacement is loaded again');
    } finally {
      await gw.close();
    }
  });
});

describe('outbound TLS to an upstream', () => {
  let upstreamCa: CertificateAuthority;
  let forwarder: HttpsServer;
  let forwarderUrl: string;
  const seenClients: { cn: unknown; authorized: boolean }[] = [];
  let gw: RunningGateway;
  let gwClient: Files;
  let upstreamCaFile: string;

  before(async () => {
    upstreamCa = await createCertificateAuthority({ commonName: 'Upstream CA' });
    upstreamCaFile = join(dir, 'upstream-ca.pem');
    writeFileSync(upstreamCaFile, upstreamCa.certPem);
    const upstreamServer = await issueServerCertificate(upstreamCa, { hosts: ['upstream.test'] });
    // The gateway's client certificate comes from the development CA; the upstream trusts only that CA.
    const clientDir = mkdtempSync(join(dir, 'gwclient-'));
    writeFileSync(join(clientDir, 'ca.pem'), ca.certPem);
    writeFileSync(join(clientDir, 'ca.key'), ca.keyPem);
    gwClient = await createDevClientCertificate(clientDir, { name: 'portcullis-gateway' });

    // A TLS-terminating forwarder in front of the (plain HTTP) fixture that demands a client certificate.
    const target = new URL(fixture.url);
    forwarder = createHttpsServer({
      cert: upstreamServer.certPem, key: upstreamServer.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true,
    }, (req, res) => {
      const sock = req.socket as TLSSocket;
      seenClients.push({ cn: sock.getPeerCertificate().subject?.CN, authorized: sock.authorized });
      const fwd = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      fwd.on('error', () => res.destroy());
      req.pipe(fwd);
    });
    await new Promise<void>((r) => forwarder.listen(0, '127.0.0.1', () => r()));
    forwarderUrl = `https://127.0.0.1:${(forwarder.address() as AddressInfo).port}/mcp`;

    const good = { ca: upstreamCaFile, cert: gwClient.cert, key: gwClient.key, servername: 'upstream.test' };
    gw = await startTlsGateway({}, {
      secure: { url: forwarderUrl, tls: good },
      wrongca: { url: forwarderUrl, tls: { ...good, ca: caFile } },
      systemca: { url: forwarderUrl, tls: { cert: gwClient.cert, key: gwClient.key, servername: 'upstream.test' } },
      noname: { url: forwarderUrl, tls: { ca: upstreamCaFile, cert: gwClient.cert, key: gwClient.key } },
      nocert: { url: forwarderUrl, tls: { ca: upstreamCaFile, servername: 'upstream.test' } },
      missing: { url: forwarderUrl, tls: { ...good, ca: join(dir, 'no-such-ca.pem') } },
    });
  });
  after(async () => {
    await gw?.close();
    forwarder?.closeAllConnections();
    await new Promise((r) => forwarder?.close(r));
  });

  const errorOf = async (name: string): Promise<string> => {
    const u = gw.gateway.upstreams.get(name)!;
    const end = Date.now() + 10_000;
    while (u.error === undefined && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.notEqual(u.health, 'ready', name);
    return String(u.error);
  };

  test('verifies the upstream against its private CA and presents the client certificate', { timeout: 20_000 }, async () => {
    const text = await callSimpleText(`${gw.url}/servers/secure/mcp`, agent({ ca: readFileSync(caFile) }));
    assert.equal(text, 'This is a simple text response for testing.');
    assert.ok(seenClients.length > 0);
    assert.ok(seenClients.every((c) => c.cn === 'portcullis-gateway' && c.authorized));
  });

  test('an upstream certificate from another CA: the upstream is down with a clear error', { timeout: 20_000 }, async () => {
    assert.match(await errorOf('wrongca'), /TLS: the certificate of upstream\.test is not trusted: .*\((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\); set tls\.ca/);
    assert.match(await errorOf('systemca'), /not trusted: .*set tls\.ca/);
  });

  test('a certificate that does not name the host, no client certificate, an unreadable CA file: down, with the reason', { timeout: 20_000 }, async () => {
    assert.match(await errorOf('noname'), /ERR_TLS_CERT_ALTNAME_INVALID.*tls\.servername/);
    await errorOf('nocert'); // the upstream closes the connection; the wording is OpenSSL's
    assert.match(await errorOf('missing'), /tls\.ca: cannot read .*no-such-ca\.pem \(file not found\)/);
    const health = await fetch(`${gw.url}/healthz`, { dispatcher: agent({ ca: readFileSync(caFile) }) }).then((r) => r.json()) as { upstreams: { name: string; health: string }[] };
    assert.equal(health.upstreams.find((u) => u.name === 'secure')?.health, 'ready');
  });
});

test('NODE_TLS_REJECT_UNAUTHORIZED=0 does not turn upstream verification off', { timeout: 10_000 }, async () => {
  const srv = createHttpsServer({ cert: readFileSync(server.cert), key: readFileSync(server.key) }, (_req, res) => res.end('hi'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const pool = createPool(new URL(`https://127.0.0.1:${(srv.address() as AddressInfo).port}/`));
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  try {
    await assert.rejects(pool.request({ path: '/', method: 'GET' }), /is not trusted/);
  } finally {
    delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    await pool.close();
    await new Promise((r) => srv.close(r));
  }
});

test("subjectAltNames reads Node's format, including JSON-quoted values", () => {
  assert.deepEqual(subjectAltNames('DNS:a.example, URI:spiffe://x/y, email:a@b.c, IP Address:127.0.0.1'), [
    { type: 'DNS', value: 'a.example' }, { type: 'URI', value: 'spiffe://x/y' }, { type: 'email', value: 'a@b.c' }, { type: 'IP Address', value: '127.0.0.1' },
  ]);
  assert.deepEqual(subjectAltNames('URI:"spiffe://x/a, URI:evil", DNS:b'), [{ type: 'URI', value: 'spiffe://x/a, URI:evil' }, { type: 'DNS', value: 'b' }]);
  assert.deepEqual(subjectAltNames(undefined), []);
});
