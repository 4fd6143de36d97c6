/**
 * One `subscriptions/listen` subscription, whatever carries it (an HTTP response stream or the stdio channel):
 * works out what the endpoint can honour, subscribes the resources, and tags every notification with the
 * subscription id (the listen request's JSON-RPC id).
 */
import type { JsonObject, JsonRpcId, JsonRpcNotification } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';
import { META } from '../core/protocol.js';
import { endpointCapabilities } from './capabilities.js';
import type { Endpoint } from './endpoint.js';
import type { Listener, NotificationHub } from './notifications.js';

export interface Subscription {
  /** The acknowledgment, to send first. */
  acknowledgment: JsonRpcNotification;
  /** Starts delivery; returns the function that ends the subscription. */
  start(): () => void;
}

const MAX_RESOURCES = 1000;

/**
 * `allow` decides each requested resource (policy, declared by its server): it returns the URI to subscribe to
 * (normalised), or undefined to leave it out of the acknowledgment.
 */
export async function subscribe(
  hub: NotificationHub, ep: Endpoint, id: JsonRpcId, params: JsonObject | undefined, deliver: (n: JsonRpcNotification) => void,
  allow: (uri: string) => Promise<string | undefined>,
): Promise<Subscription> {
  const wanted = isObject(params?.notifications) ? params.notifications : {};
  const caps = endpointCapabilities(ep);
  const resources = isObject(caps.resources) ? caps.resources : undefined;
  const honoured: JsonObject = {};
  if (wanted.toolsListChanged === true && caps.tools) honoured.toolsListChanged = true;
  if (wanted.promptsListChanged === true && caps.prompts) honoured.promptsListChanged = true;
  if (wanted.resourcesListChanged === true && resources) honoured.resourcesListChanged = true;

  const tag = (n: JsonRpcNotification): JsonRpcNotification => ({
    ...n, params: { ...(n.params ?? {}), _meta: { ...(isObject(n.params?._meta) ? n.params._meta : {}), [META.subscriptionId]: id } },
  });
  const listener: Listener = {
    endpoint: ep,
    toolsListChanged: honoured.toolsListChanged === true,
    promptsListChanged: honoured.promptsListChanged === true,
    resourcesListChanged: honoured.resourcesListChanged === true,
    resources: new Set(),
    legacy: false,
    deliver: (n) => deliver(tag(n)),
  };
  const uris = Array.isArray(wanted.resourceSubscriptions) && resources?.subscribe === true
    ? wanted.resourceSubscriptions.filter((u): u is string => typeof u === 'string').slice(0, MAX_RESOURCES)
    : [];
  const accepted: string[] = [];
  for (const wanted of uris) {
    const uri = await allow(wanted);
    if (uri === undefined) continue; // unknown, not declared, or not allowed: not acknowledged
    try { await hub.subscribe(listener, uri); accepted.push(uri); } catch { /* unsubscribable: not acknowledged */ }
  }
  if (accepted.length) honoured.resourceSubscriptions = accepted;
  return {
    acknowledgment: tag({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: honoured } }),
    // Registered only after the acknowledgment went out, so nothing can precede it.
    start: () => hub.add(listener),
  };
}
