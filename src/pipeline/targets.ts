/**
 * What a request uses, in the upstream's own terms: the tool, prompt, resource or template, found in the
 * upstream's catalogue (an item the upstream does not declare does not exist for the gateway), with the policy
 * resource describing it. Resource URIs are normalised and refused when unsafe before anything is looked up.
 */
import { GatewayError } from '../core/errors.js';
import { isObject, type JsonRpcRequest } from '../core/jsonrpc.js';
import { memberByName, type Endpoint } from '../endpoint/endpoint.js';
import { qualifyUri, splitUri } from '../endpoint/namespace.js';
import type { Upstream } from '../upstream/upstream.js';
import type { Catalog } from '../upstream/catalog.js';
import { matchesTemplate, normaliseUri } from '../validation/uri.js';
import type { RuleSet } from './ruleSet.js';
import type { RequestContext, Target } from './context.js';
import type { UpstreamConnection } from '../upstream/connection.js';
import type { CancelSignal } from '../core/cancel.js';
import { screenUnclaimed } from './serverRequests.js';

/** The error for an item that does not exist, and, identically, for one the principal may not see. */
export function unknownItem(kind: 'tool' | 'prompt' | 'resource', shown: string): GatewayError {
  if (kind === 'tool') return new GatewayError('PC_UNKNOWN_TOOL', shown);
  if (kind === 'prompt') return new GatewayError('PC_UNKNOWN_PROMPT', shown);
  return new GatewayError('PC_UNKNOWN_RESOURCE', shown, { data: { uri: shown } });
}

export async function toolTarget(rules: RuleSet, up: Upstream, cat: Catalog, name: unknown, shown: unknown): Promise<Target> {
  if (typeof name !== 'string') throw new GatewayError('PC_INVALID_PARAMS', 'tools/call needs a tool name');
  const tool = cat.tools.peek(name) ?? (await cat.tools.lookup(name, () => cat.loadTools()));
  if (!tool) throw unknownItem('tool', String(shown));
  return { action: 'call', upstream: up, item: rules.tool(up.name, tool.definition), tool };
}

export async function promptTarget(rules: RuleSet, up: Upstream, cat: Catalog, name: unknown, shown: unknown, action: 'get' | 'complete'): Promise<Target> {
  if (typeof name !== 'string') throw new GatewayError('PC_INVALID_PARAMS', `${action === 'get' ? 'prompts/get' : 'a prompt reference'} needs a prompt name`);
  const prompt = await cat.prompts.get(name);
  if (!prompt) throw unknownItem('prompt', String(shown));
  return { action, upstream: up, item: rules.prompt(up.name, name), prompt };
}

/**
 * A resource to read or subscribe to: the URI normalised (unsafe ones refused), then found among the upstream's
 * resources or matched by one of its templates. Returns the URI to send upstream: the upstream's own spelling of a
 * listed resource, else the normal form.
 */
export async function resourceTarget(rules: RuleSet, up: Upstream, cat: Catalog, uri: unknown, shown: unknown, action: 'read' | 'subscribe'): Promise<{ target: Target; uri: string }> {
  if (typeof uri !== 'string') throw new GatewayError('PC_INVALID_PARAMS', 'uri is required');
  const n = normaliseUri(uri);
  if (n.error !== undefined) throw new GatewayError('PC_INVALID_PARAMS', n.error, { data: { uri: String(shown) } });
  const listed = (await cat.resources.get(uri)) ?? (n.uri !== uri ? await cat.resources.get(n.uri) : undefined);
  const resolved = listed && typeof listed.uri === 'string' ? listed.uri : n.uri;
  if (!listed && !(await cat.templates.all()).some((t) => typeof t.uriTemplate === 'string' && matchesTemplate(n.uri, t.uriTemplate))) {
    throw unknownItem('resource', String(shown));
  }
  return { target: { action, upstream: up, item: rules.resource(up.name, resolved) }, uri: resolved };
}

/** completion/complete: a prompt's or a resource template's argument (ref already in the upstream's names). */
export async function completionTarget(rules: RuleSet, up: Upstream, cat: Catalog, ref: unknown, shownRef: unknown): Promise<Target> {
  if (!isObject(ref)) throw new GatewayError('PC_INVALID_PARAMS', 'completion/complete needs a ref');
  const shown = isObject(shownRef) ? shownRef : ref;
  if (ref.type === 'ref/prompt') return promptTarget(rules, up, cat, ref.name, shown.name, 'complete');
  if (ref.type === 'ref/resource' && typeof ref.uri === 'string') {
    const template = await cat.templates.get(ref.uri);
    if (template) return { action: 'complete', upstream: up, item: rules.template(up.name, ref.uri) };
    const resource = await cat.resources.get(ref.uri);
    if (resource) return { action: 'complete', upstream: up, item: rules.resource(up.name, ref.uri) };
    throw unknownItem('resource', String(shown.uri));
  }
  throw new GatewayError('PC_INVALID_PARAMS', 'unknown completion ref type');
}

/**
 * The connection a request uses (its principal's own, its session's own, its capability profile's, or the shared one).
 * What its upstream asks outside a call goes to the session's stream, past the guardrails like any relayed request.
 */
export function connectionFor(ctx: RequestContext, up: Upstream): Promise<UpstreamConnection> {
  const s = ctx.session;
  const unclaimed = s && (async (req: JsonRpcRequest, signal: CancelSignal) => s.request(req.method, await screenUnclaimed(ctx, up.name, req.method, req.params, signal), signal));
  return up.acquire(s?.id, unclaimed, ctx.clientCapabilities, ctx.principal?.key);
}

/** The upstream and its own URI behind a client-visible resource URI of an endpoint. */
export function locateResource(ep: Endpoint, shown: string): { upstream: Upstream; uri: string } {
  if (ep.kind === 'server') return { upstream: ep.members[0]!, uri: shown };
  const parts = splitUri(shown);
  const upstream = parts && memberByName(ep, parts.server);
  if (!parts || !upstream) throw unknownItem('resource', shown);
  return { upstream, uri: parts.uri };
}

/** The client-visible form of an upstream URI on an endpoint. */
export function shownUri(ep: Endpoint, upstream: Upstream, uri: string): string {
  return ep.kind === 'virtual' ? qualifyUri(upstream.name, uri) : uri;
}
