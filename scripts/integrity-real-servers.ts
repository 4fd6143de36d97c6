/**
 * Lists the real tool/prompt/resource/template definitions of the official MCP servers installed in node_modules,
 * by spawning each over stdio with the SDK client. Used to measure the definition detectors' false positives on
 * definitions written by people with no intent to attack.
 *
 * Run `npx tsx scripts/integrity-real-servers.ts` to print the per-severity finding counts.
 */
import { createRequire } from 'node:module';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { definitionsOfServer, type ServerDefinitions } from '../src/integrity/definitions.js';
import { createScanner } from '../src/integrity/scanner.js';
import { SEVERITIES, type Finding, type Severity } from '../src/integrity/finding.js';

const require = createRequire(import.meta.url);

function binOf(pkg: string): string {
  const pj = require.resolve(`${pkg}/package.json`);
  const meta = require(pj) as { bin: string | Record<string, string> };
  const rel = typeof meta.bin === 'string' ? meta.bin : Object.values(meta.bin)[0]!;
  return join(dirname(pj), rel);
}

export interface RealServer { name: string; pkg: string; args: string[]; env?: Record<string, string> }

export function realServers(workDir: string): RealServer[] {
  return [
    { name: 'filesystem', pkg: '@modelcontextprotocol/server-filesystem', args: [workDir] },
    { name: 'memory', pkg: '@modelcontextprotocol/server-memory', args: [], env: { MEMORY_FILE_PATH: join(workDir, 'memory.jsonl') } },
    { name: 'everything', pkg: '@modelcontextprotocol/server-everything', args: ['stdio'] },
  ];
}

/** Spawns one server, lists everything it defines (following pagination) and closes it. */
export async function listServer(server: RealServer): Promise<ServerDefinitions> {
  const client = new Client({ name: 'portcullis-integrity', version: '1.0.0' });
  await client.connect(new StdioClientTransport({
    command: process.execPath,
    args: [binOf(server.pkg), ...server.args],
    stderr: 'ignore',
    env: { ...process.env, ...server.env } as Record<string, string>,
  }));
  try {
    const caps = client.getServerCapabilities() ?? {};
    const tools = caps.tools ? await collect((cursor) => client.listTools({ cursor }), 'tools') : [];
    const prompts = caps.prompts ? await collect((cursor) => client.listPrompts({ cursor }), 'prompts') : [];
    const resources = caps.resources ? await collect((cursor) => client.listResources({ cursor }), 'resources') : [];
    const resourceTemplates = caps.resources ? await collect((cursor) => client.listResourceTemplates({ cursor }), 'resourceTemplates') : [];
    return { tools, prompts, resources, resourceTemplates } as ServerDefinitions;
  } finally {
    await client.close();
  }
}

async function collect<K extends string>(page: (cursor?: string) => Promise<Record<K, unknown[]> & { nextCursor?: string }>, key: K): Promise<unknown[]> {
  const all: unknown[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const res = await page(cursor);
    all.push(...res[key]);
    cursor = res.nextCursor;
    if (!cursor) break;
  }
  return all;
}

export interface RealServerReport { server: string; items: number; fields: number; findings: LocatedFinding[] }
/** A finding with the item it was found in. */
export interface LocatedFinding extends Finding { item: string }

/** Lists and scans every real server; the scratch directory is removed afterwards. */
export async function scanRealServers(): Promise<RealServerReport[]> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'pc-integrity-')));
  writeFileSync(join(dir, 'hello.txt'), 'hello\n');
  try {
    const reports: RealServerReport[] = [];
    const all = new Map<string, ServerDefinitions>();
    for (const server of realServers(dir)) all.set(server.name, await listServer(server));
    for (const [name, defs] of all) {
      // Shadowing is about other servers' tools, so each server is scanned against the others' tool names.
      const otherTools = [...all].filter(([n]) => n !== name).flatMap(([, d]) => (d.tools ?? []).map((t) => t.name));
      const items = definitionsOfServer(defs);
      const findings = createScanner().scanDefinitions(items, { knownTools: otherTools })
        .flatMap(({ item, findings }) => findings.map((f) => ({ ...f, item: `${item.kind} ${item.key}` })));
      reports.push({ server: name, items: items.length, fields: items.reduce((n, i) => n + i.fields.length, 0), findings });
    }
    return reports;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function countBySeverity(findings: readonly Finding[]): Record<Severity, number> {
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  for (const f of findings) counts[f.severity]++;
  return counts;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const reports = await scanRealServers();
  let high = 0;
  for (const r of reports) {
    const c = countBySeverity(r.findings);
    high += c.high + c.critical;
    console.log(`${r.server.padEnd(11)} items ${String(r.items).padStart(3)}  fields ${String(r.fields).padStart(4)}  ` +
      SEVERITIES.map((s) => `${s} ${c[s]}`).join('  '));
    for (const f of r.findings) console.log(`    ${f.severity.padEnd(8)} ${f.rule.padEnd(22)} ${f.item}: ${f.path}  ${f.excerpt}  (${f.message})`);
  }
  process.exitCode = high > 0 ? 1 : 0;
}
