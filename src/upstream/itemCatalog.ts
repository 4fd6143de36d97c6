/**
 * An upstream's prompts, resources or resource templates as the gateway knows them: fetched in full (every page)
 * the first time a request needs one, forgotten on the matching list_changed. A name missing from a loaded
 * catalogue is looked up again at most every few seconds, for upstreams that change without saying so.
 */
import type { JsonObject } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';

const REFRESH_MS = 5000;

export class ItemCatalog {
  private items: Map<string, JsonObject> | undefined;
  private loadedAt = 0;
  private loading: Promise<Map<string, JsonObject>> | undefined;
  private generation = 0;

  /** `fetchAll` returns every item (all pages); `key` names one (a prompt's name, a resource's URI). */
  constructor(private readonly fetchAll: () => Promise<unknown[]>, private readonly key: (item: JsonObject) => unknown) {}

  /** The item, loading the catalogue if needed (again after REFRESH_MS when it is missing). */
  async get(k: string): Promise<JsonObject | undefined> {
    const hit = this.items?.get(k);
    if (hit) return hit;
    if (this.items && Date.now() - this.loadedAt < REFRESH_MS) return undefined;
    return (await this.load()).get(k);
  }

  /** Every item (loading the catalogue if it is not loaded). */
  async all(): Promise<JsonObject[]> {
    return [...(this.items ?? (await this.load())).values()];
  }

  forget(): void {
    this.items = undefined;
    this.generation++;
  }

  private load(): Promise<Map<string, JsonObject>> {
    const gen = this.generation;
    this.loading ??= this.fetchAll()
      .then((list) => {
        const map = new Map<string, JsonObject>();
        for (const item of list) {
          if (!isObject(item)) continue;
          const k = this.key(item);
          if (typeof k === 'string') map.set(k, item);
        }
        // A list_changed during the fetch makes this result stale: use it for this request, keep nothing.
        if (gen === this.generation) {
          this.items = map;
          this.loadedAt = Date.now();
        }
        return map;
      })
      .finally(() => { this.loading = undefined; });
    return this.loading;
  }
}
