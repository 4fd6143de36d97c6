/**
 * `subscriptions/listen` over HTTP (2026-07-28): a long-lived response stream carrying only the change
 * notifications the client opted in to. Closing the stream ends the subscription; at shutdown the gateway ends it
 * gracefully with the listen request's own response.
 */
import type { ServerResponse } from 'node:http';
import type { JsonRpcRequest } from '../../core/jsonrpc.js';
import { success } from '../../core/jsonrpc.js';
import { META } from '../../core/protocol.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import { subscribe } from '../../endpoint/subscription.js';
import type { Gateway } from '../../gateway.js';
import type { Principal } from '../../pipeline/context.js';
import { SseStream } from './sse.js';

export async function openListen(gw: Gateway, res: ServerResponse, ep: Endpoint, msg: JsonRpcRequest, principal: Principal): Promise<void> {
  const stream = new SseStream(res, { maxBufferedBytes: gw.config.limits.sseBufferBytes, keepAliveMs: 15_000 });
  const sub = await subscribe(gw.hub, ep, msg.id, msg.params, (n) => { stream.send(JSON.stringify(n)); }, (uri) => gw.subscribable(principal, ep, uri));
  stream.send(JSON.stringify(sub.acknowledgment));
  const stop = sub.start();
  const unhook = gw.onShutdown(() => {
    stream.send(JSON.stringify(success(msg.id, { resultType: 'complete', _meta: { [META.subscriptionId]: msg.id } })));
    stream.end();
  });
  stream.onClosed(() => { stop(); unhook(); });
}
