/**
 * One error catalogue. Every rejection the gateway makes is a GatewayError with a stable code
 * (documented in docs/errors.md), the HTTP status it maps to, the JSON-RPC code it maps to, and the
 * stage that raised it. Detail is exposed to clients only below 500.
 */
import { ErrorCode } from './protocol.js';

export interface ErrorSpec {
  http: number;
  rpc: number;
  message: string;
}

export const ERRORS = {
  PC_BODY_TOO_LARGE: { http: 413, rpc: ErrorCode.InvalidRequest, message: 'Request body too large' },
  PC_PARSE: { http: 400, rpc: ErrorCode.ParseError, message: 'Parse error' },
  PC_INVALID_REQUEST: { http: 400, rpc: ErrorCode.InvalidRequest, message: 'Invalid request' },
  PC_LIMIT: { http: 400, rpc: ErrorCode.InvalidRequest, message: 'Message exceeds a configured limit' },
  PC_BATCH: { http: 400, rpc: ErrorCode.InvalidRequest, message: 'JSON-RPC batches are not supported' },
  PC_BAD_ACCEPT: { http: 406, rpc: ErrorCode.InvalidRequest, message: 'Not Acceptable: client must accept application/json and text/event-stream' },
  PC_BAD_CONTENT_TYPE: { http: 415, rpc: ErrorCode.InvalidRequest, message: 'Unsupported Media Type: Content-Type must be application/json' },
  PC_HOST: { http: 403, rpc: ErrorCode.InvalidRequest, message: 'Forbidden: Host not allowed' },
  PC_ORIGIN: { http: 403, rpc: ErrorCode.InvalidRequest, message: 'Forbidden: Origin not allowed' },
  PC_METHOD_NOT_ALLOWED: { http: 405, rpc: ErrorCode.InvalidRequest, message: 'Method not allowed' },
  PC_NOT_FOUND: { http: 404, rpc: ErrorCode.InvalidRequest, message: 'Not found' },
  PC_SESSION_REQUIRED: { http: 400, rpc: ErrorCode.InvalidRequest, message: 'Bad Request: Mcp-Session-Id header is required' },
  PC_SESSION_UNKNOWN: { http: 404, rpc: ErrorCode.InvalidRequest, message: 'Session not found' },
  PC_SESSION_CAP: { http: 503, rpc: ErrorCode.InternalError, message: 'Too many sessions' },
  PC_ALREADY_INITIALIZED: { http: 400, rpc: ErrorCode.InvalidRequest, message: 'Session already initialized' },
  PC_NOT_INITIALIZED: { http: 400, rpc: ErrorCode.InvalidRequest, message: 'Session not initialized' },
  PC_UNSUPPORTED_VERSION: { http: 400, rpc: ErrorCode.UnsupportedProtocolVersion, message: 'Unsupported protocol version' },
  PC_HEADER_MISMATCH: { http: 400, rpc: ErrorCode.HeaderMismatch, message: 'Header mismatch' },
  PC_MISSING_CAPABILITY: { http: 400, rpc: ErrorCode.MissingRequiredClientCapability, message: 'Missing required client capability' },
  PC_METHOD_NOT_FOUND: { http: 404, rpc: ErrorCode.MethodNotFound, message: 'Method not found' },
  PC_INVALID_PARAMS: { http: 200, rpc: ErrorCode.InvalidParams, message: 'Invalid params' },
  PC_UNKNOWN_TOOL: { http: 200, rpc: ErrorCode.InvalidParams, message: 'Unknown tool' },
  PC_UNKNOWN_PROMPT: { http: 200, rpc: ErrorCode.InvalidParams, message: 'Unknown prompt' },
  PC_UNKNOWN_RESOURCE: { http: 200, rpc: ErrorCode.InvalidParams, message: 'Resource not found' },
  PC_REQUEST_STATE: { http: 200, rpc: ErrorCode.InvalidParams, message: 'Invalid or expired requestState' },
  PC_UPSTREAM_UNAVAILABLE: { http: 200, rpc: ErrorCode.UpstreamUnavailable, message: 'Upstream unavailable' },
  PC_CREDENTIALS_REQUIRED: { http: 200, rpc: ErrorCode.UrlElicitationRequired, message: 'Connect your account first' },
  PC_UPSTREAM_TIMEOUT: { http: 200, rpc: ErrorCode.RequestTimeout, message: 'Upstream request timed out' },
  PC_CANCELLED: { http: 200, rpc: ErrorCode.ConnectionClosed, message: 'Request cancelled' },
  PC_UNAUTHENTICATED: { http: 401, rpc: ErrorCode.InvalidRequest, message: 'Unauthorized' },
  PC_INSUFFICIENT_SCOPE: { http: 403, rpc: ErrorCode.Forbidden, message: 'Forbidden: insufficient scope' },
  PC_FORBIDDEN: { http: 403, rpc: ErrorCode.Forbidden, message: 'Forbidden' },
  PC_POLICY_DENIED: { http: 200, rpc: ErrorCode.Forbidden, message: 'Denied by policy' },
  PC_QUARANTINED: { http: 200, rpc: ErrorCode.Forbidden, message: 'Quarantined' },
  PC_APPROVAL_REQUIRED: { http: 200, rpc: ErrorCode.ApprovalRequired, message: 'Approval required' },
  PC_APPROVAL_DENIED: { http: 200, rpc: ErrorCode.Forbidden, message: 'Approval denied' },
  PC_RATE_LIMITED: { http: 429, rpc: ErrorCode.RateLimited, message: 'Too many requests' },
  PC_QUOTA_EXCEEDED: { http: 429, rpc: ErrorCode.RateLimited, message: 'Quota exceeded' },
  PC_UPSTREAM_BUSY: { http: 503, rpc: ErrorCode.UpstreamBusy, message: 'Upstream busy' },
  PC_GUARDRAIL_BLOCKED: { http: 200, rpc: ErrorCode.Forbidden, message: 'Blocked by a guardrail' },
  PC_RESULT_REJECTED: { http: 200, rpc: ErrorCode.InternalError, message: 'Upstream result rejected' },
  PC_INTERNAL: { http: 500, rpc: ErrorCode.InternalError, message: 'Internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCodeName = keyof typeof ERRORS;

export class GatewayError extends Error {
  readonly code: ErrorCodeName;
  readonly http: number;
  readonly rpc: number;
  readonly data: unknown;
  /** HTTP response headers the rejection needs (e.g. WWW-Authenticate). */
  readonly headers: Readonly<Record<string, string>> | undefined;
  stage: string | undefined;

  constructor(code: ErrorCodeName, detail?: string, opts: { data?: unknown; stage?: string; cause?: unknown; rpc?: number; headers?: Record<string, string> } = {}) {
    const spec = ERRORS[code];
    super(detail ? `${spec.message}: ${detail}` : spec.message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.http = spec.http;
    this.rpc = opts.rpc ?? spec.rpc;
    this.data = opts.data;
    this.headers = opts.headers;
    this.stage = opts.stage;
  }

  /** The message a client may see: full detail below 500, the bare catalogue text otherwise. */
  get publicMessage(): string {
    return this.http >= 500 ? ERRORS[this.code].message : this.message;
  }
}

/** Branch on codes, not instanceof: errors may cross bundle boundaries. */
export function isGatewayError(e: unknown): e is GatewayError {
  return typeof e === 'object' && e !== null && (e as { name?: unknown }).name === 'GatewayError' && typeof (e as { code?: unknown }).code === 'string';
}

/** An error the upstream itself returned as a JSON-RPC error: forwarded as-is, never wrapped. */
export class UpstreamRpcError extends Error {
  constructor(readonly error: { code: number; message: string; data?: unknown }) {
    super(error.message);
    this.name = 'UpstreamRpcError';
  }
}
