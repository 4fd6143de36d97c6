/**
 * What the gateway knows of an upstream's tool definitions, learned from every tools/list that passes through and
 * forgotten on tools/list_changed: each tool's definition (annotations, input and output schemas, for policy and
 * validation) and its `x-mcp-header` mirrors. Tools with invalid annotations are dropped from lists (the spec's
 * rule for clients, which the gateway is towards its upstreams) and so do not exist for the gateway.
 */
import type { JsonObject } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';
import type { Logger } from '../core/log.js';
import { paramHeadersOf, type ParamHeader } from '../endpoint/paramHeaders.js';

export interface ToolInfo {
  readonly name: string;
  /** The definition as the upstream gave it. */
  readonly definition: JsonObject;
  readonly headers: readonly ParamHeader[];
}

/** A name missing from a complete catalogue is looked up again at most this often (an upstream that changed silently). */
const REFRESH_MS = 5000;

export class ToolCatalog {
  private tools = new Map<string, ToolInfo>();
  private complete = false;
  private loadedAt = 0;
  private loading: Promise<void> | undefined;

  constructor(private readonly upstream: string, private readonly log: Logger) {}

  /** Learns from one page of tools/list and returns the page's tools without the invalid ones. */
  admit(tools: unknown[]): unknown[] {
    const kept: unknown[] = [];
    for (const t of tools) {
      if (!isObject(t) || typeof t.name !== 'string') continue;
      const specs = paramHeadersOf(t.inputSchema);
      if (typeof specs === 'string') {
        this.log.warn({ upstream: this.upstream, tool: t.name, reason: specs }, 'tool definition rejected');
        this.tools.delete(t.name);
        continue;
      }
      this.tools.set(t.name, { name: t.name, definition: t, headers: specs });
      kept.push(t);
    }
    return kept;
  }

  markComplete(): void {
    this.complete = true;
    this.loadedAt = Date.now();
  }

  forget(): void {
    this.tools.clear();
    this.complete = false;
  }

  /** Header mirrors of a tool; fetches the full list once when the tool is not known yet. */
  async specsFor(name: string, fetchAll: () => Promise<void>): Promise<readonly ParamHeader[]> {
    return (await this.lookup(name, fetchAll))?.headers ?? [];
  }

  /** The tool, fetching the full list when it is not known (again after REFRESH_MS); undefined when the upstream has none. */
  async lookup(name: string, fetchAll: () => Promise<void>): Promise<ToolInfo | undefined> {
    const t = this.tools.get(name);
    if (t) return t;
    if (this.complete && Date.now() - this.loadedAt < REFRESH_MS) return undefined;
    this.loading ??= fetchAll().finally(() => { this.loading = undefined; });
    await this.loading;
    return this.tools.get(name);
  }

  /** When the full list was last fetched (ms since the epoch; 0 when it is not complete). */
  get fetchedAt(): number {
    return this.complete ? this.loadedAt : 0;
  }

  /** The tool if already known, without fetching. */
  peek(name: string): ToolInfo | undefined {
    return this.tools.get(name);
  }
}

export function pageTools(page: JsonObject): unknown[] {
  return Array.isArray(page.tools) ? page.tools : [];
}
