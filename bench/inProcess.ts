/**
 * One warm tools/call through a gateway's pipeline in process (no socket), timed: what the stage benchmarks compare
 * side by side. The caller is the local principal of a 2025-11-25 client without a session.
 */
import type { Gateway } from '../src/gateway.js';
import { NEVER } from '../src/core/cancel.js';
import { newContext } from '../src/transport/http/context.js';
import { LOCAL_PRINCIPAL } from '../src/pipeline/stages/authenticate.js';

let id = 0;

/** Microseconds for one call of `tool` on the endpoint `server:<upstream>`; throws on anything but a tool result. */
export async function timedCall(gw: Gateway, upstream: string, tool: string, args: Record<string, unknown> = { text: 'hello portcullis' }): Promise<number> {
  const ep = gw.endpoints.find((e) => e.key === `server:${upstream}`)!;
  const ctx = newContext(gw, {
    request: { jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name: tool, arguments: args } }, endpoint: ep, era: 'legacy',
    protocolVersion: '2025-11-25', clientCapabilities: {}, clientInfo: { name: 'bench', version: '1' }, logLevel: undefined, session: undefined,
    transport: 'http', signal: NEVER, principal: LOCAL_PRINCIPAL, channel: { notify: () => {} },
  });
  const t0 = process.hrtime.bigint();
  const r = await gw.run(ctx);
  const us = Number(process.hrtime.bigint() - t0) / 1000;
  if (!Array.isArray(r.content)) throw new Error(`unexpected result ${JSON.stringify(r)}`);
  return us;
}
