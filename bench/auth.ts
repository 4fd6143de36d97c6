/**
 * What authentication costs on the hot path: two gateways side by side in front of the same raw MCP echo, one with
 * auth.mode "none", one verifying an OAuth access token (an external issuer whose JWKS this process serves; the
 * keys are cached after the first call, as in production). Rounds alternate (none, oauth, oauth, none, …) so drift
 * on a noisy machine hits both alike.
 *
 * Workloads, one request in flight at a time (latency, not throughput):
 *   modern   stateless 2026-07-28 tools/call: token verification (cache hit) per request
 *   warm     2025-11-25 tools/call in a session: token verification + session binding per request
 *
 * Also, in this process: Identity.authenticate() per request with a warm cache, and a cold verification (signature,
 * claims) for comparison.
 *
 *   npx tsx bench/auth.ts [--rounds N] [--duration S]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { ProcessSet } from './procs.js';
import { Recorder } from './loadgen.js';
import { TokenVerifier } from '../src/identity/resourceServer/verifier.js';
import { CachedKeySet } from '../src/identity/resourceServer/keys.js';
import { createLogger } from '../src/core/log.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const { values: argv } = parseArgs({ options: { rounds: { type: 'string', default: '6' }, duration: { type: 'string', default: '5' } } });
const ROUNDS = Number(argv.rounds);
const DURATION_MS = Number(argv.duration) * 1000;

// ── the issuer ──────────────────────────────────────────────────────────────────────────────────────────────
const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
const idp = createServer((req, res) => {
  if (req.url === '/jwks') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  else res.writeHead(404).end();
});
await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
const issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
const sign = (aud: string) => new SignJWT({ sub: 'bench-user', scope: 'mcp', roles: ['admin'] })
  .setProtectedHeader({ alg: 'ES256', kid: 'bench' }).setIssuer(issuer).setAudience(aud).setIssuedAt().setExpirationTime('2h').sign(privateKey);

// ── processes ──────────────────────────────────────────────────────────────────────────────────────────────
const procs = new ProcessSet();
const NODE = process.execPath;
const dir = mkdtempSync(join(tmpdir(), 'pc-bench-auth-'));
const echo = await procs.start('raw-mcp-echo', NODE, ['--import', 'tsx', join(HERE, 'targets/raw-mcp-echo.ts')], { cwd: ROOT });

const yaml = (auth: string) => [
  'server: { host: 127.0.0.1, port: 0, dataDir: ' + JSON.stringify(dir) + ' }',
  'storage: { driver: memory }',
  'logging: { level: silent }',
  auth,
  PERMISSIVE_POLICY,
  'upstreams:',
  `  raw: { transport: http, url: ${JSON.stringify(echo.url)}, protocol: legacy, integrity: { unapproved: warn } }`,
  `  raw-modern: { transport: http, url: ${JSON.stringify(echo.url)}, protocol: modern }`,
  '',
].join('\n');
const startGateway = async (name: string, authYaml: string) => {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, yaml(authYaml));
  return procs.start(name, NODE, ['--import', 'tsx', join(HERE, 'targets/gateway.ts'), file], { cwd: ROOT, ipc: true });
};

/** Every principal may call everything: the bench measures authentication, not policy. */
const PERMISSIVE_POLICY = 'policy: { rules: [{ id: bench-allow-all, effect: allow, principals: { methods: [local, bearer] } }] }';

const none = await startGateway('gateway-none', 'auth: { mode: none }');
const oauth = await startGateway('gateway-oauth', `auth: { mode: oauth, builtin: { enabled: false }, issuers: [{ issuer: ${JSON.stringify(issuer)}, jwksUri: ${JSON.stringify(`${issuer}/jwks`)}, allowPrivateNetworks: true }] }`);

// ── workloads ──────────────────────────────────────────────────────────────────────────────────────────────
const MODERN = '2026-07-28';
const META = `,"_meta":{"io.modelcontextprotocol/protocolVersion":"${MODERN}","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}`;
const call = (id: number, extra = '') => `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}${extra}}}`;

interface Runner { name: string; op: () => Promise<void>; close(): Promise<void> }

async function runner(base: string, server: string, kind: 'modern' | 'warm', token: string | undefined): Promise<Runner> {
  const url = new URL(`${base}/servers/${server}/mcp`);
  const pool = new Pool(url.origin, { connections: 1, pipelining: 1 });
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  let id = 0;
  const post = async (body: string, headers: Record<string, string>) => {
    const res = await pool.request({ path: url.pathname, method: 'POST', body, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...auth, ...headers } });
    const text = await res.body.text();
    if (res.statusCode !== 200 && res.statusCode !== 202) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    return { headers: res.headers, text };
  };
  if (kind === 'modern') {
    const h = { 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'echo' };
    return { name: kind, op: async () => { const r = await post(call(++id, META), h); if (!r.text.includes('"result"')) throw new Error(r.text); }, close: () => pool.close() };
  }
  const init = await post(JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }), {});
  const sid = String(init.headers['mcp-session-id']);
  const h = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
  await post('{"jsonrpc":"2.0","method":"notifications/initialized"}', h);
  return { name: kind, op: async () => { const r = await post(call(++id), h); if (!r.text.includes('"result"')) throw new Error(r.text); }, close: () => pool.close() };
}

async function measure(r: Runner, rec: Recorder, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t = performance.now();
    try { await r.op(); rec.add(performance.now() - t); } catch (e) { rec.fail(e); }
  }
}

const rows: string[] = [];
for (const kind of ['modern', 'warm'] as const) {
  const server = kind === 'modern' ? 'raw-modern' : 'raw';
  const tokenFor = await sign(`${oauth.url}/servers/${server}/mcp`);
  const a = await runner(none.url!, server, kind, undefined);
  const b = await runner(oauth.url!, server, kind, tokenFor);
  const recA = new Recorder();
  const recB = new Recorder();
  // Warm-up (JIT, connection, JWKS fetch), not recorded.
  await measure(a, new Recorder(), 1500);
  await measure(b, new Recorder(), 1500);
  for (let i = 0; i < ROUNDS; i++) {
    const order = i % 2 === 0 ? [[a, recA], [b, recB]] as const : [[b, recB], [a, recA]] as const;
    for (const [r, rec] of order) await measure(r, rec, DURATION_MS);
  }
  const sa = recA.stats();
  const sb = recB.stats();
  if (sa.errors || sb.errors) throw new Error(`errors: none ${sa.errors} (${sa.firstError}), oauth ${sb.errors} (${sb.firstError})`);
  rows.push(`| ${kind} | ${sa.p50.toFixed(3)} | ${sb.p50.toFixed(3)} | ${((sb.p50 - sa.p50) * 1000).toFixed(0)} µs | ${(sb.p50 / sa.p50).toFixed(3)} | ${sa.ok} / ${sb.ok} |`);
  await a.close();
  await b.close();
}

// ── in-process: verification with a warm cache, and cold ───────────────────────────────────────────────────
const verifier = new TokenVerifier([{
  issuer, algorithms: ['ES256'], claims: { subject: 'sub', scopes: 'scope', roles: 'roles', groups: 'groups', clientId: 'client_id' },
  keys: new CachedKeySet(async () => ({ keys: [jwk] }) as never, { cooldownMs: 5000, maxAgeMs: 600_000 }),
}], { clockSkewSeconds: 30, log: createLogger('silent') });
const aud = 'http://127.0.0.1:1/servers/x/mcp';
const tok = await sign(aud);
const timeIt = async (n: number, f: () => Promise<unknown>) => {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) { const t = performance.now(); await f(); xs.push(performance.now() - t); }
  xs.sort((p, q) => p - q);
  return xs[Math.floor(xs.length / 2)]! * 1000;
};
await verifier.verify(tok, aud, undefined);
const hit = await timeIt(50_000, () => verifier.verify(tok, aud, undefined));
const coldTokens = await Promise.all(Array.from({ length: 2000 }, () => sign(aud)));
let k = 0;
const cold = await timeIt(coldTokens.length, () => verifier.verify(coldTokens[k++]!, aud, undefined));

await procs.stopAll();
idp.close();

process.stdout.write(`Authentication on the hot path (p50 latency, ms; one request in flight; ${ROUNDS} alternating rounds of ${DURATION_MS / 1000} s)

| workload | auth none | oauth (cached) | added p50 | ratio | calls (none / oauth) |
|---|---:|---:|---:|---:|---:|
${rows.join('\n')}

In-process TokenVerifier.verify, p50: cache hit ${hit.toFixed(2)} µs; cold (ES256 signature + claims) ${cold.toFixed(1)} µs.
`);
process.exit(0);
