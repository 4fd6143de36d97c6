/**
 * What one upstream connection offers: its tools, prompts, resources and resource templates. Kept per connection
 * because a server may offer different items to different sessions (server-everything lists its elicitation tool
 * only to clients that declared elicitation), and each client session or capability profile has its own
 * connection. Forgotten on the matching list_changed.
 */
import type { JsonObject } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';
import type { Logger } from '../core/log.js';
import { ItemCatalog } from './itemCatalog.js';
import { ToolCatalog } from './toolCatalog.js';

export type ListRequest = (method: string, params: JsonObject) => Promise<JsonObject>;

/** Pages fetched at most when loading a list in full. */
const MAX_PAGES = 100;

export class Catalog {
  readonly tools: ToolCatalog;
  readonly prompts: ItemCatalog;
  readonly resources: ItemCatalog;
  readonly templates: ItemCatalog;

  constructor(upstream: string, log: Logger, private readonly request: ListRequest, private readonly capabilities: () => JsonObject | undefined) {
    this.tools = new ToolCatalog(upstream, log);
    this.prompts = new ItemCatalog(() => this.listAll('prompts/list', 'prompts', 'prompts'), (p) => p.name);
    this.resources = new ItemCatalog(() => this.listAll('resources/list', 'resources', 'resources'), (r) => r.uri);
    this.templates = new ItemCatalog(() => this.listAll('resources/templates/list', 'resourceTemplates', 'resources'), (t) => t.uriTemplate);
  }

  private toolsInFlight: { startedAt: number; done: Promise<void> } | undefined;

  /**
   * Loads the tool list from a fetch that started no earlier than `since` (a performance.now() time): callers that
   * arrive while such a fetch is under way share it, so a burst of calls costs one tools/list, yet no caller is
   * answered from a list fetched before it arrived.
   */
  refreshTools(since: number): Promise<void> {
    const f = this.toolsInFlight;
    if (f && f.startedAt >= since) return f.done;
    const startedAt = performance.now();
    const done: Promise<void> = this.loadTools().finally(() => {
      if (this.toolsInFlight?.done === done) this.toolsInFlight = undefined;
    });
    this.toolsInFlight = { startedAt, done };
    return done;
  }

  /** Fetches every page of tools/list into the tool catalogue. */
  async loadTools(): Promise<void> {
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await this.request('tools/list', cursor === undefined ? {} : { cursor });
      this.tools.admit(Array.isArray(page.tools) ? page.tools : []);
      cursor = typeof page.nextCursor === 'string' ? page.nextCursor : undefined;
    } while (cursor !== undefined && ++pages < MAX_PAGES);
    this.tools.markComplete();
  }

  listChanged(method: string): void {
    if (method === 'notifications/tools/list_changed') this.tools.forget();
    else if (method === 'notifications/prompts/list_changed') this.prompts.forget();
    else if (method === 'notifications/resources/list_changed') {
      this.resources.forget();
      this.templates.forget();
    }
  }

  /** Every item of a list method (all pages), or none when the server does not offer the feature. */
  private async listAll(method: string, key: string, feature: string): Promise<unknown[]> {
    const caps = this.capabilities();
    if (caps && !isObject(caps[feature])) return [];
    const out: unknown[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await this.request(method, cursor === undefined ? {} : { cursor });
      if (Array.isArray(page[key])) out.push(...(page[key] as unknown[]));
      cursor = typeof page.nextCursor === 'string' ? page.nextCursor : undefined;
    } while (cursor !== undefined && ++pages < MAX_PAGES);
    return out;
  }
}
