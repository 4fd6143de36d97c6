/**
 * Operator-approved pins: per server, the hash and the full definition of every item the operator approved, kept in
 * the storage's RecordStore (namespace `integrity:pins`, one record per server) so every gateway sharing the storage
 * and the `portcullis servers` command read and write the same pins, and a later change can be shown as a diff.
 */
import type { JsonObject } from '../core/jsonrpc.js';
import type { RecordStore } from '../storage/types.js';
import { promptItem, resourceItem, resourceTemplateItem, toolItem, type DefinitionItem, type DefinitionKind, type McpPrompt, type McpResource, type McpResourceTemplate, type McpTool } from './definitions.js';

export const PINS_NAMESPACE = 'integrity:pins';

export interface ServerPins {
  server: string;
  approvedAt: string;
  /** By itemId(kind, key). */
  items: Map<string, DefinitionItem>;
}

export function itemId(kind: DefinitionKind, key: string): string {
  return `${kind}\u0000${key}`;
}

/** A definition item of a kind from what a server sent (or what a pin stored). */
export function itemOf(kind: DefinitionKind, def: Readonly<Record<string, unknown>>): DefinitionItem | undefined {
  const d = def as Record<string, unknown>;
  if (kind === 'tool') return typeof d.name === 'string' ? toolItem(d as McpTool) : undefined;
  if (kind === 'prompt') return typeof d.name === 'string' ? promptItem(d as McpPrompt) : undefined;
  if (kind === 'resource') return typeof d.uri === 'string' ? resourceItem(d as McpResource) : undefined;
  return typeof d.uriTemplate === 'string' ? resourceTemplateItem(d as McpResourceTemplate) : undefined;
}

const KINDS: ReadonlySet<string> = new Set(['tool', 'prompt', 'resource', 'resourceTemplate']);

function decode(server: string, value: JsonObject): ServerPins {
  const items = new Map<string, DefinitionItem>();
  for (const raw of Array.isArray(value.items) ? value.items : []) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) continue;
    const r = raw as JsonObject;
    if (typeof r.kind !== 'string' || !KINDS.has(r.kind) || typeof r.definition !== 'object' || r.definition === null) continue;
    const item = itemOf(r.kind as DefinitionKind, r.definition as JsonObject);
    if (item) items.set(itemId(item.kind, item.key), item);
  }
  return { server, approvedAt: typeof value.approvedAt === 'string' ? value.approvedAt : '', items };
}

export async function readPins(records: RecordStore, server: string): Promise<ServerPins | undefined> {
  const value = await records.get(PINS_NAMESPACE, server);
  return value ? decode(server, value) : undefined;
}

export async function readAllPins(records: RecordStore): Promise<Map<string, ServerPins>> {
  const out = new Map<string, ServerPins>();
  for (const r of await records.list(PINS_NAMESPACE)) out.set(r.key, decode(r.key, r.value));
  return out;
}

/** Replaces a server's pins with exactly these items (what the operator approved). */
export async function writePins(records: RecordStore, server: string, items: readonly DefinitionItem[], approvedBy?: string): Promise<void> {
  const value: JsonObject = {
    approvedAt: new Date().toISOString(),
    ...(approvedBy !== undefined && { approvedBy }),
    items: items.map((i) => ({ kind: i.kind, key: i.key, hash: i.hash, definition: i.definition as JsonObject })),
  };
  await records.put(PINS_NAMESPACE, server, value);
}

export async function deletePins(records: RecordStore, server: string): Promise<boolean> {
  return records.delete(PINS_NAMESPACE, server);
}
