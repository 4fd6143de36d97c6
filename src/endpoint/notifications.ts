/**
 * Routes upstream change notifications to the clients that asked for them: legacy sessions (their GET
 * stream) and modern `subscriptions/listen` streams. Resource subscriptions are reference-counted per
 * upstream URI, so many clients share one upstream subscription and one client's unsubscribe does not end
 * another's. Modern upstreams are watched through one long-lived `subscriptions/listen` of the gateway's own.
 */
import type { JsonObject, JsonRpcNotification } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';
import type { Logger } from '../core/log.js';
import type { Upstream } from '../upstream/upstream.js';
import type { Endpoint } from './endpoint.js';
import { memberByName } from './endpoint.js';
import { qualifyUri, splitUri } from './namespace.js';
import { META } from '../core/protocol.js';

export interface Listener {
  readonly endpoint: Endpoint;
  /** Legacy session id: notifications from that session's dedicated upstream connections reach only it. */
  readonly sessionKey?: string | undefined;
  toolsListChanged: boolean;
  promptsListChanged: boolean;
  resourcesListChanged: boolean;
  /** Client-visible resource URIs subscribed to. */
  readonly resources: Set<string>;
  /** Legacy sessions also receive unsolicited log messages and other server notifications. */
  readonly legacy: boolean;
  deliver(n: JsonRpcNotification): void;
}

const LIST_CHANGED: Record<string, 'toolsListChanged' | 'promptsListChanged' | 'resourcesListChanged'> = {
  'notifications/tools/list_changed': 'toolsListChanged',
  'notifications/prompts/list_changed': 'promptsListChanged',
  'notifications/resources/list_changed': 'resourcesListChanged',
};

export class NotificationHub {
  private readonly listeners = new Set<Listener>();
  /** upstream name → upstream URI → subscriber count. */
  private readonly refs = new Map<string, Map<string, number>>();
  private readonly watches = new Map<string, AbortController>();

  constructor(upstreams: readonly Upstream[], private readonly log: Logger) {
    for (const u of upstreams) {
      u.on('notification', (n, sessionKey) => this.fromUpstream(u, n, sessionKey));
      u.on('health', (h) => { if (h === 'ready') void this.watch(u); });
    }
  }

  add(l: Listener): () => void {
    this.listeners.add(l);
    return () => {
      this.listeners.delete(l);
      for (const uri of [...l.resources]) void this.unsubscribe(l, uri).catch(() => {});
    };
  }

  /** Subscribes a listener to a client-visible URI; the first subscriber subscribes upstream. */
  async subscribe(l: Listener, uri: string): Promise<void> {
    if (l.resources.has(uri)) return;
    const target = this.locate(l.endpoint, uri);
    l.resources.add(uri);
    const counts = this.refs.get(target.upstream.name) ?? new Map<string, number>();
    this.refs.set(target.upstream.name, counts);
    const n = (counts.get(target.uri) ?? 0) + 1;
    counts.set(target.uri, n);
    if (n === 1) {
      try {
        await this.applyUpstream(target.upstream, 'resources/subscribe', target.uri);
      } catch (e) {
        counts.set(target.uri, (counts.get(target.uri) ?? 1) - 1);
        l.resources.delete(uri);
        throw e;
      }
    }
  }

  async unsubscribe(l: Listener, uri: string): Promise<void> {
    if (!l.resources.delete(uri)) return;
    const target = this.locate(l.endpoint, uri);
    const counts = this.refs.get(target.upstream.name);
    const n = (counts?.get(target.uri) ?? 1) - 1;
    if (n > 0) { counts?.set(target.uri, n); return; }
    counts?.delete(target.uri);
    await this.applyUpstream(target.upstream, 'resources/unsubscribe', target.uri);
  }

  private locate(ep: Endpoint, uri: string): { upstream: Upstream; uri: string } {
    if (ep.kind === 'server') return { upstream: ep.members[0]!, uri };
    const parts = splitUri(uri);
    const upstream = parts && memberByName(ep, parts.server);
    if (!parts || !upstream) throw new Error(`unknown resource ${uri}`);
    return { upstream, uri: parts.uri };
  }

  private async applyUpstream(u: Upstream, method: 'resources/subscribe' | 'resources/unsubscribe', uri: string): Promise<void> {
    const conn = await u.acquire();
    if (conn.info?.era === 'modern') return void this.watch(u);
    await conn.request(method, { uri });
  }

  /** Modern upstreams push changes only on a listen stream: keep one open with the current interest. */
  private async watch(u: Upstream): Promise<void> {
    let conn;
    try { conn = await u.acquire(); } catch { return; }
    if (conn.info?.era !== 'modern') return;
    this.watches.get(u.name)?.abort();
    const abort = new AbortController();
    this.watches.set(u.name, abort);
    const uris = [...(this.refs.get(u.name)?.keys() ?? [])];
    const params: JsonObject = { notifications: { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true, ...(uris.length ? { resourceSubscriptions: uris } : {}) } };
    conn.request('subscriptions/listen', params, {
      signal: abort.signal,
      timeoutMs: 0,
      onNotification: (n) => {
        if (n.method === 'notifications/subscriptions/acknowledged') return;
        u.listChanged(n.method);
        this.fromUpstream(u, n, undefined);
      },
    }).then(
      () => { if (!abort.signal.aborted) setTimeout(() => void this.watch(u), 1000).unref(); },
      (e: Error) => { if (!abort.signal.aborted) this.log.debug({ upstream: u.name, err: e.message }, 'upstream listen stream ended'); },
    );
  }

  private fromUpstream(u: Upstream, n: JsonRpcNotification, sessionKey: string | undefined): void {
    for (const l of this.listeners) {
      if (sessionKey !== undefined && l.sessionKey !== sessionKey) continue;
      if (!l.endpoint.members.includes(u)) continue;
      const out = this.translate(l, u, n);
      if (out) l.deliver(out);
    }
  }

  private translate(l: Listener, u: Upstream, n: JsonRpcNotification): JsonRpcNotification | undefined {
    const flag = LIST_CHANGED[n.method];
    if (flag) return l[flag] ? { jsonrpc: '2.0', method: n.method } : undefined;
    if (n.method === 'notifications/resources/updated') {
      const raw = n.params?.uri;
      if (typeof raw !== 'string') return undefined;
      const uri = l.endpoint.kind === 'virtual' ? qualifyUri(u.name, raw) : raw;
      if (!l.resources.has(uri)) return undefined;
      const params: JsonObject = { ...(n.params ?? {}), uri };
      if (params._meta && typeof params._meta === 'object') {
        const { [META.subscriptionId]: _drop, ...rest } = params._meta as JsonObject;
        if (Object.keys(rest).length) params._meta = rest; else delete params._meta;
      }
      return { jsonrpc: '2.0', method: n.method, params };
    }
    // Anything else (log messages, server-specific notifications) only to legacy sessions of a single-server endpoint.
    return l.legacy && l.endpoint.kind === 'server' ? n : undefined;
  }

  /**
   * The gateway's own change (a policy reload): every client may now see other items, so each is told, for each
   * list it asked to hear about and its endpoint offers, that the list changed.
   */
  listChanged(): void {
    for (const l of this.listeners) {
      const offered = (feature: string) => l.endpoint.members.some((m) => isObject(m.capabilities[feature]));
      for (const [method, flag] of Object.entries(LIST_CHANGED)) {
        const feature = flag === 'toolsListChanged' ? 'tools' : flag === 'promptsListChanged' ? 'prompts' : 'resources';
        if (l[flag] && offered(feature)) l.deliver({ jsonrpc: '2.0', method });
      }
    }
  }

  close(): void {
    for (const a of this.watches.values()) a.abort();
    this.watches.clear();
    this.listeners.clear();
  }
}
