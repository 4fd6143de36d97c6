/**
 * Protocol revisions and the wire constants both eras share.
 * Modern = per-request `_meta` (2026-07-28 and later); legacy = `initialize` handshake (2025-11-25 and earlier).
 */
export const MODERN_VERSIONS = ['2026-07-28'] as const;
export const LEGACY_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'] as const;
export const SUPPORTED_VERSIONS: readonly string[] = [...MODERN_VERSIONS, ...LEGACY_VERSIONS];
export const LATEST_MODERN = MODERN_VERSIONS[0];
export const LATEST_LEGACY = LEGACY_VERSIONS[0];

export type Era = 'legacy' | 'modern';

export function eraOf(version: string): Era | undefined {
  if ((MODERN_VERSIONS as readonly string[]).includes(version)) return 'modern';
  if ((LEGACY_VERSIONS as readonly string[]).includes(version)) return 'legacy';
  return undefined;
}

/** Legacy negotiation: echo a supported version, otherwise offer our latest legacy one. */
export function negotiateLegacy(requested: unknown): string {
  return typeof requested === 'string' && (LEGACY_VERSIONS as readonly string[]).includes(requested) ? requested : LATEST_LEGACY;
}

export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  logLevel: 'io.modelcontextprotocol/logLevel',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
  relatedTask: 'io.modelcontextprotocol/related-task',
} as const;

export const HEADER = {
  sessionId: 'mcp-session-id',
  protocolVersion: 'mcp-protocol-version',
  method: 'mcp-method',
  name: 'mcp-name',
  paramPrefix: 'mcp-param-',
  lastEventId: 'last-event-id',
} as const;

/** JSON-RPC error codes: the standard ones and those the MCP specification allocates. */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** Implementation-defined range -32000..-32019: the gateway's own. */
  ConnectionClosed: -32000,
  RequestTimeout: -32001,
  UpstreamUnavailable: -32010,
  Forbidden: -32011,
  /** The policy requires a human approval before this use. */
  ApprovalRequired: -32012,
  /** A rate limit, concurrency limit or quota refused the request; data.retryAfterSeconds says when to retry. */
  RateLimited: -32013,
  /** The upstream's concurrency cap and queue are full. */
  UpstreamBusy: -32014,
  /** Legacy (2025-11-25) URL elicitation required. */
  UrlElicitationRequired: -32042,
  /** Spec-reserved range -32020..-32099 (2026-07-28). */
  HeaderMismatch: -32020,
  MissingRequiredClientCapability: -32021,
  UnsupportedProtocolVersion: -32022,
} as const;

/** Methods whose result is cacheable in the modern era (must carry ttlMs and cacheScope). */
export const CACHEABLE_METHODS = new Set([
  'tools/list', 'prompts/list', 'resources/list', 'resources/read', 'resources/templates/list', 'server/discover',
]);

/** Methods that may answer with an InputRequiredResult (MRTR). */
export const MRTR_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);

/** Methods that exist only in the legacy era. */
export const LEGACY_ONLY_METHODS = new Set([
  'initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe',
]);
export const MODERN_ONLY_METHODS = new Set(['server/discover', 'subscriptions/listen']);

/** The body field that `Mcp-Name` mirrors, per method. */
export function nameFieldOf(method: string): 'name' | 'uri' | undefined {
  switch (method) {
    case 'tools/call':
    case 'prompts/get':
      return 'name';
    case 'resources/read':
      return 'uri';
    default:
      return undefined;
  }
}
