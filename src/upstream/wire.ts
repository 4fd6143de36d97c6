/**
 * An upstream wire moves raw JSON-RPC messages to and from one upstream server. It knows nothing of
 * MCP semantics beyond what its transport needs (HTTP headers, sessions); id allocation, correlation,
 * the handshake and reconnection live in UpstreamConnection.
 */
import type { JsonRpcId, JsonRpcMessage } from '../core/jsonrpc.js';
import type { CancelSignal } from '../core/cancel.js';

export interface WireContext {
  /**
   * The id of the upstream request whose response stream carried this message. HTTP wires know it for every
   * message on a POST's SSE stream; it lets a server-to-client request be tied to the call that caused it.
   * Undefined for stdio and for unsolicited streams (HTTP GET stream, HTTP+SSE).
   */
  relatedRequestId?: JsonRpcId;
}

export interface SendOptions {
  /** Aborting closes the request's HTTP stream (the modern era's cancellation signal). */
  signal?: CancelSignal;
  /** HTTP: extra headers for this message (Mcp-Param-* mirrors of a modern tools/call). */
  headers?: Readonly<Record<string, string>>;
}

export interface UpstreamWire {
  readonly kind: 'stdio' | 'http' | 'sse';
  /** Opens the transport: spawns the process, or for SSE opens the stream and waits for the endpoint event. */
  start(): Promise<void>;
  /**
   * Sends one message. Responses and related messages arrive through onmessage. When a request cannot be
   * delivered (network error, HTTP error status without a JSON-RPC body) the wire delivers a synthetic JSON-RPC
   * failure for that request id with `error.data = { httpStatus?, transport: true }`, so the caller never waits forever.
   */
  send(message: JsonRpcMessage, opts?: SendOptions): Promise<void>;
  onmessage?: (message: JsonRpcMessage, ctx: WireContext) => void;
  /** The wire is dead (process exit, stream closed for good). Not called after close(). */
  onclose?: (reason?: Error) => void;
  /** Something non-fatal went wrong (a malformed line, a stray stream error); logged by the owner. */
  onerror?: (err: Error) => void;
  close(): Promise<void>;
  /** HTTP: the negotiated legacy protocol version, sent as MCP-Protocol-Version on later requests. */
  setProtocolVersion?(version: string): void;
  /** HTTP legacy: opens the standalone GET stream for unsolicited messages (best-effort; 405 means none). */
  openListenStream?(): Promise<void>;
  /** HTTP legacy: the Mcp-Session-Id the server assigned, if any. */
  readonly sessionId?: string | undefined;
  /** HTTP legacy: forget the session (after a 404) so the next initialize starts a new one. */
  resetSession?(): void;
}

/** Synthetic transport failures carry this in error.data. */
export interface TransportFailureData {
  transport: true;
  httpStatus?: number;
  /** HTTP 404 on a request that carried Mcp-Session-Id: the upstream session expired. */
  sessionExpired?: boolean;
}
