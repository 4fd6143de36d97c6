/**
 * What an operator reviews before approving a server: its current definitions (fetched from the server itself),
 * the scan findings, the drift from the pins, name collisions with the other upstreams of a virtual server and tools
 * that talk about other servers' tools (shadowing). Used by `portcullis servers list|diff|approve`.
 */
import type { JsonObject } from '../core/jsonrpc.js';
import type { RecordStore } from '../storage/types.js';
import type { DefinitionItem, DefinitionKind } from './definitions.js';
import { compareServer, formatDrift, type DriftReport } from './drift.js';
import type { Finding } from './finding.js';
import { itemOf, readPins, writePins, type ServerPins } from './pins.js';
import type { Scanner } from './scanner.js';

export type ListRequest = (method: string, params: JsonObject) => Promise<JsonObject>;

const LISTS: readonly { method: string; key: string; feature: string; kind: DefinitionKind }[] = [
  { method: 'tools/list', key: 'tools', feature: 'tools', kind: 'tool' },
  { method: 'prompts/list', key: 'prompts', feature: 'prompts', kind: 'prompt' },
  { method: 'resources/list', key: 'resources', feature: 'resources', kind: 'resource' },
  { method: 'resources/templates/list', key: 'resourceTemplates', feature: 'resources', kind: 'resourceTemplate' },
];

/** Every definition a server offers (all pages of every list its capabilities declare). */
export async function fetchDefinitions(request: ListRequest, capabilities: JsonObject | undefined): Promise<DefinitionItem[]> {
  const out: DefinitionItem[] = [];
  for (const l of LISTS) {
    if (capabilities && (typeof capabilities[l.feature] !== 'object' || capabilities[l.feature] === null)) continue;
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await request(l.method, cursor === undefined ? {} : { cursor });
      for (const raw of Array.isArray(page[l.key]) ? (page[l.key] as unknown[]) : []) {
        const item = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? itemOf(l.kind, raw as JsonObject) : undefined;
        if (item) out.push(item);
      }
      cursor = typeof page.nextCursor === 'string' ? page.nextCursor : undefined;
    } while (cursor !== undefined && ++pages < 100);
  }
  return out;
}

export interface Review {
  server: string;
  pins: ServerPins | undefined;
  /** Items whose drift from the pins is not `unchanged` (every item when there are no pins). */
  drift: DriftReport[];
  findings: { item: DefinitionItem; findings: Finding[] }[];
  /** Tool names this server shares with another upstream of the same virtual server. */
  collisions: string[];
}

export interface ReviewInput {
  server: string;
  current: readonly DefinitionItem[];
  /** Tool names of the other upstreams (for shadowing), by upstream. */
  others: ReadonlyMap<string, readonly string[]>;
  /** Upstream names of each virtual server. */
  virtualServers: ReadonlyMap<string, readonly string[]>;
}

export async function reviewServer(records: RecordStore, scanner: Scanner, input: ReviewInput): Promise<Review> {
  const pins = await readPins(records, input.server);
  const drift = compareServer(pins ? [...pins.items.values()] : [], input.current).filter((d) => d.classification !== 'unchanged');
  const knownTools = [...input.others].flatMap(([, names]) => names);
  const findings = scanner.scanDefinitions(input.current, { knownTools }).filter((f) => f.findings.length > 0);
  const mine = new Set(input.current.filter((i) => i.kind === 'tool').map((i) => i.key));
  const collisions = new Set<string>();
  for (const [vs, members] of input.virtualServers) {
    if (!members.includes(input.server)) continue;
    for (const other of members) {
      if (other === input.server) continue;
      for (const t of input.others.get(other) ?? []) if (mine.has(t)) collisions.add(`${t} (also on ${other}, virtual server ${vs})`);
    }
  }
  return { server: input.server, pins, drift, findings, collisions: [...collisions].sort() };
}

/** A readable review: pin state, drift (formatDrift), findings, collisions. */
export function formatReview(r: Review): string {
  const lines: string[] = [];
  lines.push(r.pins ? `${r.server}: approved ${r.pins.approvedAt} (${r.pins.items.size} items); ${r.drift.length ? `${r.drift.length} drifted` : 'no drift'}` : `${r.server}: not approved yet`);
  for (const d of r.drift) lines.push(formatDrift(d));
  for (const f of r.findings) {
    for (const x of f.findings) lines.push(`finding ${f.item.kind} ${f.item.key}: ${x.severity} ${x.rule} at ${x.path || '(item)'}: ${x.message} [${x.excerpt}]`);
  }
  for (const c of r.collisions) lines.push(`name collision: ${c}`);
  return lines.join('\n') + '\n';
}

/** Stores the current definitions as the server's pins. */
export async function approveServer(records: RecordStore, server: string, current: readonly DefinitionItem[], approvedBy?: string): Promise<void> {
  await writePins(records, server, current, approvedBy);
}
