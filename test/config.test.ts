import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isLoopbackHost } from '../src/config/loopback.js';
import { ConfigError, isConfigError, loadConfigFile, parseConfig, type ConfigIssue, type ParseOptions } from '../src/config/load.js';
import { STARTER_CONFIG } from '../src/config/starter.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BASE = '/srv/gw';
const parse = (text: string, opts: ParseOptions = {}) => parseConfig(text, { source: 'portcullis.yaml', baseDir: BASE, env: {}, ...opts });

/** The issues of a config that must be rejected. */
function issues(text: string, opts: ParseOptions = {}): ConfigIssue[] {
  try {
    parse(text, opts);
  } catch (e) {
    assert.ok(isConfigError(e), `expected a ConfigError, got ${String(e)}`);
    return [...e.issues];
  }
  assert.fail('expected the config to be rejected');
}

const STDIO = 'upstreams:\n  fs:\n    transport: stdio\n    command: node\n';

describe('defaults', () => {
  it('an empty file gets every default', () => {
    const c = parse('');
    assert.deepEqual(c, {
      server: { host: '127.0.0.1', port: 8080, allowedHosts: [], allowedOrigins: [], dataDir: join(BASE, 'data'), legacySse: true },
      limits: {
        maxBodyBytes: 4 * 1024 * 1024, maxDepth: 64, maxStringLength: 1024 * 1024, maxArrayLength: 10000, maxIdLength: 256, sseBufferBytes: 1024 * 1024,
        maxArgumentBytes: 1024 * 1024, maxResultBytes: 16 * 1024 * 1024,
      },
      sessions: { idleTimeoutSeconds: 1800, max: 1000, replayEvents: 256 },
      storage: {
        driver: 'sqlite',
        sqlite: { path: join(BASE, 'data', 'portcullis.db') },
        postgres: { connectionString: 'postgres://127.0.0.1:5432/portcullis', schema: 'portcullis' },
        redis: { url: 'redis://127.0.0.1:6379', prefix: 'portcullis:' },
      },
      audit: { enabled: true, driver: 'storage', content: 'hashes', checkpointRecords: 1000, checkpointSeconds: 60, retentionDays: 0, maxRecordBytes: 65536, durability: 'power-loss' },
      auth: {
        mode: 'oauth',
        requiredScopes: ['mcp'],
        clockSkewSeconds: 30,
        builtin: {
          enabled: true, accessTokenTtlSeconds: 300, refreshTokenTtlSeconds: 1209600, keyRotationDays: 30,
          scopes: ['mcp', 'offline_access'], dynamicRegistration: true,
          clientIdMetadataDocuments: { enabled: true, allowedHosts: [], allowPrivateNetworks: false, cacheSeconds: 300 },
          clients: [], loginRateLimit: { maxAttempts: 5, windowSeconds: 300 }, federation: [],
        },
        issuers: [],
        mtls: { principalFrom: 'san-uri', roles: [], requireBoundTokens: false },
      },
      upstreams: {},
      virtualServers: {},
      attestation: { enabled: true, provider: 'auto', dstackSocket: '/var/run/dstack.sock', expect: { acceptTcbStatus: ['UpToDate'] } },
      logging: { level: 'info' },
      rateLimits: [],
      quotas: [],
      priorities: [],
      guardrails: {
        results: { secrets: 'redact', personalData: 'redact', injection: 'flag' },
        arguments: { secrets: 'block', personalData: 'warn' },
        detectors: {},
        taint: { action: 'approval', sinks: [], sinkTags: [], untrustedSources: [], openWorld: true, destructive: true, ttlSeconds: 86400 },
        custom: [],
        failClosed: true,
        timeoutMs: 1000,
      },
      approvals: { enabled: true, approverRoles: ['approver'], required: 1, fourEyes: true, timeoutSeconds: 900, waitSeconds: 20, retentionDays: 30 },
      console: { enabled: true, path: '/console', roles: { admin: ['admin'], approver: ['approver'], auditor: ['auditor'] }, sessionTtlSeconds: 28800 },
      sandbox: { requireIsolation: true, allowedCommands: ['node', 'npx'], runAs: { uid: 65534, gid: 65534 } },
      vault: {},
      egress: { allowHosts: {} },
      monitoring: {
        acceptRequestId: true,
        metrics: { enabled: true, path: '/metrics', maxToolLabels: 200 },
        tracing: { enabled: false, sampleRatio: 1, serviceName: 'portcullis' },
        anomalies: {
          enabled: true, cooldownSeconds: 300,
          rate: { enabled: true, windowSeconds: 60, factor: 5, minCalls: 30, smoothing: 0.2, warmupWindows: 5 },
          denials: { enabled: true, count: 10, windowSeconds: 60 },
          firstUse: { enabled: true },
          tools: { enabled: true },
        },
      },
    });
    assert.equal('policy' in c, false, 'no policy section: nothing is allowed (docs/policy.md)');
    assert.deepEqual(parse('# only a comment\n'), c);
  });

  const INTEGRITY_DEFAULTS = { unapproved: 'block', allowTightening: false, findings: { low: 'warn', medium: 'warn', high: 'quarantine', critical: 'block' }, recheckMs: 0 };

  it('fills upstream defaults per transport', () => {
    const c = parse(`${STDIO}  web:\n    transport: http\n    url: https://mcp.example.com/mcp\n`);
    assert.deepEqual(c.upstreams.fs, {
      transport: 'stdio',
      command: 'node',
      args: [],
      env: {},
      restart: { maxRetries: 5, initialDelayMs: 500, maxDelayMs: 30000 },
      sandbox: { network: false, mounts: [], mountProgram: true, limits: { memoryMb: 1024, cpuSeconds: 3600, processes: 64, openFiles: 1024 } },
      protocol: 'auto',
      timeoutMs: 60000,
      connection: 'shared',
      tags: [],
      tools: {},
      prompts: {},
      integrity: INTEGRITY_DEFAULTS,
    });
    assert.deepEqual(c.upstreams.web, {
      transport: 'http',
      url: 'https://mcp.example.com/mcp',
      headers: {},
      allowPrivateNetworks: false,
      protocol: 'auto',
      timeoutMs: 60000,
      connection: 'shared',
      tags: [],
      tools: {},
      prompts: {},
      integrity: INTEGRITY_DEFAULTS,
    });
  });

  it('resolves relative paths against the config folder', () => {
    const c = parse(`server: {dataDir: var}\nstorage: {sqlite: {path: db/x.db}}\n${STDIO}    cwd: ./work\n`);
    assert.equal(c.server.dataDir, join(BASE, 'var'));
    assert.equal(c.storage.sqlite.path, join(BASE, 'db/x.db'));
    assert.equal(c.upstreams.fs?.transport === 'stdio' && c.upstreams.fs.cwd, join(BASE, 'work'));
    assert.equal(parse('server: {dataDir: /abs}').storage.sqlite.path, '/abs/portcullis.db');
  });

  it('freezes the result deeply', () => {
    const c = parse(STDIO);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.server) && Object.isFrozen(c.upstreams.fs));
    assert.throws(() => {
      (c.server as { port: number }).port = 1;
    }, TypeError);
  });

  it('accepts port 0 (ephemeral)', () => {
    assert.equal(parse('server: {port: 0}').server.port, 0);
  });
});

describe('environment interpolation', () => {
  const env = { TOKEN: 's3cret', EMPTY: '', PORT: '9090', ON: 'false' };

  it('substitutes set variables and defaults', () => {
    const c = parse(
      'server:\n  port: ${PORT}\n  legacySse: ${ON}\n  dataDir: ${NOPE:-/tmp/d}\n' +
        'upstreams:\n  web:\n    transport: http\n    url: https://x.example/mcp\n' +
        '    headers:\n      Authorization: "Bearer ${TOKEN}"\n      X-Empty: "${EMPTY:-fallback}"\n      X-Lit: a$${TOKEN}b\n',
      { env },
    );
    assert.equal(c.server.port, 9090, 'a substituted value becomes the integer the key expects');
    assert.equal(c.server.legacySse, false);
    assert.equal(c.server.dataDir, '/tmp/d');
    const web = c.upstreams.web;
    assert.ok(web?.transport === 'http');
    assert.deepEqual(web.headers, { Authorization: 'Bearer s3cret', 'X-Empty': 'fallback', 'X-Lit': 'a${TOKEN}b' });
  });

  it('reports an unset variable without default at its YAML path and position', () => {
    const found = issues(`${STDIO}    env:\n      GITHUB_TOKEN: \${GITHUB_TOKEN}\n`, { env });
    assert.equal(found.length, 1);
    assert.equal(found[0]?.path, 'upstreams.fs.env.GITHUB_TOKEN');
    assert.equal(found[0]?.line, 6);
    assert.equal(found[0]?.column, 21);
    assert.match(found[0]?.message ?? '', /GITHUB_TOKEN is not set/);
  });

  it('leaves keys and literal numbers alone, rejects malformed references', () => {
    // Keys are never interpolated: "${TOKEN}" stays a (bad) variable name.
    assert.match(issues(`${STDIO}    env:\n      \${TOKEN}: x\n`, { env })[0]?.message ?? '', /^invalid environment variable name "\$\{TOKEN\}"/);
    assert.match(issues('server: {dataDir: "${1BAD}"}')[0]?.message ?? '', /invalid variable reference/);
    assert.match(issues('server: {dataDir: "${OPEN"}')[0]?.message ?? '', /unterminated/);
    // A substituted value that is not a number stays a string and fails as one.
    assert.equal(issues('server: {port: "${TOKEN}"}', { env })[0]?.message, 'must be an integer (got "s3cret")');
  });
});

describe('validation messages', () => {
  it('names an unknown key, suggests the closest one, and points at its line and column', () => {
    const text = `server:\n  port: 8080\n${STDIO}    comand: x\n    args: []\n`;
    const err = (() => {
      try {
        parse(text);
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('accepted');
    })();
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.issues, [{ path: 'upstreams.fs.comand', line: 7, column: 5, message: 'unknown key (did you mean "command"?)' }]);
    assert.equal(err.format(), 'portcullis.yaml:7:5 upstreams.fs.comand: unknown key (did you mean "command"?)');
  });

  it('lists the allowed keys when nothing is close', () => {
    assert.equal(issues('zzzzzz: 1')[0]?.message, 'unknown key (expected one of: server, limits, sessions, storage, audit, auth, upstreams, virtualServers, attestation, vault, logging, policy, rateLimits, quotas, priorities, guardrails, approvals, egress, monitoring, console, sandbox)');
  });

  it('reports a bad enum with the allowed values and the value given', () => {
    const [i] = issues('upstreams:\n  fs:\n    transport: stdoi\n    command: x\n');
    assert.deepEqual(i, { path: 'upstreams.fs.transport', line: 3, column: 16, message: 'must be one of stdio, http, sse (got "stdoi")' });
    assert.equal(issues('logging: {level: loud}')[0]?.message, 'must be one of trace, debug, info, warn, error, fatal, silent (got "loud")');
  });

  it('reports a missing transport and missing required keys', () => {
    assert.deepEqual(
      issues('upstreams:\n  fs:\n    command: x\n').map((i) => [i.path, i.message]),
      [['upstreams.fs.transport', 'required key is missing (one of stdio, http, sse)']],
    );
    assert.deepEqual(issues('upstreams:\n  web: {transport: http}\n').map((i) => i.path), ['upstreams.web.url']);
  });

  it('reports wrong types in the words of YAML', () => {
    assert.deepEqual(issues('server:\n  port: abc\n'), [{ path: 'server.port', line: 2, column: 9, message: 'must be an integer (got "abc")' }]);
    assert.equal(issues('server: [1]')[0]?.message, 'must be a mapping (key: value) (got a list)');
    assert.equal(issues(`${STDIO}    args: [1]\n`)[0]?.path, 'upstreams.fs.args[0]');
    assert.equal(issues('server: {port: 70000}')[0]?.message, 'must be <= 65535 (got 70000)');
    assert.equal(issues('- a')[0]?.message, 'must be a mapping (key: value) (got a list)');
  });

  it('refuses upstream and virtual server names that would break tool namespacing', () => {
    for (const name of ['bad_name', 'a.b', '-lead', 'x'.repeat(64)]) {
      const [i] = issues(`upstreams:\n  ${name}:\n    transport: stdio\n    command: x\n`);
      assert.equal(i?.path, `upstreams.${name}`.replace(/^upstreams\.(a\.b)$/, 'upstreams["a.b"]'));
      assert.equal(i?.line, 2);
      assert.match(i?.message ?? '', /^invalid name/);
    }
    assert.match(issues('virtualServers:\n  my_vs: {upstreams: [a]}\n')[0]?.message ?? '', /^invalid name "my_vs"/);
    assert.ok(parse(`upstreams:\n  My-Server-2:\n    transport: stdio\n    command: x\n`).upstreams['My-Server-2']);
  });

  it('refuses header injection and non-http URLs', () => {
    const found = issues('upstreams:\n  w:\n    transport: sse\n    url: ftp://x\n    headers: {"X-A": "a\\r\\nB: c"}\n');
    assert.deepEqual(found.map((i) => [i.path, i.message]), [
      ['upstreams.w.url', 'must be an http:// or https:// URL (got "ftp://x")'],
      ['upstreams.w.headers.X-A', 'must not contain line breaks'],
    ]);
  });

  it('reports every problem at once, in file order', () => {
    const found = issues('server:\n  prot: 1\n  host: 7\nlogging:\n  level: x\n');
    assert.deepEqual(found.map((i) => i.line), [2, 3, 5]);
  });

  it('reports YAML syntax errors with a position', () => {
    const [i] = issues('server:\n  port: 1\n  port: 2\n');
    assert.equal(i?.line, 3);
    assert.match(i?.message ?? '', /^YAML: .*unique/);
  });
});

describe('cross-field checks', () => {
  it('rejects a virtual server naming an undefined upstream', () => {
    const found = issues(`${STDIO}virtualServers:\n  default:\n    upstreams: [fs, fss, nope]\n`);
    assert.deepEqual(found, [
      { path: 'virtualServers.default.upstreams[1]', line: 7, column: 21, message: 'unknown upstream "fss" (did you mean "fs"?)' },
      { path: 'virtualServers.default.upstreams[2]', line: 7, column: 26, message: 'unknown upstream "nope" (defined: fs)' },
    ]);
  });

  it('refuses a non-loopback bind without authentication', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com', 'localhost.evil.com']) {
      const [i] = issues(`auth: {mode: none}\nserver: {host: "${host}"}`);
      assert.equal(i?.path, 'server.host');
      assert.match(i?.message ?? '', /auth\.mode "none" is allowed only on loopback/);
    }
    for (const host of ['127.0.0.1', '127.9.9.9', '::1', '[::1]', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) {
      assert.equal(parse(`auth: {mode: none}\nserver: {host: "${host}"}`).server.host, host);
    }
    assert.equal(isLoopbackHost('0:0:0:0:0:0:0:1'), true);
  });

  it('refuses OAuth beyond loopback without TLS, and contradictory auth settings', () => {
    const [i] = issues('server: {host: "0.0.0.0"}');
    assert.equal(i?.path, 'server.tls');
    assert.match(i?.message ?? '', /without TLS/);
    assert.equal(parse('server: {host: "0.0.0.0"}\nauth: {publicUrl: "https://mcp.example.com"}').server.host, '0.0.0.0');
    const plain = issues('auth: {publicUrl: "http://mcp.example.com"}');
    assert.equal(plain[0]?.path, 'auth.publicUrl');
    assert.equal(issues('auth: {builtin: {enabled: false}}')[0]?.path, 'auth.mode');
    assert.equal(issues('auth: {mtls: {requireBoundTokens: true}}')[0]?.path, 'auth.mtls.requireBoundTokens');
    assert.equal(issues('server: {tls: {cert: c.pem, key: k.pem, clientCertificates: required}}')[0]?.path, 'server.tls.clientCertificates');
    assert.equal(issues('server: {tls: {cert: c.pem, key: k.pem, clientCa: ca.pem}}')[0]?.path, 'server.tls.clientCertificates');
    const twice = issues('auth: {issuers: [{issuer: "https://a.example"}, {issuer: "https://a.example"}]}');
    assert.equal(twice[0]?.path, 'auth.issuers[1].issuer');
    assert.equal(issues('auth: {issuers: [{issuer: "https://a.example", algorithms: [HS256]}]}')[0]?.path, 'auth.issuers[0].algorithms[0]');
  });

  it('applies command-line overrides through the same checks', () => {
    const over = { path: ['server', 'host'], value: '0.0.0.0', origin: '--host' } as const;
    const [i] = issues('auth: {mode: none}', { overrides: [over] });
    assert.equal(i?.path, 'server.host');
    assert.equal(i?.line, undefined);
    assert.match(i?.message ?? '', /\(from --host\)$/);
    assert.equal(parse('', { overrides: [{ path: ['server', 'port'], value: 0, origin: '--port' }] }).server.port, 0);
  });
});

describe('files', () => {
  it('the starter config validates', () => {
    const c = parse(STARTER_CONFIG);
    assert.ok(STARTER_CONFIG.startsWith('# yaml-language-server: $schema=./portcullis.schema.json\n'));
    assert.deepEqual(Object.keys(c.upstreams), ['filesystem', 'memory']);
    assert.deepEqual(c.virtualServers.default?.upstreams, ['filesystem', 'memory']);
  });

  it('loadConfigFile reads, resolves against the file folder, and reports a missing file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-config-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(file, 'server: {dataDir: d}\n');
    assert.equal((await loadConfigFile(file, { env: {} })).server.dataDir, join(dir, 'd'));
    await assert.rejects(loadConfigFile(join(dir, 'missing.yaml')), (e: unknown) => isConfigError(e) && /file not found/.test(e.format()));
  });

  for (const script of ['scripts/gen-schema.ts', 'scripts/gen-config-docs.ts']) {
    it(`${script} --check: the generated file is up to date`, () => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', script, '--check'], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    });
  }

  it('the published schema is the one the loader uses', async () => {
    const { CONFIG_SCHEMA } = await import('../src/config/schema.js');
    const { readFile } = await import('node:fs/promises');
    assert.deepEqual(JSON.parse(await readFile(resolve(ROOT, 'portcullis.schema.json'), 'utf8')), CONFIG_SCHEMA);
  });
});
