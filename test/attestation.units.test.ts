/**
 * The parts of attestation one at a time: the code measurement (reproducible with coreutils, as documented), the
 * configuration measurement's secret rule, the identity key stores, the document signature and report_data binding,
 * the quote providers (configfs-tsm through a simulated configfs, the dstack guest agent through a Unix socket
 * server), provider detection, and that the tools hash counts the endpoints the gateway builds.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { measureCode, runningCode } from '../src/attestation/code.js';
import { measureConfig, measuredConfig, SECRET_MARKER } from '../src/attestation/configMeasure.js';
import { reportDataFor, signDocument, signatureValid, type AttestationDocument } from '../src/attestation/document.js';
import { EphemeralIdentityKeyStore, FileIdentityKeyStore, IDENTITY_KEY_FILE, publicKeyFromRaw, rawPublicKey, VaultIdentityKeyStore } from '../src/attestation/identityKey.js';
import { Vault } from '../src/vault/vault.js';
import { KeyFileProvider, keyProviderFor } from '../src/vault/keyProviders.js';
import { ConfigfsTsmProvider, type TsmFs } from '../src/attestation/providers/configfsTsm.js';
import { DstackProvider } from '../src/attestation/providers/dstack.js';
import { detectProvider } from '../src/attestation/providers/detect.js';
import { configEndpoints, servedTools, toolsHashOf } from '../src/attestation/tools.js';
import { Gateway } from '../src/gateway.js';
import { silentLogger } from '../src/core/log.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { ROOT } from './support/gateway.js';

const dir = mkdtempSync(join(tmpdir(), 'pc-attest-units-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('code measurement', () => {
  const root = join(dir, 'pkg');
  mkdirSync(join(root, 'dist', 'src', 'cli'), { recursive: true });
  writeFileSync(join(root, 'dist', 'src', 'cli', 'main.js'), 'console.log(1)\n');
  writeFileSync(join(root, 'dist', 'src', 'a.js'), 'export const a = 1;\n');
  writeFileSync(join(root, 'dist', 'src', 'B.js'), 'export const b = 2;\n');
  writeFileSync(join(root, 'package-lock.json'), '{"lockfileVersion":3}\n');

  test('equals the documented coreutils pipeline over dist/** and the lockfile', () => {
    const m = measureCode(root, 'dist');
    const shell = execFileSync('sh', ['-c', '(cd "$1" && { find dist -type f; echo package-lock.json; } | LC_ALL=C sort | xargs sha256sum) | sha256sum', 'sh', root], { encoding: 'utf8' });
    assert.equal(m.sha256, shell.split(' ')[0]);
    assert.equal(m.files, 4);
    assert.equal(m.tree, 'dist');
    assert.equal(m.lockfile, true);
  });

  test('any change of a shipped file or the lockfile changes it; a missing tree is an error, a missing lockfile is said', () => {
    const before = measureCode(root, 'dist').sha256;
    writeFileSync(join(root, 'dist', 'src', 'a.js'), 'export const a = 2;\n');
    assert.notEqual(measureCode(root, 'dist').sha256, before);
    const mid = measureCode(root, 'dist').sha256;
    writeFileSync(join(root, 'package-lock.json'), '{"lockfileVersion":3,"x":1}\n');
    assert.notEqual(measureCode(root, 'dist').sha256, mid);
    assert.throws(() => measureCode(root, 'src'), /does not exist/);
    assert.equal(measureCode(root, 'dist').lockfile, true);
    const noLock = measureCode(join(root, 'dist'), 'src');
    assert.equal(noLock.lockfile, false);
    assert.equal(noLock.files, 3);
  });

  test('the running code is this checkout, measured from src/ when run through tsx (never claimed to be a build)', () => {
    const where = runningCode();
    assert.deepEqual(where, { root: ROOT, tree: 'src' });
    const m = measureCode(where.root, where.tree);
    assert.equal(m.tree, 'src');
    assert.ok(m.files > 50);
  });
});

describe('configuration measurement', () => {
  const yaml = (extra = '') => `
server: { tls: { cert: certs/server.pem, key: certs/server.key } }
auth:
  mode: oauth
  publicUrl: https://gw.example.com
  builtin:
    federation:
      - { name: corp, issuer: "https://idp.example.com", clientId: gw, clientSecret: literal-secret-1 }
upstreams:
  gh: { transport: http, url: "https://example.com/mcp", headers: { Authorization: "Bearer \${GH_TOKEN}", X-Team: platform } }
  fs: { transport: stdio, command: npx, args: [server-fs, "\${SAMPLE_DIR:-./sample}"], env: { API_KEY: literal-key } }
${extra}`;
  const load = (text: string, env: Record<string, string>, baseDir = dir) => parseConfig(text, { env, baseDir, source: 'test' });

  test('secret values do not count: interpolated values, secret-named keys, env and header values', () => {
    const a = load(yaml(), { GH_TOKEN: 'one' });
    const b = load(yaml().replace('literal-secret-1', 'literal-secret-2').replace('literal-key', 'other-key').replace('X-Team: platform', 'X-Team: other'), { GH_TOKEN: 'gh-token-two', SAMPLE_DIR: '/srv/elsewhere' });
    assert.equal(measureConfig(a), measureConfig(b));
    const shown = JSON.stringify(measuredConfig(b));
    for (const secret of ['gh-token-two', 'literal-secret-2', 'other-key', '/srv/elsewhere', 'Bearer']) assert.ok(!shown.includes(secret), secret);
    assert.ok(shown.includes(SECRET_MARKER));
    const m = measuredConfig(a) as { upstreams: { gh: { headers: Record<string, string>; url: string } } };
    assert.deepEqual(Object.keys(m.upstreams.gh.headers).sort(), ['Authorization', 'X-Team'], 'names stay measured');
    assert.equal(m.upstreams.gh.url, 'https://example.com/mcp', 'literal values are measured');
  });

  test('what is not secret counts: a URL, a policy rule, adding a secret', () => {
    const base = measureConfig(load(yaml(), { GH_TOKEN: 'x' }));
    assert.notEqual(measureConfig(load(yaml().replace('https://example.com/mcp', 'https://evil.example/mcp'), { GH_TOKEN: 'x' })), base);
    assert.notEqual(measureConfig(load(yaml('policy: { rules: [{ id: r, effect: allow }] }'), { GH_TOKEN: 'x' })), base);
    assert.notEqual(measureConfig(load(yaml().replace('X-Team: platform', 'X-Team: platform, X-Extra: y'), { GH_TOKEN: 'x' })), base);
  });

  test('paths are measured as written, so the same file measures the same in any folder', () => {
    const here = load(yaml(), { GH_TOKEN: 'x' }, join(dir, 'one'));
    const there = load(yaml(), { GH_TOKEN: 'x' }, join(dir, 'two', 'deeper'));
    assert.notEqual(here.server.tls!.cert, there.server.tls!.cert);
    assert.equal(measureConfig(here), measureConfig(there));
  });
});

describe('identity keys', () => {
  test('the software key is a PKCS#8 file of mode 0600 in the data folder, the same key on every start', async () => {
    const data = join(dir, 'data');
    const first = await new FileIdentityKeyStore(data).load();
    const file = join(data, IDENTITY_KEY_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(readFileSync(file, 'utf8'), /BEGIN PRIVATE KEY/);
    const again = await new FileIdentityKeyStore(data).load();
    assert.deepEqual(rawPublicKey(again.publicKey), rawPublicKey(first.publicKey));
    const ephemeral = await new EphemeralIdentityKeyStore().load();
    assert.notDeepEqual(rawPublicKey(ephemeral.publicKey), rawPublicKey(first.publicKey));
  });

  test('in software mode the key lives in the vault, encrypted, the same on every start; a key file is moved in', async () => {
    const data = join(dir, 'data-vault');
    mkdirSync(data);
    const storage = createMemoryStorage();
    const vault = () => new Vault(storage.records, keyProviderFor({ dataDir: data }));
    // A key file from an earlier version: the same key must survive the move (verifiers pin it).
    const legacy = await new FileIdentityKeyStore(data).load();
    const provider = keyProviderFor({ dataDir: data }) as KeyFileProvider;
    const moved = await new VaultIdentityKeyStore(vault, data, () => { provider.init(); }).load();
    assert.deepEqual(rawPublicKey(moved.publicKey), rawPublicKey(legacy.publicKey));
    assert.equal(existsSync(join(data, IDENTITY_KEY_FILE)), false, 'the plaintext key file is gone');
    assert.match(moved.custody, /credential vault/);
    const again = await new VaultIdentityKeyStore(vault, data).load();
    assert.deepEqual(rawPublicKey(again.publicKey), rawPublicKey(legacy.publicKey));
    const stored = JSON.stringify(await storage.records.list('vault.secrets'));
    assert.ok(stored.includes('attestation-identity-key'), 'the secret is there');
    assert.ok(!stored.includes('BEGIN PRIVATE KEY'), 'encrypted at rest');
    await storage.close();
  });

  test('a data folder holding a key of another type is refused', async () => {
    const data = join(dir, 'data-rsa');
    mkdirSync(data);
    writeFileSync(join(data, IDENTITY_KEY_FILE), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await assert.rejects(new FileIdentityKeyStore(data).load(), /not an Ed25519 private key/);
  });
});

describe('document signature and report_data binding', () => {
  const doc = (): AttestationDocument => ({
    version: 'portcullis-attestation/1', mode: 'software', statement: 's',
    measurement: { value: 'a'.repeat(64), code: { tree: 'dist', files: 1, lockfile: true, sha256: 'b'.repeat(64) }, config: 'c'.repeat(64), pins: 'd'.repeat(64) },
    identityKey: { alg: 'Ed25519', publicKey: '', custody: 'test' }, tls: null, toolsHash: 'e'.repeat(64), nonce: 'n'.repeat(16),
    timestamp: new Date().toISOString(), platform: { provider: null, available: [], summary: '' },
  });

  test('a signature covers every field', async () => {
    const key = await new EphemeralIdentityKeyStore().load();
    const signed = signDocument(doc(), key.privateKey);
    const pub = publicKeyFromRaw(rawPublicKey(key.publicKey));
    assert.ok(signatureValid(signed, pub));
    for (const tamper of [
      (d: AttestationDocument) => { d.mode = 'tee'; },
      (d: AttestationDocument) => { d.measurement.config = 'f'.repeat(64); },
      (d: AttestationDocument) => { d.nonce = 'm'.repeat(16); },
      (d: AttestationDocument) => { d.tls = { spkiSha256: '0'.repeat(64) }; },
    ]) {
      const copy = structuredClone(signed);
      tamper(copy.document);
      assert.equal(signatureValid(copy, pub), false);
    }
  });

  test('report_data: sha256(key ‖ TLS SPKI hash ‖ tools hash ‖ nonce) ‖ measurement, each input changing it', () => {
    const input = { identityKey: Buffer.alloc(32, 1), spkiSha256: '2'.repeat(64), toolsHash: '3'.repeat(64), nonce: 'nonce-nonce-nonce', measurement: '4'.repeat(64) };
    const rd = reportDataFor(input);
    assert.equal(rd.length, 64);
    const head = createHash('sha256').update(Buffer.concat([Buffer.alloc(32, 1), Buffer.from(input.spkiSha256, 'hex'), Buffer.from(input.toolsHash, 'hex'), Buffer.from(input.nonce)])).digest();
    assert.deepEqual(rd, Buffer.concat([head, Buffer.from(input.measurement, 'hex')]));
    const variants = [
      { ...input, identityKey: Buffer.alloc(32, 9) }, { ...input, spkiSha256: null }, { ...input, toolsHash: '5'.repeat(64) },
      { ...input, nonce: 'another-nonce-xx' }, { ...input, measurement: '6'.repeat(64) },
    ];
    for (const v of variants) assert.notDeepEqual(reportDataFor(v), rd);
  });
});

describe('quote providers', () => {
  /** configfs-tsm as the kernel presents it: attribute files appear in a new report directory. */
  function fakeConfigfs(opts: { provider?: string; race?: boolean } = {}) {
    const entries = new Map<string, { inblob?: Buffer; generation: number }>();
    const written: Buffer[] = [];
    const fs: TsmFs = {
      async mkdir(p) { entries.set(p, { generation: 0 }); },
      async rmdir(p) { entries.delete(p); },
      async writeFile(p, d) {
        const e = entries.get(p.replace(/\/inblob$/, ''))!;
        e.inblob = d;
        e.generation += opts.race ? 2 : 1;
        written.push(d);
      },
      async readFile(p) {
        const [, d, f] = /^(.*)\/([a-z]+)$/.exec(p)!;
        const e = entries.get(d!)!;
        if (f === 'generation') return Buffer.from(`${e.generation}\n`);
        if (f === 'provider') return Buffer.from(`${opts.provider ?? 'tdx_guest'}\n`);
        if (f === 'outblob') return Buffer.concat([Buffer.from('QUOTE:'), e.inblob!]);
        throw new Error(`no ${f}`);
      },
    };
    return { fs, written, entries };
  }

  test('configfs-tsm: writes report_data to inblob, returns outblob, cleans up its report directory', async () => {
    const f = fakeConfigfs();
    const p = new ConfigfsTsmProvider('/tsm', f.fs);
    const rd = Buffer.alloc(64, 7);
    const q = await p.quote(rd);
    assert.equal(q.format, 'tdx');
    assert.deepEqual(q.quote, Buffer.concat([Buffer.from('QUOTE:'), rd]));
    assert.deepEqual(f.written, [rd]);
    assert.equal(f.entries.size, 0);
    assert.throws(() => p.quote(Buffer.alloc(32)), /64 bytes/);
    assert.equal((await new ConfigfsTsmProvider('/tsm', fakeConfigfs({ provider: 'sev_guest' }).fs).quote(rd)).format, 'sev-snp');
  });

  test('configfs-tsm: a report another writer changed meanwhile is refused, an unknown TEE too', async () => {
    await assert.rejects(new ConfigfsTsmProvider('/tsm', fakeConfigfs({ race: true }).fs).quote(Buffer.alloc(64)), /another writer/);
    await assert.rejects(new ConfigfsTsmProvider('/tsm', fakeConfigfs({ provider: 'mystery' }).fs).quote(Buffer.alloc(64)), /unsupported TEE provider "mystery"/);
  });

  test('dstack: GetQuote over the agent socket with the report_data in hex; GetKey gives the same identity key each time', async () => {
    const socketPath = join(dir, 'dstack.sock');
    const seen: string[] = [];
    const agent: Server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        if (req.url!.startsWith('/GetQuote?report_data=')) res.end(JSON.stringify({ quote: 'abcd' + req.url!.slice(22, 30), event_log: '[]' }));
        else if (req.url === '/GetKey') res.end(JSON.stringify({ key: (JSON.parse(body).path === 'portcullis/attestation-identity' ? '11' : '22').repeat(32), signature_chain: [] }));
        else { res.statusCode = 404; res.end('{}'); }
      });
    });
    await new Promise<void>((r) => agent.listen(socketPath, () => r()));
    try {
      const p = new DstackProvider(socketPath);
      const rd = Buffer.alloc(64, 0xab);
      const q = await p.quote(rd);
      assert.equal(q.format, 'tdx');
      assert.deepEqual(q.quote, Buffer.from('abcdabababab', 'hex'));
      assert.equal(q.eventLog, '[]');
      assert.equal(seen[0], `GET /GetQuote?report_data=${rd.toString('hex')}`);
      const k1 = await p.identityKeyStore().load();
      const k2 = await p.identityKeyStore().load();
      assert.deepEqual(rawPublicKey(k1.publicKey), rawPublicKey(k2.publicKey));
      assert.match(k1.custody, /never leaves/);
      assert.equal(seen.filter((s) => s === 'POST /GetKey').length, 2);

      const d = detectProvider({ provider: 'auto', dstackSocket: socketPath }, { configfsRoot: join(dir, 'no-configfs') });
      assert.equal(d.provider?.name, 'dstack');
    } finally {
      await new Promise((r) => agent.close(r));
    }
  });

  test('detection: software mode said plainly when nothing is there; a named provider that is missing fails the start', () => {
    const none = { dstackSocket: join(dir, 'no.sock') };
    const opts = { configfsRoot: join(dir, 'no-configfs') };
    const auto = detectProvider({ provider: 'auto', ...none }, opts);
    assert.equal(auto.provider, undefined);
    assert.match(auto.summary, /software mode: no TEE quote provider found.*not the hardware/);
    assert.throws(() => detectProvider({ provider: 'configfs-tsm', ...none }, opts), /"configfs-tsm" but it is not available on this machine/);
    assert.throws(() => detectProvider({ provider: 'dstack', ...none }, opts), /"dstack" but it is not available/);
    const tsmRoot = join(dir, 'tsm-report');
    mkdirSync(tsmRoot);
    const found = detectProvider({ provider: 'auto', ...none }, { configfsRoot: tsmRoot });
    assert.equal(found.provider?.name, 'configfs-tsm');
    assert.deepEqual(found.available, ['configfs-tsm']);
    assert.equal(detectProvider({ provider: 'none', ...none }, { configfsRoot: tsmRoot }).provider, undefined);
  });
});

describe('tools hash', () => {
  test('counts the endpoints the gateway builds (servers and virtual servers, not the /mcp alias)', async () => {
    const config = parseConfig(`
upstreams:
  a: { transport: stdio, command: x }
  b: { transport: stdio, command: y }
virtualServers:
  default: { upstreams: [a, b] }
  only-b: { upstreams: [b] }
`, { source: 'test' });
    const gw = await Gateway.create(config, { logger: silentLogger, storage: createMemoryStorage({ replayEvents: 8 }), createWire: () => { throw new Error('not connected in this test'); } });
    try {
      const shape = (eps: readonly { path: string; kind: string; members: readonly { name: string }[] }[]) => eps.map((e) => [e.path, e.kind, e.members.map((m) => m.name)]);
      assert.deepEqual(shape(configEndpoints(config)), shape(gw.endpoints));
    } finally {
      await gw.close();
    }
  });

  test('names are namespaced on virtual servers, order does not matter, any change of a definition changes it', async () => {
    const eps = [
      { path: '/servers/a/mcp', kind: 'server' as const, members: [{ name: 'a' }] },
      { path: '/virtual/v/mcp', kind: 'virtual' as const, members: [{ name: 'a' }] },
    ];
    const served = await servedTools(eps, async () => [['t2', 'h2'], ['t1', 'h1']]);
    assert.deepEqual(served['/virtual/v/mcp'], [['a__t2', 'h2'], ['a__t1', 'h1']]);
    const h = toolsHashOf(served);
    assert.equal(toolsHashOf({ '/virtual/v/mcp': [['a__t1', 'h1'], ['a__t2', 'h2']], '/servers/a/mcp': [['t1', 'h1'], ['t2', 'h2']] }), h);
    assert.notEqual(toolsHashOf(await servedTools(eps, async () => [['t2', 'h2'], ['t1', 'hX']])), h);
  });
});
