/**
 * `subscriptions/listen` (2026-07-28): a long-lived response stream carrying only the change notifications the
 * client opted in to, each tagged with the subscription id (the listen request's JSON-RPC id). The first
 * message is the acknowledgment naming what the endpoint will honour.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JsonObject, JsonRpcNotification, JsonRpcRequest } from '../../core/jsonrpc.js';
import { isObject, success } from '../../core/jsonrpc.js';
import { META } from '../../core/protocol.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import { endpointCapabilities } from '../../endpoint/capabilities.js';
import type { Listener } from '../../endpoint/notifications.js';
import type { Gateway } from '../../gateway.js';
import { SseStream } from './sse.js';

export async function openListen(gw: Gateway, _req: IncomingMessage, res: ServerResponse, ep: Endpoint, msg: JsonRpcRequest): Promise<void> {
  const wanted = isObject(msg.params?.notifications) ? msg.params.notifications : {};
  const caps = endpointCapabilities(ep);
  const resources = isObject(caps.resources) ? caps.resources : undefined;
  const honoured: JsonObject = {};
  if (wanted.toolsListChanged === true && caps.tools) honoured.toolsListChanged = true;
  if (wanted.promptsListChanged === true && caps.prompts) honoured.promptsListChanged = true;
  if (wanted.resourcesListChanged === true && resources) honoured.resourcesListChanged = true;
  const uris = Array.isArray(wanted.resourceSubscriptions) && resources?.subscribe === true
    ? wanted.resourceSubscriptions.filter((u): u is string => typeof u === 'string').slice(0, 1000)
    : [];

  const tag = (n: JsonRpcNotification): JsonRpcNotification => ({
    ...n, params: { ...(n.params ?? {}), _meta: { ...(isObject(n.params?._meta) ? n.params._meta : {}), [META.subscriptionId]: msg.id } },
  });
  let remove: () => void = () => {};
  let unhook: () => void = () => {};
  const stream = new SseStream(res, { maxBufferedBytes: gw.config.limits.sseBufferBytes, keepAliveMs: 15_000, onClose: () => { remove(); unhook(); } });
  const listener: Listener = {
    endpoint: ep,
    toolsListChanged: honoured.toolsListChanged === true,
    promptsListChanged: honoured.promptsListChanged === true,
    resourcesListChanged: honoured.resourcesListChanged === true,
    resources: new Set(),
    legacy: false,
    deliver: (n) => { stream.send(JSON.stringify(tag(n))); },
  };
  const accepted: string[] = [];
  for (const uri of uris) {
    try { await gw.hub.subscribe(listener, uri); accepted.push(uri); } catch { /* unknown or unsubscribable: not acknowledged */ }
  }
  if (accepted.length) honoured.resourceSubscriptions = accepted;
  // Acknowledge before registering, so nothing can precede the acknowledgment on this stream.
  stream.send(JSON.stringify(tag({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: honoured } })));
  remove = gw.hub.add(listener);
  unhook = gw.onShutdown(() => {
    // Graceful end: the listen request's own response, then close.
    stream.send(JSON.stringify(success(msg.id, { resultType: 'complete', _meta: { [META.subscriptionId]: msg.id } })));
    stream.end();
  });
  if (stream.closed) { remove(); unhook(); }
}
