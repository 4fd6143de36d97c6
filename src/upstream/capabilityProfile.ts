/**
 * A legacy (2025-era) upstream learns its client's capabilities once, at initialize, and may act on them (offer
 * different tools, use elicitation only when the client can answer). Where extra connections share the server's
 * state (HTTP and HTTP+SSE: they are just more sessions of one server), the gateway talks to a legacy upstream over
 * one connection per capability profile, declaring exactly what the clients using it declared, so the upstream
 * behaves as it would for that client directly. Over stdio a connection is a process with its own state, so there
 * the one shared connection declares everything the gateway can relay, and requests a client cannot serve are
 * refused (see bridge/heldCalls.ts). Profiles are few (sampling, roots, elicitation form/url), so connections are too.
 */
import type { JsonObject } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';

export interface CapabilityProfile {
  key: string;
  declared: JsonObject;
}

export function capabilityProfile(caps: JsonObject): CapabilityProfile {
  const declared: JsonObject = {};
  const flags: string[] = [];
  if (isObject(caps.elicitation)) {
    const e = caps.elicitation;
    // 2025-06-18 clients declare `elicitation: {}`, which means form mode.
    const url = isObject(e.url);
    const form = isObject(e.form) || !url;
    const el: JsonObject = {};
    if (form) { el.form = {}; flags.push('ef'); }
    if (url) { el.url = {}; flags.push('eu'); }
    declared.elicitation = el;
  }
  if (isObject(caps.roots)) { declared.roots = { listChanged: true }; flags.push('r'); }
  if (isObject(caps.sampling)) { declared.sampling = {}; flags.push('s'); }
  return { key: flags.join(','), declared };
}

/** Everything the gateway can relay or bridge: what the primary connection declares. */
export const FULL_PROFILE: CapabilityProfile = capabilityProfile({ elicitation: { form: {}, url: {} }, roots: {}, sampling: {} });
