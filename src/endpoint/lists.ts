/**
 * Lists on a virtual server: pages are fetched member by member, each member's items namespaced. The cursor the
 * client sees is the gateway's own ({member index, the member's cursor}), so upstream pagination passes through
 * intact. A member that fails is skipped and named in `_meta["dev.portcullis/degraded"]`, so one broken server
 * never hides the others.
 */
import type { JsonObject } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';
import { GatewayError } from '../core/errors.js';
import type { ListMethod } from '../pipeline/context.js';
import type { Upstream } from '../upstream/upstream.js';
import { qualifyItem } from './mapResult.js';

export const DEGRADED_META = 'dev.portcullis/degraded';

/** The key of each list method's items. */
export const LIST_ITEMS: Record<ListMethod, string> = {
  'tools/list': 'tools',
  'prompts/list': 'prompts',
  'resources/list': 'resources',
  'resources/templates/list': 'resourceTemplates',
};

const CAPABILITY: Record<ListMethod, string> = {
  'tools/list': 'tools',
  'prompts/list': 'prompts',
  'resources/list': 'resources',
  'resources/templates/list': 'resources',
};

interface Cursor { i: number; c?: string | undefined }

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export function decodeCursor(s: string | undefined): Cursor {
  if (s === undefined) return { i: 0 };
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
    if (isObject(v) && Number.isInteger(v.i) && (v.i as number) >= 0 && (v.c === undefined || typeof v.c === 'string')) return v as unknown as Cursor;
  } catch { /* fall through */ }
  throw new GatewayError('PC_INVALID_PARAMS', 'invalid cursor');
}

export type FetchPage = (upstream: Upstream, cursor: string | undefined) => Promise<JsonObject>;

export async function mergedList(method: ListMethod, members: readonly Upstream[], cursor: string | undefined, fetchPage: FetchPage): Promise<JsonObject> {
  const key = LIST_ITEMS[method];
  let at = decodeCursor(cursor);
  const items: unknown[] = [];
  const degraded: JsonObject[] = [];
  let ttl: number | undefined;
  while (at.i < members.length) {
    const m = members[at.i]!;
    // Skip members that never offered the feature (known capabilities only; unknown = try).
    if (m.info && !isObject(m.capabilities[CAPABILITY[method]])) { at = { i: at.i + 1 }; continue; }
    let page: JsonObject;
    try {
      page = await fetchPage(m, at.c);
    } catch (e) {
      degraded.push({ server: m.name, error: (e as Error).message });
      at = { i: at.i + 1 };
      continue;
    }
    const list = Array.isArray(page[key]) ? (page[key] as unknown[]) : [];
    for (const item of list) items.push(qualifyItem(method, m.name, item));
    if (typeof page.ttlMs === 'number') ttl = ttl === undefined ? page.ttlMs : Math.min(ttl, page.ttlMs);
    at = typeof page.nextCursor === 'string' ? { i: at.i, c: page.nextCursor } : { i: at.i + 1 };
    if (items.length > 0) break;
  }
  const result: JsonObject = { [key]: items };
  if (at.i < members.length) result.nextCursor = encodeCursor(at);
  if (ttl !== undefined) result.ttlMs = ttl;
  if (degraded.length) result._meta = { [DEGRADED_META]: degraded };
  return result;
}
