/** `portcullis certs` and `portcullis init --tls`: the files they write, what the certificates say, and refusals. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'portcullis.js');
const ENV = { ...process.env, PORTCULLIS_FROM_SOURCE: '1', PORTCULLIS_LOG_LEVEL: 'silent' };

function cli(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env: ENV, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const cert = (path: string): X509Certificate => new X509Certificate(readFileSync(path));
const mode = (path: string): number => statSync(path).mode & 0o777;

describe('portcullis certs', () => {
  it('init: a CA and a server certificate it signed, keys 0600; client: a client certificate from the same CA', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'pc-certs-'));
    const r = cli(['certs', 'init', '--hosts', 'gw.example,10.1.2.3'], cwd);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /created certs\/ca\.pem\n[\s\S]*created certs\/server\.key\n/);
    assert.match(r.stdout, /server:\n {2}tls:\n {4}cert: ".*server\.pem"/);

    const dir = join(cwd, 'certs');
    const ca = cert(join(dir, 'ca.pem'));
    const server = cert(join(dir, 'server.pem'));
    assert.equal(ca.ca, true);
    assert.ok(server.checkIssued(ca) && server.verify(ca.publicKey));
    assert.equal(server.ca, false);
    assert.equal(server.subjectAltName, 'DNS:gw.example, IP Address:10.1.2.3');
    assert.deepEqual(server.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const years = (Date.parse(ca.validTo) - Date.now()) / (365 * 86_400_000);
    assert.ok(years > 9.9 && years <= 10.01, `CA valid for ${years} years`);
    for (const key of ['ca.key', 'server.key']) assert.equal(mode(join(dir, key)), 0o600, key);

    const c = cli(['certs', 'client', 'alice', '--email', 'alice@example.com'], cwd);
    assert.equal(c.status, 0, c.stderr);
    const client = cert(join(dir, 'client-alice.pem'));
    assert.ok(client.checkIssued(ca) && client.verify(ca.publicKey));
    assert.equal(client.subject, 'CN=alice');
    assert.equal(client.subjectAltName, 'URI:spiffe://portcullis/client/alice, email:alice@example.com');
    assert.deepEqual(client.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.equal(mode(join(dir, 'client-alice.key')), 0o600);

    // The CA is reused; certificates are replaced only with --force.
    assert.equal(cli(['certs', 'client', 'alice'], cwd).status, 1);
    const again = cli(['certs', 'init'], cwd);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /server\.pem already exists \(use --force/);
    const forced = cli(['certs', 'init', '--force'], cwd);
    assert.equal(forced.status, 0, forced.stderr);
    assert.match(forced.stdout, /using existing CA certs\/ca\.pem/);
    assert.equal(cert(join(dir, 'ca.pem')).serialNumber, ca.serialNumber);
    const reissued = cert(join(dir, 'server.pem'));
    assert.notEqual(reissued.serialNumber, server.serialNumber);
    assert.equal(reissued.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  });

  it('refuses what it cannot do, with usage errors where the call was wrong', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'pc-certs-'));
    assert.equal(cli(['certs'], cwd).status, 2);
    assert.equal(cli(['certs', 'renew'], cwd).status, 2);
    assert.equal(cli(['certs', 'client'], cwd).status, 2);
    const noCa = cli(['certs', 'client', 'bob'], cwd);
    assert.equal(noCa.status, 1);
    assert.match(noCa.stderr, /no CA in .*certs: create one with "portcullis certs init"/);
    assert.equal(cli(['certs', 'init'], cwd).status, 0);
    assert.match(cli(['certs', 'client', '../evil'], cwd).stderr, /client name "\.\.\/evil"/);
    assert.match(cli(['certs', '--help'], cwd).stdout, /Usage: portcullis certs init/);
  });
});

describe('portcullis init --tls', () => {
  it('writes the starter, certificates in certs/, and prints the settings with paths relative to the config', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'pc-init-tls-')), 'project');
    const r = cli(['init', '--dir', dir, '--tls'], ROOT);
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['ca.pem', 'ca.key', 'server.pem', 'server.key']) assert.ok(statSync(join(dir, 'certs', f)).isFile(), f);
    assert.match(r.stdout, /cert: "\.\/certs\/server\.pem"\n {4}key: "\.\/certs\/server\.key"/);
    assert.match(r.stdout, /# clientCa: "\.\/certs\/ca\.pem"/);
    // The config file itself is left as the plain starter: check still accepts it.
    assert.equal(cli(['check', '--config', join(dir, 'portcullis.yaml')], ROOT).status, 0);
  });
});
