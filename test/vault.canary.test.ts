/**
 * Canary secrets: random values planted in the vault, referenced from the configuration of a real `portcullis
 * serve` (an HTTP upstream's header, a stdio server's env, a header of an upstream that is down), with debug logs.
 * The upstreams must receive them; no output may show them: the gateway's stdout and stderr, every HTTP response
 * (successes and failures), every `portcullis` command's output (vault set/list/rotate, check, failing checks), a
 * rejected reload, and the bytes of every file in the data folder (the SQLite database and its WAL, the audit
 * database when there is one, the key file).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { post, ROOT } from './support/gateway.js';
import { startRecordingUpstream } from './support/recordingUpstream.js';

const BIN = join(ROOT, 'bin', 'portcullis.js');
const { PORTCULLIS_VAULT_KEY: _ignored, ...inherited } = process.env;
const ENV = { ...inherited, PORTCULLIS_FROM_SOURCE: '1', PORTCULLIS_LOG_LEVEL: 'debug' };

const canary = (label: string) => `canary-${label}-${randomBytes(16).toString('hex')}`;
const CANARIES = { http: canary('http'), stdio: canary('stdio'), down: canary('down') };

/** Every form a value could take in output or on disk. */
function forms(v: string): string[] {
  const b = Buffer.from(v);
  return [v, b.toString('base64'), b.toString('base64url'), b.toString('hex'), JSON.stringify(v).slice(1, -1)];
}

/** Every text this test saw, labelled, to be searched at the end. */
const seen: Array<{ where: string; text: string }> = [];

function cli(dir: string, args: string[], input = '', env: Record<string, string> = {}): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env: { ...ENV, ...env }, input, encoding: 'utf8', timeout: 60_000 });
  const out = r.stdout + r.stderr;
  seen.push({ where: `portcullis ${args.join(' ')}`, text: out });
  return { status: r.status, out };
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function config(upstreamUrl: string, downPort: number, httpRef = 'http_canary'): string {
  const node = JSON.stringify(process.execPath);
  return `server: { port: 0 }
auth: { mode: none }
logging: { level: debug }
policy: { rules: [{ id: allow-all, effect: allow }] }
upstreams:
  rec:
    transport: http
    url: ${upstreamUrl}
    headers: { Authorization: "Bearer \${secret:${httpRef}}" }
    integrity: { unapproved: warn }
  envy:
    transport: stdio
    command: ${node}
    args: [${JSON.stringify(join(ROOT, 'fixtures', 'env-canary-server.mjs'))}]
    env: { CANARY_ENV: "\${secret:stdio_canary}" }
    integrity: { unapproved: warn }
  down:
    transport: http
    url: http://127.0.0.1:${downPort}/mcp
    headers: { X-Api-Key: "\${secret:down_canary}" }
    timeoutMs: 3000
    integrity: { unapproved: warn }
virtualServers:
  default: { upstreams: [rec, envy, down] }
`;
}

class Serve {
  stdout = '';
  stderr = '';
  readonly exited: Promise<unknown>;
  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((r) => child.on('exit', r));
  }

  async waitFor(pattern: RegExp, where: 'stdout' | 'stderr', ms = 30_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = this[where].match(pattern);
      if (m) return m;
      if (Date.now() > deadline) throw new Error(`no ${pattern} on ${where}:\n${this.stdout}\n${this.stderr}`);
      await sleep(50);
    }
  }
}

describe('vault canaries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-vault-canary-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('upstreams receive the secrets; no log, response, command output or stored byte shows them', async (t) => {
    const upstream = await startRecordingUpstream();
    const downPort = await closedPort();
    const cfg = join(dir, 'portcullis.yaml');
    writeFileSync(cfg, config(upstream.url, downPort));

    // Planting, the three ways a value may come in; a value on the command line is refused.
    assert.equal(cli(dir, ['vault', 'init']).status, 0);
    assert.equal(cli(dir, ['vault', 'set', 'http_canary'], CANARIES.http + '\n').status, 0);
    assert.equal(cli(dir, ['vault', 'set', 'stdio_canary', '--from-env', 'CANARY_SOURCE'], '', { CANARY_SOURCE: CANARIES.stdio }).status, 0);
    writeFileSync(join(dir, 'down.txt'), CANARIES.down + '\n', { mode: 0o600 });
    assert.equal(cli(dir, ['vault', 'set', 'down_canary', '--from-file', 'down.txt']).status, 0);
    rmSync(join(dir, 'down.txt'));
    const refused = spawnSync(process.execPath, [BIN, 'vault', 'set', 'x', 'not-a-canary-value'], { cwd: dir, env: ENV, encoding: 'utf8' });
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /never takes the value on the command line/);
    const listed = cli(dir, ['vault', 'list']);
    assert.match(listed.out, /down_canary\s+k-\S+/);
    const checked = cli(dir, ['check']);
    assert.equal(checked.status, 0, checked.out);
    assert.match(checked.out, /3 secrets referenced \(down_canary, http_canary, stdio_canary\), all present and readable/);

    const serve = new Serve(spawn(process.execPath, [BIN, 'serve', '--port', '0'], { cwd: dir, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      const url = (await serve.waitFor(/Portcullis listening: (\S+)/, 'stdout'))[1]!;
      const mcp = `${url}/mcp`;
      const responses: string[] = [];
      const call = async (body: unknown, headers: Record<string, string> = {}) => {
        const r = await post(mcp, body, headers);
        responses.push(`${r.status} ${[...r.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n${r.text}`);
        return r;
      };
      const init = await call({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'canary', version: '1' } } });
      assert.equal(init.status, 200, init.text);
      const session = { 'mcp-session-id': init.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-11-25' };
      await call({ jsonrpc: '2.0', method: 'notifications/initialized' }, session);

      // The stdio server may still be starting: wait until both working upstreams list their tools.
      let tools: string[] = [];
      for (let i = 0; i < 100 && !(tools.includes('rec__whoami') && tools.includes('envy__envcheck')); i++) {
        tools = [];
        // A virtual server pages member by member: follow the cursor.
        for (let cursor: string | undefined, page = 0; page < 10; page++) {
          const list = await call({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: cursor ? { cursor } : {} }, session);
          tools.push(...((list.json().result?.tools ?? []) as Array<{ name: string }>).map((x) => x.name));
          cursor = list.json().result?.nextCursor;
          if (!cursor) break;
        }
        if (!tools.includes('envy__envcheck')) await sleep(100);
      }
      assert.ok(tools.includes('rec__whoami') && tools.includes('envy__envcheck'), tools.join(','));

      // Used: the HTTP header reached the upstream, the env reached the child.
      const who = await call({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'rec__whoami', arguments: {} } }, session);
      assert.equal(who.json().result?.content?.[0]?.text, 'hello', who.text);
      assert.ok(upstream.requests.length > 0 && upstream.requests.every((r) => r.headers.authorization === `Bearer ${CANARIES.http}`));
      const env = await call({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'envy__envcheck', arguments: {} } }, session);
      assert.equal(env.json().result?.content?.[0]?.text, createHash('sha256').update(CANARIES.stdio).digest('hex'));

      // Failing calls: an upstream that is down, unknown tools, a malformed request, a chatty upstream's stderr.
      const down = await call({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'down__anything', arguments: {} } }, session);
      assert.ok(down.json().error || down.json().result?.isError, down.text);
      await call({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'rec__nope', arguments: {} } }, session);
      await call({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'envy__leak', arguments: { a: 1 } } }, session);
      await call('{"jsonrpc":"2.0","id":8,', session);
      await call({ jsonrpc: '2.0', id: 9, method: 'resources/read', params: { uri: 'portcullis://down/x' } }, session);
      const health = await fetch(`${url}/healthz`);
      responses.push(await health.text());
      // The console (auth.mode none: the local operator on loopback), every page and read API, and the metrics.
      const consolePage = await fetch(`${url}/console/`);
      const cookie = (consolePage.headers.get('set-cookie') ?? '').split(';', 1)[0]!;
      responses.push(await consolePage.text());
      for (const api of ['me', 'approvals?status=all', 'audit?limit=500', 'audit/verify', 'servers', 'sessions', 'policy?subject=local', 'metrics']) {
        const r = await fetch(`${url}/console/api/${api}`, { headers: { cookie } });
        assert.equal(r.status, 200, `console api/${api}`);
        responses.push(`console api/${api}\n${await r.text()}`);
      }
      const metrics = await fetch(`${url}/metrics`);
      assert.equal(metrics.status, 200);
      responses.push(await metrics.text());
      await serve.waitFor(/upstream stderr/, 'stderr');

      // A reload with a reference to a secret that does not exist is rejected, naming it, not the others' values.
      writeFileSync(cfg, config(upstream.url, downPort, 'no_such_secret'));
      await serve.waitFor(/configuration reload rejected/, 'stderr', 15_000);
      assert.match(serve.stderr, /secret \\"no_such_secret\\" is not in the vault/);
      const bad = cli(dir, ['check']);
      assert.equal(bad.status, 1);
      assert.match(bad.out, /portcullis\.yaml:\d+:\d+ upstreams\.rec\.headers\.Authorization: secret "no_such_secret" is not in the vault/);
      writeFileSync(cfg, config(upstream.url, downPort));

      // Rotation while the gateway runs: calls keep working, and the next check reads every secret with the new key.
      const rotated = cli(dir, ['vault', 'rotate']);
      assert.equal(rotated.status, 0, rotated.out);
      // The three canaries and the gateway's attestation identity key, which lives in the vault too.
      assert.match(rotated.out, /4 data keys re-wrapped/);
      process.kill(serve.child.pid!, 'SIGHUP');
      await sleep(500);
      const again = await call({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'envy__envcheck', arguments: {} } }, session);
      assert.equal(again.json().result?.content?.[0]?.text, createHash('sha256').update(CANARIES.stdio).digest('hex'));
      assert.equal(cli(dir, ['check']).status, 0);
      seen.push({ where: 'HTTP responses', text: responses.join('\n----\n') });
    } finally {
      serve.child.kill('SIGINT');
      await serve.exited;
      await upstream.close();
      seen.push({ where: 'serve stdout', text: serve.stdout }, { where: 'serve stderr (debug logs)', text: serve.stderr });
    }

    // The logs are real (debug level, the chatty upstream's line is there, scrubbed), so their silence means something.
    const logs = seen.find((s) => s.where.startsWith('serve stderr'))!.text;
    assert.match(logs, /"level":20/, 'debug lines were written');
    assert.match(logs, /CANARY_ENV=\[secret\]/, "the upstream's stderr line is logged with the value cut out");

    // Every file under the data folder, as bytes.
    const files: string[] = [];
    const walk = (d: string) => { for (const n of readdirSync(d)) { const p = join(d, n); if (statSync(p).isDirectory()) walk(p); else files.push(p); } };
    walk(join(dir, 'data'));
    assert.ok(files.some((f) => f.endsWith('portcullis.db')), files.join(','));
    t.diagnostic(`searched ${seen.length} outputs (${seen.reduce((n, s) => n + s.text.length, 0)} chars) and ${files.length} files: ${files.map((f) => f.slice(dir.length + 1)).join(', ')}`);
    t.diagnostic(existsSync(join(dir, 'data', 'audit.db')) ? 'audit database searched' : 'no audit database in the data folder (audit log pending)');
    for (const f of files) seen.push({ where: f, text: readFileSync(f).toString('latin1') });

    const found: string[] = [];
    for (const [label, value] of Object.entries(CANARIES)) {
      for (const form of forms(value)) for (const s of seen) if (s.text.includes(form)) found.push(`${label} canary in ${s.where}`);
    }
    assert.deepEqual(found, []);
  });
});
