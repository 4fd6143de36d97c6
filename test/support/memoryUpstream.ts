/**
 * An in-process MCP server (2025-11-25) behind an UpstreamWire, for tests that need many items, exact control of
 * definitions (annotations, schemas, output schemas), paginated lists and a record of everything the upstream was
 * asked. Plug it in with `createWire: memoryWires({ name: server })`.
 */
import type { JsonObject, JsonRpcMessage, JsonRpcRequest } from '../../src/core/jsonrpc.js';
import type { UpstreamConfig } from '../../src/config/types.js';
import type { UpstreamWire } from '../../src/upstream/wire.js';

export interface MemoryServerSpec {
  tools?: JsonObject[];
  prompts?: JsonObject[];
  resources?: JsonObject[];
  resourceTemplates?: JsonObject[];
  /** Items per list page (default: everything on one page). */
  pageSize?: number;
  /** The result of a tools/call (default: echoes the name and arguments as text). */
  call?: (name: string, args: JsonObject) => JsonObject | Promise<JsonObject>;
}

export interface MemoryServer {
  readonly spec: MemoryServerSpec;
  /** Every request the server received, in order. */
  readonly requests: JsonRpcRequest[];
  /** The tools/call, resources/read, prompts/get and completion/complete requests (what refusals must never reach). */
  uses(): JsonRpcRequest[];
  /** Tells every connection that a list changed. */
  notify(method: string): void;
}

export function memoryServer(spec: MemoryServerSpec): MemoryServer & { attach(w: MemoryWire): void } {
  const requests: JsonRpcRequest[] = [];
  const wires = new Set<MemoryWire>();
  return {
    spec,
    requests,
    uses: () => requests.filter((r) => ['tools/call', 'resources/read', 'prompts/get', 'completion/complete'].includes(r.method)),
    notify(method) {
      for (const w of wires) w.deliver({ jsonrpc: '2.0', method });
    },
    attach(w) {
      wires.add(w);
      w.handler = async (req) => {
        requests.push(req);
        return answer(spec, req);
      };
    },
  };
}

function page(items: JsonObject[], key: string, cursor: unknown, size: number): JsonObject {
  const start = typeof cursor === 'string' ? Number(cursor) : 0;
  const end = start + size;
  return { [key]: items.slice(start, end), ...(end < items.length ? { nextCursor: String(end) } : {}) };
}

async function answer(spec: MemoryServerSpec, req: JsonRpcRequest): Promise<JsonObject> {
  const p = req.params ?? {};
  const size = spec.pageSize ?? 1e9;
  switch (req.method) {
    case 'initialize': {
      const capabilities: JsonObject = {};
      if (spec.tools) capabilities.tools = { listChanged: true };
      if (spec.prompts) capabilities.prompts = { listChanged: true };
      if (spec.resources || spec.resourceTemplates) capabilities.resources = { listChanged: true, subscribe: true };
      if (spec.prompts || spec.resourceTemplates) capabilities.completions = {};
      return { protocolVersion: '2025-11-25', capabilities, serverInfo: { name: 'memory-upstream', version: '1' } };
    }
    case 'ping':
      return {};
    case 'tools/list':
      return page(spec.tools ?? [], 'tools', p.cursor, size);
    case 'prompts/list':
      return page(spec.prompts ?? [], 'prompts', p.cursor, size);
    case 'resources/list':
      return page(spec.resources ?? [], 'resources', p.cursor, size);
    case 'resources/templates/list':
      return page(spec.resourceTemplates ?? [], 'resourceTemplates', p.cursor, size);
    case 'tools/call': {
      const args = (p.arguments ?? {}) as JsonObject;
      if (spec.call) return spec.call(String(p.name), args);
      return { content: [{ type: 'text', text: `${String(p.name)} ${JSON.stringify(args)}` }] };
    }
    case 'prompts/get':
      return { messages: [{ role: 'user', content: { type: 'text', text: `${String(p.name)} ${JSON.stringify(p.arguments ?? {})}` } }] };
    case 'resources/read':
      return { contents: [{ uri: String(p.uri), text: `contents of ${String(p.uri)}` }] };
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return {};
    case 'completion/complete':
      return { completion: { values: ['a', 'b'] } };
    default:
      throw Object.assign(new Error('Method not found'), { code: -32601 });
  }
}

export class MemoryWire implements UpstreamWire {
  readonly kind = 'stdio' as const;
  onmessage?: UpstreamWire['onmessage'];
  onclose?: UpstreamWire['onclose'];
  onerror?: UpstreamWire['onerror'];
  handler: ((req: JsonRpcRequest) => Promise<JsonObject>) | undefined;
  private closed = false;

  async start(): Promise<void> {}

  async send(m: JsonRpcMessage): Promise<void> {
    if (this.closed || !('method' in m) || !('id' in m)) return;
    const req = m as JsonRpcRequest;
    let reply: JsonRpcMessage;
    try {
      reply = { jsonrpc: '2.0', id: req.id, result: await this.handler!(req) };
    } catch (e) {
      reply = { jsonrpc: '2.0', id: req.id, error: { code: (e as { code?: number }).code ?? -32603, message: (e as Error).message } };
    }
    queueMicrotask(() => { if (!this.closed) this.onmessage?.(reply, {}); });
  }

  deliver(m: JsonRpcMessage): void {
    if (!this.closed) this.onmessage?.(m, {});
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

/** A createWire for Gateway options: the named upstreams are these in-process servers. */
export function memoryWires(servers: Record<string, ReturnType<typeof memoryServer>>): (name: string, config: UpstreamConfig) => UpstreamWire {
  return (name) => {
    const s = servers[name];
    if (!s) throw new Error(`no memory server ${name}`);
    const w = new MemoryWire();
    s.attach(w);
    return w;
  };
}
