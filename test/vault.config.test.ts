/**
 * ${secret:NAME} in the configuration: where it may appear, how it is kept (a template, never a value), how it is
 * resolved for the wire and the identity layer only, and what errors say (names and positions, never values).
 * Also the gateway's wiring: wires get values, reloads re-read the vault and reject a missing secret.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, it, before, after } from 'node:test';
import { parseConfig, isConfigError } from '../src/config/load.js';
import type { GatewayConfig, HttpUpstreamConfig, StdioUpstreamConfig, UpstreamConfig } from '../src/config/types.js';
import { parseTemplate, secretNames, secretRefsOf } from '../src/config/secretRefs.js';
import { ResolvedSecrets } from '../src/vault/resolve.js';
import { Vault } from '../src/vault/vault.js';
import { EnvKeyProvider, VAULT_KEY_ENV } from '../src/vault/keyProviders.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { Gateway } from '../src/gateway.js';
import { silentLogger } from '../src/core/log.js';
import { scrubSecrets } from '../src/core/scrub.js';
import type { UpstreamWire } from '../src/upstream/wire.js';

const parse = (text: string, env: Record<string, string> = {}) => parseConfig(text, { source: 'portcullis.yaml', baseDir: '/srv', env });
const issuesOf = (text: string, env: Record<string, string> = {}) => {
  try {
    parse(text, env);
  } catch (e) {
    if (isConfigError(e)) return e.issues;
    throw e;
  }
  return [];
};

const YAML = `upstreams:
  web:
    transport: http
    url: https://example.com/mcp
    headers: { Authorization: "Bearer \${secret:gh.token}", X-Lit: "a$\${b} \${PART}" }
  fs:
    transport: stdio
    command: node
    env: { KEY: "\${secret:api-key}", PLAIN: "\${PART}" }
auth:
  builtin:
    clients: [{ clientId: c1, redirectUris: ["https://app.example/cb"], clientSecret: "\${secret:c1_secret}" }]
`;

async function vaultWith(values: Record<string, string>): Promise<Vault> {
  const vault = new Vault(createMemoryStorage({ replayEvents: 1 }).records, new EnvKeyProvider('K', { K: randomBytes(32).toString('base64') }));
  for (const [k, v] of Object.entries(values)) await vault.set(k, v);
  return vault;
}

describe('${secret:NAME} in the configuration', () => {
  it('keeps references as written (a template), finds them with their positions', () => {
    const cfg = parse(YAML, { PART: 'x${y' });
    const web = cfg.upstreams.web as HttpUpstreamConfig;
    assert.equal(web.headers.Authorization, 'Bearer ${secret:gh.token}');
    // A value without references is final, "${" and all; one with references keeps its other "${" escaped.
    assert.equal(web.headers['X-Lit'], 'a${b} x${y');
    assert.equal((cfg.upstreams.fs as StdioUpstreamConfig).env.PLAIN, 'x${y');
    const mixed = parse(`upstreams: { fs: { transport: stdio, command: node, env: { M: "$\${a} \${secret:s} \${PART}" } } }\n`, { PART: '${b' });
    assert.equal((mixed.upstreams.fs as StdioUpstreamConfig).env.M, '$${a} ${secret:s} $${b');
    assert.deepEqual(parseTemplate('$${a} ${secret:s} $${b'), ['${a} ', { secret: 's' }, ' ${b']);
    assert.deepEqual(secretNames(cfg), ['api-key', 'c1_secret', 'gh.token']);
    const refs = secretRefsOf(cfg);
    assert.equal(refs.source, 'portcullis.yaml');
    assert.deepEqual(refs.refs.map((r) => [r.path, r.line]), [['upstreams.web.headers.Authorization', 5], ['upstreams.fs.env.KEY', 9], ['auth.builtin.clients[0].clientSecret', 12]]);
    // A copy of the configuration (as tests and reloads make) keeps its references: they live in the values.
    assert.deepEqual(secretNames({ ...cfg, upstreams: { ...cfg.upstreams } } as GatewayConfig), ['api-key', 'c1_secret', 'gh.token']);
  });

  it('refuses references where a value could be shown or logged, and invalid names', () => {
    const found = issuesOf(`upstreams:
  web:
    transport: http
    url: "https://example.com/\${secret:u}"
    description: "\${secret:d}"
  fs: { transport: stdio, command: node, args: ["\${secret:a}"], env: { OK: "\${secret:bad/name}" } }
`);
    const byPath = Object.fromEntries(found.map((i) => [i.path, i.message]));
    for (const p of ['upstreams.web.url', 'upstreams.web.description', 'upstreams.fs.args[0]']) assert.match(byPath[p] ?? '', /can only be used in upstreams.<name>.headers/, p);
    assert.match(byPath['upstreams.fs.env.OK'] ?? '', /invalid secret name/);
    // Literal text that would read as a reference, written escaped or arriving in a variable, is refused there.
    const literal = issuesOf('upstreams: { fs: { transport: stdio, command: node, env: { A: "$${secret:x}", B: "${V}" } } }\n', { V: '${secret:y}' });
    assert.deepEqual(literal.map((i) => i.path), ['upstreams.fs.env.A', 'upstreams.fs.env.B']);
    assert.match(literal[0]!.message, /would read as a secret reference/);
  });

  it('resolves for the wire and the identity layer only; the configuration and the resolver print no value', async () => {
    const cfg = parse(YAML, { PART: 'p' });
    const values = { 'gh.token': 'ghp_' + randomBytes(12).toString('hex'), 'api-key': 'key-' + randomBytes(12).toString('hex'), c1_secret: "cs-" + randomBytes(24).toString("hex") };
    const vault = await vaultWith(values);
    const resolved = await ResolvedSecrets.resolve(cfg, () => vault);
    const web = resolved.fillUpstream(cfg.upstreams.web!) as HttpUpstreamConfig;
    assert.equal(web.headers.Authorization, `Bearer ${values['gh.token']}`);
    assert.equal(web.headers['X-Lit'], 'a${b} p');
    const fs = resolved.fillUpstream(cfg.upstreams.fs!) as StdioUpstreamConfig;
    assert.deepEqual(fs.env, { KEY: values['api-key'], PLAIN: 'p' });
    assert.equal(resolved.fillAuth(cfg).auth.builtin.clients[0]!.clientSecret, values.c1_secret);
    // The loaded configuration is untouched, and neither it nor the resolver shows a value however it is printed.
    const shown = [JSON.stringify(cfg), inspect(cfg, { depth: 10 }), JSON.stringify({ resolved }), inspect(resolved), String(resolved)].join('\n');
    for (const v of Object.values(values)) assert.ok(!shown.includes(v));
    assert.equal(inspect(resolved), 'ResolvedSecrets [3 secrets]');
    // Registered for scrubbing: a log line carrying one (raw or JSON-escaped) loses it.
    assert.equal(scrubSecrets(`{"msg":"got ${values['api-key']}"}`), '{"msg":"got [secret]"}');
  });

  it('a configuration without references needs no vault', async () => {
    const cfg = parse('upstreams: { fs: { transport: stdio, command: node, env: { A: "$${x}" } } }\n');
    assert.equal((cfg.upstreams.fs as StdioUpstreamConfig).env.A, '${x}');
    const resolved = await ResolvedSecrets.resolve(cfg, () => assert.fail('no vault needed'));
    assert.equal(resolved.size, 0);
    assert.deepEqual((resolved.fillUpstream(cfg.upstreams.fs!) as StdioUpstreamConfig).env, { A: '${x}' });
  });

  it('names each unresolvable reference by position and name, never quoting a value', async () => {
    const cfg = parse(YAML, { PART: 'p' });
    const nl = 'line1\nline2-' + randomBytes(8).toString('hex');
    const vault = await vaultWith({ 'gh.token': nl, c1_secret: 'fine-value-but-far-too-short' });
    const err = await ResolvedSecrets.resolve(cfg, () => vault).then(() => undefined, (e: unknown) => e);
    assert.ok(isConfigError(err));
    assert.equal(err.format(), [
      'portcullis.yaml:5:31 upstreams.web.headers.Authorization: secret "gh.token" cannot be used in a header: it contains a line break or NUL',
      'portcullis.yaml:9:17 upstreams.fs.env.KEY: secret "api-key" is not in the vault (add it with "portcullis vault set api-key")',
      // The schema saw only the template: the value's length is checked once it is known.
      'portcullis.yaml:12:87 auth.builtin.clients[0].clientSecret: a client secret must be at least 32 characters; secret "c1_secret" is shorter',
    ].join('\n'));
    assert.ok(!err.format().includes('line2'));
    // No key at all: every reference says why, once per reference.
    const noKey = await ResolvedSecrets.resolve(cfg, () => new Vault(createMemoryStorage({ replayEvents: 1 }).records, new EnvKeyProvider('K', {}))).then(() => undefined, (e: unknown) => e);
    assert.ok(isConfigError(noKey));
    assert.equal(noKey.issues.length, 3);
  });
});

describe('the gateway and ${secret:NAME}', () => {
  const key = randomBytes(32).toString('base64');
  let saved: string | undefined;
  before(() => { saved = process.env[VAULT_KEY_ENV]; process.env[VAULT_KEY_ENV] = key; });
  after(() => { if (saved === undefined) delete process.env[VAULT_KEY_ENV]; else process.env[VAULT_KEY_ENV] = saved; });

  const yaml = (ref: string) => `storage: { driver: memory }
auth: { mode: none }
upstreams:
  web: { transport: http, url: "http://127.0.0.1:9/mcp", headers: { Authorization: "Bearer \${secret:${ref}}" } }
  fed: { transport: stdio, command: node }
`;

  it('hands wires the values, refuses to start on a missing secret, re-reads on reload', async () => {
    const storage = createMemoryStorage({ replayEvents: 1 });
    const vault = new Vault(storage.records, new EnvKeyProvider(VAULT_KEY_ENV));
    const seen: UpstreamConfig[] = [];
    const createWire = (_name: string, cfg: UpstreamConfig): UpstreamWire => {
      seen.push(cfg);
      throw new Error('no wire in this test');
    };
    const cfg = parse(yaml('tok'));
    await assert.rejects(Gateway.create(cfg, { logger: silentLogger, storage, createWire }), (e: unknown) => isConfigError(e) && /secret "tok" is not in the vault/.test(e.message));

    await vault.set('tok', 'first-value-1');
    const gw = await Gateway.create(cfg, { logger: silentLogger, storage, createWire });
    try {
      await gw.upstreams.get('web')!.acquire().catch(() => {});
      assert.equal((seen.at(-1) as HttpUpstreamConfig).headers.Authorization, 'Bearer first-value-1');
      assert.equal((gw.config.upstreams.web as HttpUpstreamConfig).headers.Authorization, 'Bearer ${secret:tok}');
      // The identity layer's copy has the client secrets filled in; the gateway's configuration does not.
      const withClient = parse(yaml('tok').replace('auth: { mode: none }', 'auth: { mode: none, builtin: { clients: [{ clientId: c, redirectUris: ["https://a.example/cb"], clientSecret: "\${secret:client}" }] } }'));
      await vault.set('client', 'c'.repeat(40));
      const gw2 = await Gateway.create(withClient, { logger: silentLogger, storage: createMemoryStorage({ replayEvents: 1 }), createWire }).then(
        () => assert.fail('another storage has no such secret'), (e: unknown) => e);
      assert.ok(isConfigError(gw2));
      const withStore = await Gateway.create(withClient, { logger: silentLogger, storage, createWire });
      assert.equal(withStore.identityConfig().auth.builtin.clients[0]!.clientSecret, 'c'.repeat(40));
      assert.equal(withStore.config.auth.builtin.clients[0]!.clientSecret, '${secret:client}');
      await withStore.close().catch(() => {});

      // A changed value reaches new connections after a reload; a reload naming a missing secret is rejected.
      await vault.set('tok', 'second-value-2');
      await gw.refreshSecrets(parse(yaml('tok')));
      await gw.upstreams.get('web')!.acquire().catch(() => {});
      assert.equal((seen.at(-1) as HttpUpstreamConfig).headers.Authorization, 'Bearer second-value-2');
      await assert.rejects(gw.refreshSecrets(parse(yaml('missing'))), (e: unknown) => isConfigError(e) && /secret "missing" is not in the vault/.test(e.message));
      await gw.upstreams.get('web')!.acquire().catch(() => {});
      assert.equal((seen.at(-1) as HttpUpstreamConfig).headers.Authorization, 'Bearer second-value-2');
    } finally {
      await gw.close();
    }
  });
});
