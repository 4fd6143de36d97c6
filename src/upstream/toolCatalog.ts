/**
 * What the gateway knows of an upstream's tool definitions: the `x-mcp-header` mirrors of each tool, learned from
 * every tools/list that passes through and forgotten on tools/list_changed. Tools with invalid annotations are
 * dropped from lists (the spec's rule for clients, which the gateway is towards its upstreams).
 */
import type { JsonObject } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';
import type { Logger } from '../core/log.js';
import { paramHeadersOf, type ParamHeader } from '../endpoint/paramHeaders.js';

export class ToolCatalog {
  private specs = new Map<string, ParamHeader[]>();
  private complete = false;

  constructor(private readonly upstream: string, private readonly log: Logger) {}

  /** Learns from one page of tools/list and returns the page's tools without the invalid ones. */
  admit(tools: unknown[]): unknown[] {
    const kept: unknown[] = [];
    for (const t of tools) {
      if (!isObject(t) || typeof t.name !== 'string') continue;
      const specs = paramHeadersOf(t.inputSchema);
      if (typeof specs === 'string') {
        this.log.warn({ upstream: this.upstream, tool: t.name, reason: specs }, 'tool definition rejected');
        this.specs.delete(t.name);
        continue;
      }
      this.specs.set(t.name, specs);
      kept.push(t);
    }
    return kept;
  }

  markComplete(): void { this.complete = true; }

  forget(): void {
    this.specs.clear();
    this.complete = false;
  }

  /** Header mirrors of a tool; fetches the full list once when the tool is not known yet. */
  async specsFor(name: string, fetchAll: () => Promise<void>): Promise<ParamHeader[]> {
    if (!this.specs.has(name) && !this.complete) await fetchAll();
    return this.specs.get(name) ?? [];
  }
}

export function pageTools(page: JsonObject): unknown[] {
  return Array.isArray(page.tools) ? page.tools : [];
}
