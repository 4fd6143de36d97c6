/**
 * Mutual TLS at the gateway's authentication step, over real TLS sockets: a verified client certificate alone names
 * the principal; a certificate-bound token (RFC 8705, cnf["x5t#S256"]) is accepted only over that certificate; with
 * auth.mtls.requireBoundTokens an unbound token is refused. And two external issuers trusted at once, each with its
 * own claim mapping, feeding the policy engine.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, fetch } from 'undici';
import { parseConfig } from '../src/config/load.js';
import { createLogger } from '../src/core/log.js';
import { startGateway, type RunningGateway } from '../src/gateway.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { createCertificateAuthority, issueClientCertificate, issueServerCertificate, type IssuedCertificate } from '../src/identity/tls/certs.js';
import { startTestIssuer, type TestIssuer } from './support/issuer.js';
import { startRecordingUpstream, type RecordingUpstream } from './support/recordingUpstream.js';
import { parseMaybeSse, startTestGateway } from './support/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-mtls-'));
let iss: TestIssuer;
let up: RecordingUpstream;
const agents: Agent[] = [];
const INIT = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });

let caPem: string;
let alice: IssuedCertificate;
let bob: IssuedCertificate;
let rogue: IssuedCertificate;
let serverFiles: { cert: string; key: string; ca: string };

before(async () => {
  iss = await startTestIssuer();
  up = await startRecordingUpstream();
  const ca = await createCertificateAuthority();
  const other = await createCertificateAuthority({ commonName: 'Rogue CA' });
  caPem = ca.certPem;
  const server = await issueServerCertificate(ca);
  alice = await issueClientCertificate(ca, { name: 'alice' });
  bob = await issueClientCertificate(ca, { name: 'bob' });
  rogue = await issueClientCertificate(other, { name: 'alice' });
  serverFiles = { cert: join(dir, 'server.pem'), key: join(dir, 'server.key'), ca: join(dir, 'ca.pem') };
  writeFileSync(serverFiles.cert, server.certPem);
  writeFileSync(serverFiles.key, server.keyPem, { mode: 0o600 });
  writeFileSync(serverFiles.ca, ca.certPem);
});
after(async () => {
  await Promise.all(agents.map((a) => a.close()));
  await up?.close();
  await iss?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function tlsGateway(extraAuth = ''): Promise<RunningGateway> {
  const config = parseConfig(`server:
  port: 0
  dataDir: ${JSON.stringify(dir)}
  tls: { cert: ${JSON.stringify(serverFiles.cert)}, key: ${JSON.stringify(serverFiles.key)}, clientCa: ${JSON.stringify(serverFiles.ca)}, clientCertificates: optional }
storage: { driver: memory }
auth:
  builtin: { enabled: false }
  issuers: [{ issuer: ${JSON.stringify(iss.issuer)}, allowPrivateNetworks: true }]
  mtls: { principalFrom: san-uri, roles: [service]${extraAuth} }
policy: { rules: [{ id: everyone, effect: allow, principals: { methods: [bearer, mtls] } }] }
upstreams:
  rec: { transport: http, url: ${JSON.stringify(up.url)}, protocol: legacy }
`, { source: 'test' });
  return startGateway(config, { logger: createLogger('silent'), storage: createMemoryStorage({ replayEvents: 16 }) });
}

function agentWith(cert?: IssuedCertificate): Agent {
  const a = new Agent({ connect: { ca: caPem, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) } });
  agents.push(a);
  return a;
}

const thumbprint = (c: IssuedCertificate) => createHash('sha256').update(new X509Certificate(c.certPem).raw).digest('base64url');

async function call(gw: RunningGateway, agent: Agent, token?: string): Promise<number> {
  const res = await fetch(`${gw.url}/servers/rec/mcp`, {
    method: 'POST', dispatcher: agent, body: INIT,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  await res.text();
  return res.status;
}

describe('mutual TLS at the authentication step', () => {
  test('a verified client certificate alone is a principal; no certificate, or one from another CA, is 401', async () => {
    const gw = await tlsGateway();
    try {
      assert.equal(await call(gw, agentWith(alice)), 200);
      assert.equal(await call(gw, agentWith()), 401);
      // clientCertificates "optional": the handshake succeeds, but an unverified certificate is evidence of nothing.
      assert.equal(await call(gw, agentWith(rogue)), 401);
    } finally { await gw.close(); }
  });

  test('a certificate-bound token works only over its certificate', async () => {
    const gw = await tlsGateway();
    try {
      const aud = `${gw.url}/servers/rec/mcp`;
      const bound = await iss.sign({ sub: 'alice', scope: 'mcp', cnf: { 'x5t#S256': thumbprint(alice) } }, { aud });
      assert.equal(await call(gw, agentWith(alice), bound), 200);
      assert.equal(await call(gw, agentWith(bob), bound), 401, 'presented over another certificate');
      assert.equal(await call(gw, agentWith(), bound), 401, 'presented without a certificate');
      const unbound = await iss.sign({ sub: 'alice', scope: 'mcp' }, { aud });
      assert.equal(await call(gw, agentWith(), unbound), 200, 'an unbound token is fine unless bound tokens are required');
    } finally { await gw.close(); }
  });

  test('with requireBoundTokens an unbound token is refused, even over a certificate', async () => {
    const gw = await tlsGateway(', requireBoundTokens: true');
    try {
      const aud = `${gw.url}/servers/rec/mcp`;
      const unbound = await iss.sign({ sub: 'alice', scope: 'mcp' }, { aud });
      assert.equal(await call(gw, agentWith(alice), unbound), 401);
      const bound = await iss.sign({ sub: 'alice', scope: 'mcp', cnf: { 'x5t#S256': thumbprint(alice) } }, { aud });
      assert.equal(await call(gw, agentWith(alice), bound), 200);
      const prm = await (await fetch(`${gw.url}/.well-known/oauth-protected-resource/servers/rec/mcp`, { dispatcher: agentWith() })).json() as Record<string, unknown>;
      assert.equal(prm.tls_client_certificate_bound_access_tokens, true);
    } finally { await gw.close(); }
  });
});

describe('several external issuers, each with its own claim mapping', () => {
  test("each issuer's tokens are accepted and its roles claim feeds the policy", async () => {
    const keycloak = await startTestIssuer();
    try {
      const gw = await startTestGateway(`auth:
  builtin: { enabled: false }
  issuers:
    - { issuer: ${JSON.stringify(iss.issuer)}, allowPrivateNetworks: true, claims: { roles: app_roles } }
    - { issuer: ${JSON.stringify(keycloak.issuer)}, allowPrivateNetworks: true, claims: { roles: realm_access.roles, clientId: azp } }
policy: { rules: [{ id: operators, effect: allow, principals: { roles: [operator] } }] }
upstreams:
  rec: { transport: http, url: ${JSON.stringify(up.url)}, protocol: legacy }
`);
      try {
        const aud = `${gw.url}/servers/rec/mcp`;
        const listTools = async (token: string) => {
          const h = { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' };
          const body = { jsonrpc: '2.0', id: 2, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } } };
          const res = await fetch(aud, { method: 'POST', headers: h, body: JSON.stringify(body) });
          assert.equal(res.status, 200);
          return (parseMaybeSse(await res.text()).result.tools as Array<{ name: string }>).map((t) => t.name);
        };
        assert.deepEqual(await listTools(await iss.sign({ sub: 'a', scope: 'mcp', app_roles: ['operator'] }, { aud })), ['whoami']);
        assert.deepEqual(await listTools(await keycloak.sign({ sub: 'b', scope: 'mcp', realm_access: { roles: ['operator'] }, azp: 'cli' }, { aud })), ['whoami']);
        // The same claim under the other issuer's mapping means nothing.
        assert.deepEqual(await listTools(await keycloak.sign({ sub: 'c', scope: 'mcp', app_roles: ['operator'] }, { aud })), []);
      } finally { await gw.close(); }
    } finally { await keycloak.close(); }
  });
});
