/**
 * The tools hash: what tools the gateway serves, per endpoint, after integrity admission (and before any
 * per-principal policy filtering, which differs per user). Defined as
 *
 *   sha256(canonicalJson({ version: 1, endpoints: { "<endpoint path>": [["<name as listed>", "<definition hash>"], …] } }))
 *
 * with each endpoint's tools sorted by name, names namespaced on virtual servers (`{server}__{tool}`), and the
 * definition hash the one integrity pins use (src/integrity/definitions.ts), so a tool that passes admission because
 * it matches its pin contributes exactly its pinned hash. `portcullis measure` computes the same value from the
 * pins ("expected": what the gateway serves when every upstream offers exactly its approved definitions), or, with
 * `--live`, by asking the upstreams like the gateway does.
 */
import { canonicalJson } from '../core/canonical.js';
import { isObject, type JsonObject } from '../core/jsonrpc.js';
import type { GatewayConfig } from '../config/types.js';
import { qualifyName } from '../endpoint/namespace.js';
import type { Admission } from '../integrity/admission.js';
import { itemOf, type ServerPins } from '../integrity/pins.js';
import type { Upstream } from '../upstream/upstream.js';
import { sha256Hex } from './code.js';

/** Endpoint path → [name as listed, definition hash]. */
export type ServedTools = Record<string, Array<[string, string]>>;

export function toolsHashOf(served: ServedTools): string {
  const endpoints: ServedTools = {};
  for (const path of Object.keys(served).sort()) {
    endpoints[path] = [...served[path]!].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }
  return sha256Hex(canonicalJson({ version: 1, endpoints }));
}

/** Tools of one upstream as [its own name, definition hash]. */
export type MemberTools<M extends { name: string } = Upstream> = (upstream: M) => Promise<Array<[string, string]>>;

/** What the hash needs of an endpoint (src/endpoint/endpoint.ts). */
export interface EndpointShape<M extends { name: string }> {
  path: string;
  kind: 'server' | 'virtual';
  members: readonly M[];
}

/**
 * The endpoints a configuration gives, as the gateway builds them (src/gateway.ts): one per upstream, one per virtual
 * server. The `/mcp` alias of the default endpoint serves the same list and is not counted again.
 */
export function configEndpoints(config: GatewayConfig): Array<EndpointShape<{ name: string }>> {
  return [
    ...Object.keys(config.upstreams).map((name) => ({ path: `/servers/${name}/mcp`, kind: 'server' as const, members: [{ name }] })),
    ...Object.entries(config.virtualServers).map(([name, v]) => ({ path: `/virtual/${name}/mcp`, kind: 'virtual' as const, members: v.upstreams.map((n) => ({ name: n })) })),
  ];
}

export async function servedTools<M extends { name: string }>(endpoints: readonly EndpointShape<M>[], toolsOf: MemberTools<M>): Promise<ServedTools> {
  const perMember = new Map<string, Promise<Array<[string, string]>>>();
  const served: ServedTools = {};
  for (const ep of endpoints) {
    const list: Array<[string, string]> = [];
    for (const m of ep.members) {
      let p = perMember.get(m.name);
      if (!p) perMember.set(m.name, (p = toolsOf(m)));
      for (const [name, hash] of await p) list.push([ep.kind === 'virtual' ? qualifyName(m.name, name) : name, hash]);
    }
    served[ep.path] = list;
  }
  return served;
}

/** What an upstream serves right now: every page of tools/list on its shared connection, admitted like a list. */
export function liveTools(admission: Admission): MemberTools {
  return async (up) => {
    await admission.ready();
    if (!admission.serverVerdict(up.name).ok) return [];
    let conn;
    try {
      conn = await up.acquire();
    } catch {
      return []; // an unavailable upstream serves nothing (lists skip it too)
    }
    const catalog = up.catalog(conn).tools;
    const out: Array<[string, string]> = [];
    let cursor: string | undefined;
    let pages = 0;
    try {
      do {
        const page: JsonObject = await conn.request('tools/list', cursor === undefined ? {} : { cursor });
        for (const t of catalog.admit(Array.isArray(page.tools) ? page.tools : [])) {
          if (!isObject(t) || !admission.judge(up.name, 'tool', t).ok) continue;
          const item = itemOf('tool', t);
          if (item) out.push([item.key, item.hash]);
        }
        cursor = typeof page.nextCursor === 'string' ? page.nextCursor : undefined;
      } while (cursor !== undefined && ++pages < 100);
    } catch {
      return []; // a list that fails is skipped by lists too (named as degraded there)
    }
    return out;
  };
}

/** What an upstream serves when it offers exactly its approved definitions (none when it has no pins). */
export function pinnedTools(pins: ReadonlyMap<string, ServerPins>): MemberTools<{ name: string }> {
  return async (up) => [...(pins.get(up.name)?.items.values() ?? [])].filter((i) => i.kind === 'tool').map((i) => [i.key, i.hash] as [string, string]);
}
