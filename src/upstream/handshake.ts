/**
 * The era handshake with an upstream, as a dual-era client does it (2026-07-28 versioning, backward compatibility):
 * probe with `server/discover`; a DiscoverResult naming a version we speak makes the server modern, a recognised
 * modern error means a modern server without a common version, and anything else means a legacy server, which gets
 * `initialize` + `notifications/initialized`.
 */
import type { JsonObject } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';
import { ErrorCode, LATEST_LEGACY, LATEST_MODERN, META, MODERN_VERSIONS, type Era } from '../core/protocol.js';
import { GatewayError, UpstreamRpcError } from '../core/errors.js';
import { GATEWAY_INFO, metaOf } from '../core/mcp.js';
import type { UpstreamWire } from './wire.js';

export interface UpstreamInfo {
  era: Era;
  protocolVersion: string;
  capabilities: JsonObject;
  serverInfo?: JsonObject | undefined;
  instructions?: string | undefined;
}

export interface HandshakeOptions {
  name: string;
  protocol: 'auto' | 'modern' | 'legacy';
  /** Declared at initialize (legacy upstreams). */
  clientCapabilities: JsonObject;
  /** Sends one request on the wire and resolves with its result (rejecting with UpstreamRpcError on an error). */
  request(method: string, params: JsonObject): Promise<JsonObject>;
}

/** The `_meta` every modern request carries. */
export function modernMeta(params: JsonObject, protocolVersion: string, clientCapabilities: JsonObject, logLevel?: string): JsonObject {
  const meta: JsonObject = { ...(metaOf(params) ?? {}) };
  meta[META.protocolVersion] = protocolVersion;
  meta[META.clientCapabilities] = clientCapabilities;
  meta[META.clientInfo] = GATEWAY_INFO;
  if (logLevel) meta[META.logLevel] = logLevel;
  return { ...params, _meta: meta };
}

export async function handshake(wire: UpstreamWire, o: HandshakeOptions): Promise<UpstreamInfo> {
  if (o.protocol !== 'legacy') {
    try {
      const r = await o.request('server/discover', modernMeta({}, LATEST_MODERN, {}));
      const supported = Array.isArray(r.supportedVersions) ? r.supportedVersions.filter((v): v is string => typeof v === 'string') : [];
      const version = MODERN_VERSIONS.find((v) => supported.includes(v));
      if (version) {
        const meta = metaOf(r);
        return {
          era: 'modern', protocolVersion: version,
          capabilities: isObject(r.capabilities) ? r.capabilities : {},
          serverInfo: isObject(meta?.[META.serverInfo]) ? (meta[META.serverInfo] as JsonObject) : undefined,
          instructions: typeof r.instructions === 'string' ? r.instructions : undefined,
        };
      }
      if (o.protocol === 'modern') throw new GatewayError('PC_UPSTREAM_UNAVAILABLE', `${o.name} supports none of ${MODERN_VERSIONS.join(', ')}`);
    } catch (e) {
      if (o.protocol === 'modern') throw e;
      if (e instanceof UpstreamRpcError && isModernError(e.error.code)) {
        throw new GatewayError('PC_UPSTREAM_UNAVAILABLE', `${o.name}: modern server without a common version`);
      }
      // Any other failure identifies a legacy server: fall back to initialize.
      wire.resetSession?.();
    }
  }
  const r = await o.request('initialize', { protocolVersion: LATEST_LEGACY, capabilities: o.clientCapabilities, clientInfo: GATEWAY_INFO });
  const version = typeof r.protocolVersion === 'string' ? r.protocolVersion : LATEST_LEGACY;
  wire.setProtocolVersion?.(version);
  await wire.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return {
    era: 'legacy', protocolVersion: version,
    capabilities: isObject(r.capabilities) ? r.capabilities : {},
    serverInfo: isObject(r.serverInfo) ? r.serverInfo : undefined,
    instructions: typeof r.instructions === 'string' ? r.instructions : undefined,
  };
}

function isModernError(code: number): boolean {
  return code === ErrorCode.UnsupportedProtocolVersion || code === ErrorCode.HeaderMismatch || code === ErrorCode.MissingRequiredClientCapability;
}
