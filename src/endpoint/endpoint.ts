/**
 * An endpoint is what a client connects to: one upstream with its names unchanged (`/servers/{name}/mcp`),
 * or a virtual server aggregating several upstreams under namespaced names (`/virtual/{name}/mcp`).
 */
import type { Upstream } from '../upstream/upstream.js';

export interface Endpoint {
  /** Stable key, e.g. "server:fs" or "virtual:default"; sessions are bound to it. */
  readonly key: string;
  readonly name: string;
  readonly kind: 'server' | 'virtual';
  readonly members: readonly Upstream[];
  /** HTTP path of the Streamable HTTP endpoint. */
  readonly path: string;
  readonly description?: string | undefined;
}

export function memberByName(ep: Endpoint, name: string): Upstream | undefined {
  return ep.members.find((m) => m.name === name);
}

export function isNamespaced(ep: Endpoint): boolean {
  return ep.kind === 'virtual';
}
