/** Starts a real gateway on an ephemeral loopback port from inline YAML, with in-memory storage. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/load.js';
import type { GatewayConfig } from '../../src/config/types.js';
import { startGateway, type GatewayOptions, type RunningGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/core/log.js';
import { createMemoryStorage } from '../../src/storage/memory.js';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);

/** Absolute path of an npm package's bin entry (e.g. the real MCP servers used in tests). */
export function binOf(pkg: string, bin?: string): string {
  const pj = require.resolve(`${pkg}/package.json`);
  const meta = require(pj) as { bin: string | Record<string, string> };
  const rel = typeof meta.bin === 'string' ? meta.bin : bin ? meta.bin[bin]! : Object.values(meta.bin)[0]!;
  return join(dirname(pj), rel);
}

/** By absolute URL: a stdio server's working directory is its own folder (sandbox.workDir), not the repository. */
export const TSX_IMPORT = ['--import', import.meta.resolve('tsx')];

/** The YAML of a stdio upstream running an npm package's server with this Node (`extra` adds keys). */
export function npmUpstream(name: string, pkg: string, args: string[] = [], extra = ''): string {
  return `  ${name}:\n    transport: stdio\n    command: ${JSON.stringify(process.execPath)}\n    args: ${JSON.stringify([binOf(pkg), ...args])}\n${extra ? `    ${extra}\n` : ''}`;
}

/** `node --import tsx <fixture>` as a YAML flow sequence of args. */
export function fixtureArgs(file: string, ...extra: string[]): string {
  return JSON.stringify([...TSX_IMPORT, join(ROOT, file), ...extra]);
}

/** What tests of the MCP surface run under unless their YAML has a `policy:` section: everything allowed. */
export const ALLOW_ALL_POLICY = 'policy: { rules: [{ id: tests-allow-everything, effect: allow }] }\n';

/**
 * Tests of the MCP surface run without authentication (loopback) unless their YAML configures `auth:`, and with a
 * policy that allows everything unless it has a `policy:` section (the gateway itself denies by default).
 */
export async function startTestGateway(yaml: string, env: Record<string, string> = {}, opts: Partial<GatewayOptions> = {}): Promise<RunningGateway> {
  return startGateway(testConfig(yaml, env), { logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), storage: createMemoryStorage({ replayEvents: 256 }), ...opts });
}

/** The configuration startTestGateway runs `yaml` with (also what a test hands Gateway.reload). */
export function testConfig(yaml: string, env: Record<string, string> = {}): GatewayConfig {
  const auth = /^auth:/m.test(yaml) ? '' : 'auth: { mode: none }\n';
  const policy = /^policy:/m.test(yaml) ? '' : ALLOW_ALL_POLICY;
  const parsed = parseConfig(`server: { port: 0, dataDir: ${JSON.stringify(join(ROOT, 'data', 'test'))} }\n${auth}${policy}${yaml}`, {
    source: 'test', env: { ...process.env, ...env } as Record<string, string>,
  });
  const reviewed = /^\s+integrity:/m.test(yaml) ? parsed : withUnapprovedWarn(parsed);
  return /^\s*sandbox:/m.test(yaml) ? reviewed : withoutSandbox(reviewed);
}

/**
 * Tests of the MCP surface let unapproved upstreams through with a warning (`integrity: { unapproved: warn }`)
 * unless their YAML has an `integrity:` section of its own; the gateway itself blocks unapproved servers.
 */
export function withUnapprovedWarn(config: GatewayConfig): GatewayConfig {
  const upstreams = Object.fromEntries(Object.entries(config.upstreams).map(([name, u]) => [name, { ...u, integrity: { ...u.integrity, unapproved: 'warn' as const } }]));
  return { ...config, upstreams };
}

/**
 * Tests of the MCP surface run their stdio servers unsandboxed (`sandbox.mode: none`; resource limits still apply)
 * unless their YAML says `sandbox:` anywhere: fixtures share temporary folders with the test, which a sandbox hides.
 * The sandbox itself is proven by test/sandbox.*.test.ts.
 */
export function withoutSandbox(config: GatewayConfig): GatewayConfig {
  const upstreams = Object.fromEntries(Object.entries(config.upstreams).map(([name, u]) => [name, u.transport === 'stdio' ? { ...u, sandbox: { ...u.sandbox, mode: 'none' as const } } : u]));
  return { ...config, sandbox: { ...config.sandbox, requireIsolation: false }, upstreams };
}

/** A raw JSON-RPC POST, for tests that check exact wire behaviour. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string; json: () => any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => parseMaybeSse(text) };
}

/** Parses a JSON body, or the last JSON-RPC response of an SSE body. */
export function parseMaybeSse(text: string): any {
  if (!text.startsWith('event:') && !text.startsWith('id:') && !text.startsWith('retry:') && !text.startsWith(':')) return JSON.parse(text);
  const events = text.split(/\n\n/).map((e) => e.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n')).filter(Boolean);
  const msgs = events.map((d) => JSON.parse(d));
  return msgs.find((m) => 'result' in m || 'error' in m) ?? msgs.at(-1);
}

export const MODERN = '2026-07-28';

/** Body `_meta` and headers of a well-formed modern request. */
export function modern(method: string, params: Record<string, unknown> = {}, id: number | string = 1, caps: Record<string, unknown> = {}) {
  const body = {
    jsonrpc: '2.0', id, method,
    params: { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientCapabilities': caps, 'io.modelcontextprotocol/clientInfo': { name: 'test', version: '1' } } },
  };
  const headers: Record<string, string> = { 'mcp-protocol-version': MODERN, 'mcp-method': method };
  const name = (params.name ?? params.uri) as string | undefined;
  if (name !== undefined && ['tools/call', 'prompts/get', 'resources/read'].includes(method)) headers['mcp-name'] = name;
  return { body, headers };
}
