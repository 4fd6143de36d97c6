/** What an endpoint tells clients it can do: the union of what its reachable members offer. */
import type { JsonObject } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';
import type { Endpoint } from './endpoint.js';

export function endpointCapabilities(ep: Endpoint): JsonObject {
  const caps: JsonObject = {};
  let subscribe = false;
  for (const m of ep.members) {
    const c = m.capabilities;
    if (isObject(c.tools)) caps.tools = { listChanged: true };
    if (isObject(c.prompts)) caps.prompts = { listChanged: true };
    if (isObject(c.resources)) {
      subscribe ||= c.resources.subscribe === true;
      caps.resources = { listChanged: true, subscribe };
    }
    if (isObject(c.completions)) caps.completions = {};
    if (isObject(c.logging)) caps.logging = {};
    // Extensions and experimental capabilities are meaningful only for a single upstream.
    if (ep.kind === 'server') {
      if (isObject(c.experimental)) caps.experimental = c.experimental;
      if (isObject(c.extensions)) caps.extensions = c.extensions;
    }
  }
  return caps;
}

export function endpointInstructions(ep: Endpoint): string | undefined {
  if (ep.kind === 'server') return ep.members[0]?.info?.instructions;
  const parts = ep.members
    .map((m) => (m.info?.instructions ? `## ${m.name}\n${m.info.instructions}` : undefined))
    .filter((s): s is string => !!s);
  const head = `Tools and prompts are named {server}__{name}; resources are portcullis://{server}/{uri}.`;
  return parts.length ? `${head}\n\n${parts.join('\n\n')}` : head;
}
