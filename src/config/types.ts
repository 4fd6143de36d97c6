import type { PolicyDocument, PrincipalMatchSpec } from '../policy/configSchema.js';
import type { GuardrailsConfig, UpstreamGuardrailsConfig } from '../guardrails/config.js';
import type { ApprovalsConfig } from '../approvals/config.js';
import type { EgressConfig } from '../egress/config.js';
import type { MonitoringConfig } from '../monitoring/config.js';
import type { ConsoleConfig } from '../console/config.js';

/**
 * The effective configuration, after YAML parsing, ${ENV} interpolation, schema validation and defaults.
 * The JSON Schema in ./schema.ts is the single source of truth for what a file may contain; keep the two in step
 * (test/config.test.ts checks that the starter config and the defaults validate).
 */
export interface GatewayConfig {
  server: ServerConfig;
  limits: LimitsConfig;
  sessions: SessionsConfig;
  storage: StorageConfig;
  audit: AuditConfig;
  auth: AuthConfig;
  upstreams: Record<string, UpstreamConfig>;
  virtualServers: Record<string, VirtualServerConfig>;
  logging: LoggingConfig;
  vault: VaultConfig;
  attestation: AttestationConfig;
  /** The `policy:` document (shape in src/policy/configSchema.ts); absent: everything is denied. */
  policy?: PolicyDocument;
  rateLimits: RateLimitConfig[];
  quotas: QuotaConfig[];
  priorities: PriorityConfig[];
  /** Content guardrails and taint tracking (src/guardrails/config.ts). */
  guardrails: GuardrailsConfig;
  /** Human approval of held calls (src/approvals/config.ts). */
  approvals: ApprovalsConfig;
  /** Allow-lists for the gateway's own fetches (src/egress/config.ts). */
  egress: EgressConfig;
  /** Metrics, traces, request ids, anomaly alerts (src/monitoring/config.ts). */
  monitoring: MonitoringConfig;
  /** The web console (src/console/config.ts). */
  console: ConsoleConfig;
  /** How stdio servers are isolated (src/upstream/sandbox, docs/sandbox.md). */
  sandbox: SandboxConfig;
}

export interface ServerConfig {
  host: string;
  port: number;
  /** Extra Host header values accepted besides the loopback names and the bound address. */
  allowedHosts: string[];
  /** Extra Origins accepted (exact match, e.g. "https://console.example.com"). Loopback origins are always accepted. */
  allowedOrigins: string[];
  /** Folder for the embedded database and generated keys. */
  dataDir: string;
  /** Serve the deprecated HTTP+SSE (2024-11-05) endpoints for old clients. */
  legacySse: boolean;
  /** HTTPS instead of HTTP. */
  tls?: TlsConfig;
}

export interface LimitsConfig {
  maxBodyBytes: number;
  maxDepth: number;
  maxStringLength: number;
  maxArrayLength: number;
  maxIdLength: number;
  /** Bytes an SSE stream may buffer for a slow reader before the stream is closed. */
  sseBufferBytes: number;
  /** Largest single argument of a tool call or prompt (its JSON, in bytes). */
  maxArgumentBytes: number;
  /** Largest result an upstream may return for a call, read or prompt (its JSON, in bytes). */
  maxResultBytes: number;
}

export interface SessionsConfig {
  idleTimeoutSeconds: number;
  max: number;
  /** Events kept per session for Last-Event-ID resumption. */
  replayEvents: number;
}

export interface StorageConfig {
  driver: 'sqlite' | 'memory' | 'postgres' | 'redis';
  sqlite: { path: string };
  postgres: { connectionString: string; schema: string };
  redis: { url: string; prefix: string };
}

/** The tamper-evident audit log (src/audit, docs/audit.md). */
export interface AuditConfig {
  enabled: boolean;
  /** "storage": follow storage.driver (sqlite: a sibling file audit.db; memory: in memory; postgres: its tables; redis: refused). */
  driver: 'storage' | 'sqlite' | 'postgres';
  /** What records keep of arguments and results. */
  content: 'none' | 'hashes' | 'redacted' | 'full';
  /** A signed checkpoint after this many records, or after checkpointSeconds with new records, whichever comes first. */
  checkpointRecords: number;
  checkpointSeconds: number;
  /** Records older than this are pruned, up to a checkpoint (0: keep forever). */
  retentionDays: number;
  /** A record's canonical JSON is kept under this size by replacing content with a truncation marker. */
  maxRecordBytes: number;
  /** What an acknowledged record survives: a power cut (each commit synced, the default) or a crash of the gateway process. */
  durability: 'power-loss' | 'process-crash';
}

export interface AuthConfig {
  /**
   * "oauth": every HTTP request carries a bearer token for its endpoint (or, with mutual TLS, a client certificate);
   * "none": every caller is the single local principal, accepted only on a loopback bind.
   */
  mode: 'oauth' | 'none';
  /**
   * The base URL clients use to reach the gateway (scheme://host[:port], no path). Endpoint canonical URIs (token
   * audiences, RFC 8707) and the built-in issuer derive from it. Defaults to the bound address.
   */
  publicUrl?: string;
  /** Scopes every access token must carry; a token without them gets 403 insufficient_scope. */
  requiredScopes: string[];
  /** Tolerance for exp/nbf/iat. */
  clockSkewSeconds: number;
  builtin: BuiltinAuthServerConfig;
  /** External OIDC/OAuth issuers whose access tokens are accepted. */
  issuers: ExternalIssuerConfig[];
  mtls: MtlsConfig;
}

/** Where the principal's facts are found in a token's claims (dotted paths, e.g. "realm_access.roles"). */
export interface ClaimMapping {
  subject: string;
  /** Space-separated string or array of scopes. */
  scopes: string;
  roles: string;
  groups: string;
  clientId: string;
  tenant?: string;
}

export interface BuiltinAuthServerConfig {
  enabled: boolean;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** A new signing key is made after this many days; the previous one stays in the JWKS until its tokens expire. */
  keyRotationDays: number;
  /** Scopes the server offers (what a token may carry is further limited by policy). */
  scopes: string[];
  /** RFC 7591 dynamic client registration. */
  dynamicRegistration: boolean;
  clientIdMetadataDocuments: {
    enabled: boolean;
    /** Host names (exact, or "*.example.com") whose documents are trusted; empty means any public host. */
    allowedHosts: string[];
    /** Allow documents on loopback/private addresses and over plain http (development and tests only). */
    allowPrivateNetworks: boolean;
    cacheSeconds: number;
  };
  clients: PreRegisteredClient[];
  loginRateLimit: { maxAttempts: number; windowSeconds: number };
  /** Sign-in through an upstream OIDC provider, offered on the login page beside local accounts. */
  federation: FederatedLoginConfig[];
}

export interface PreRegisteredClient {
  clientId: string;
  clientName?: string;
  redirectUris: string[];
  /** Confidential clients only; public clients (the usual MCP host) have none and use PKCE alone. */
  clientSecret?: string;
}

export interface FederatedLoginConfig {
  /** Short id used in URLs ("/oauth/federate/{name}"). */
  name: string;
  displayName?: string;
  issuer: string;
  clientId: string;
  clientSecret?: string;
  scopes: string[];
  /** Claim whose value lists the user's groups at the upstream provider. */
  groupsClaim: string;
  /** Allow an issuer on loopback/private addresses (development and tests only). */
  allowPrivateNetworks: boolean;
}

export interface ExternalIssuerConfig {
  issuer: string;
  /** Defaults to the jwks_uri of the issuer's discovery document. */
  jwksUri?: string;
  /**
   * The audience tokens must carry. Unset (recommended): the canonical URI of the endpoint being called (RFC 8707).
   * Set it only for providers that cannot issue resource-bound tokens; every endpoint then accepts that audience.
   */
  audience?: string;
  algorithms: string[];
  claims: ClaimMapping;
  /** Allow an issuer on loopback/private addresses (development and tests only). */
  allowPrivateNetworks: boolean;
}

export interface MtlsConfig {
  /** Which certificate field names the principal when a client authenticates with a certificate alone. */
  principalFrom: 'san-uri' | 'san-dns' | 'san-email' | 'subject-cn';
  /** Roles given to certificate-authenticated principals. */
  roles: string[];
  /** RFC 8705: refuse a token whose cnf["x5t#S256"] does not match the presented client certificate. */
  requireBoundTokens: boolean;
}

/** Serving HTTPS (and, with clientCa, mutual TLS). Files are re-read when they change. */
export interface TlsConfig {
  cert: string;
  key: string;
  /** CA bundle that client certificates must chain to (enables mutual TLS). */
  clientCa?: string;
  /** "required": no certificate, no connection; "optional": a certificate is verified if presented. */
  clientCertificates: 'none' | 'optional' | 'required';
  minVersion: 'TLSv1.2' | 'TLSv1.3';
}

/** Outbound TLS to an upstream: extra trust anchors and a client certificate. Certificates are always verified. */
export interface UpstreamTlsConfig {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

export type UpstreamConfig = StdioUpstreamConfig | HttpUpstreamConfig | SseUpstreamConfig;

export interface UpstreamCommon {
  /** Which protocol era to speak upstream; "auto" probes (server/discover first, then initialize). */
  protocol: 'auto' | 'modern' | 'legacy';
  /** Per-request timeout. */
  timeoutMs: number;
  /** "shared": one connection multiplexed for every client; "per-session": one connection per client session. */
  connection: 'shared' | 'per-session';
  description?: string;
  /** Tags of every item of this server, for policy rules (`tags:`). */
  tags: string[];
  /** What configuration says about the server's tools, by the upstream's own tool name. */
  tools: Record<string, ToolOverrideConfig>;
  /** What configuration says about the server's prompts, by the upstream's own prompt name. */
  prompts: Record<string, PromptOverrideConfig>;
  /** Calls in flight to this upstream at once; more wait in a bounded queue, interactive before bulk. */
  concurrency?: UpstreamConcurrencyConfig;
  /** Admission of the server's definitions (pins, findings, drift). */
  integrity: UpstreamIntegrityConfig;
  /** This server's content guardrails over the top-level ones. */
  guardrails?: UpstreamGuardrailsConfig;
}

export type IntegrityAction = 'block' | 'quarantine' | 'warn';

export interface UpstreamIntegrityConfig {
  /** A server with no approved pins: hidden and refused ("block"), or let through with a warning. */
  unapproved: 'block' | 'warn';
  /** An item whose changes since its pin all tighten passes without re-approval. */
  allowTightening: boolean;
  /** What a scan finding of each severity does to its item. */
  findings: { low: IntegrityAction; medium: IntegrityAction; high: IntegrityAction; critical: IntegrityAction };
  /** A tools/call is checked against a tool list no older than this (0: fetched after the call arrived). */
  recheckMs: number;
}

export interface ToolOverrideConfig {
  tags: string[];
  /** Replace the upstream's hints (policy rules read these: readOnly, destructive). */
  annotations?: { readOnlyHint?: boolean; destructiveHint?: boolean; idempotentHint?: boolean; openWorldHint?: boolean };
  /** A JSON Schema the arguments must also satisfy (tightens the upstream's inputSchema, never loosens it). */
  inputSchema?: Record<string, unknown>;
}

export interface PromptOverrideConfig {
  tags: string[];
}

export interface UpstreamConcurrencyConfig {
  max: number;
  /** Calls that may wait for a slot; beyond that a call is refused at once (PC_UPSTREAM_BUSY). */
  queue: number;
  /** A call waiting longer than this is refused (PC_UPSTREAM_BUSY). */
  queueTimeoutMs: number;
}

/** Dimensions a limit is counted per: one bucket (or counter) per distinct combination of their values. */
export type LimitDimension = 'principal' | 'client' | 'server' | 'tool';
export type LimitAction = 'call' | 'read' | 'get' | 'complete' | 'subscribe' | 'list';

/** Which requests a limit rule applies to; every given selector must match. */
export interface LimitSelector {
  principals?: PrincipalMatchSpec | PrincipalMatchSpec[];
  servers?: string[];
  /** "server/tool" globs. */
  tools?: string[];
  actions?: LimitAction[];
}

export interface RateLimitConfig extends LimitSelector {
  id?: string;
  per: LimitDimension[];
  /** Token bucket: `requests` per `perSeconds`, up to `burst` at once (default: requests). */
  requests?: number;
  perSeconds: number;
  burst?: number;
  /** At most this many requests in flight at once per key. */
  concurrency?: number;
}

export interface QuotaConfig extends LimitSelector {
  id?: string;
  per: LimitDimension[];
  daily?: number;
  monthly?: number;
  /** Where days and months begin (IANA). */
  timezone: string;
}

export interface PriorityConfig extends LimitSelector {
  class: 'interactive' | 'bulk';
}

export interface StdioUpstreamConfig extends UpstreamCommon {
  transport: 'stdio';
  command: string;
  args: string[];
  /** Only these variables reach the child, plus PATH and HOME so that commands resolve. */
  env: Record<string, string>;
  cwd?: string;
  restart: { maxRetries: number; initialDelayMs: number; maxDelayMs: number };
  /** Isolation and resource limits of the child (docs/sandbox.md). */
  sandbox: StdioSandboxConfig;
}

/** Gateway-wide sandbox settings (docs/sandbox.md). */
export interface SandboxConfig {
  /** Refuse to start a stdio server that cannot run isolated (bubblewrap missing or not working). */
  requireIsolation: boolean;
  /** Commands a stdio server may run: exact strings, or programs that resolve to the same file. */
  allowedCommands: string[];
  /** When the gateway runs as root, sandboxed servers run as this unprivileged user (so limits hold). */
  runAs: { uid: number; gid: number };
}

export interface SandboxLimits {
  memoryMb: number;
  cpuSeconds: number;
  processes: number;
  openFiles: number;
}

export interface SandboxMount {
  path: string;
  mode: 'ro' | 'rw';
}

export interface StdioSandboxConfig {
  /** Absent: bubblewrap when it works on this machine. */
  mode?: 'bubblewrap' | 'none';
  network: boolean;
  mounts: SandboxMount[];
  /** Mount the program's own files (its project folder) and cwd read-only. */
  mountProgram: boolean;
  /** The server's own writable folder (its HOME and default cwd). Default: <dataDir>/sandbox/<name>. */
  workDir?: string;
  limits: SandboxLimits;
}

export interface HttpUpstreamConfig extends UpstreamCommon {
  transport: 'http';
  url: string;
  headers: Record<string, string>;
  tls?: UpstreamTlsConfig;
  /** The host name may resolve to loopback/private addresses, and plain http is allowed (an internal server). */
  allowPrivateNetworks: boolean;
  /** Whose credentials the upstream sees: the static headers (service) or each user's own token (per-user). */
  credentials?: UpstreamCredentialsConfig;
}

/** How the gateway authenticates to an HTTP upstream (src/credentials, docs/credentials.md). */
export interface UpstreamCredentialsConfig {
  /**
   * "service": the static `headers`; "per-user": each user's own OAuth token, connected once in the browser;
   * "token-exchange": a token derived per user with RFC 8693 from an identity assertion the gateway signs.
   */
  mode: 'service' | 'per-user' | 'token-exchange';
  oauth?: UpstreamOAuthConfig;
}

export interface UpstreamOAuthConfig {
  /** The upstream's authorization server; discovered from the upstream's Protected Resource Metadata when absent. */
  issuer?: string;
  clientId: string;
  /** May be a ${secret:NAME} reference; absent for a public client (PKCE only). */
  clientSecret?: string;
  scopes: string[];
  /** RFC 8707 resource the tokens are bound to; default: the upstream URL. */
  resource?: string;
  /** The authorization server may be on loopback/private addresses and plain http (tests, internal servers). */
  allowPrivateNetworks: boolean;
}

export interface SseUpstreamConfig extends UpstreamCommon {
  transport: 'sse';
  url: string;
  headers: Record<string, string>;
  tls?: UpstreamTlsConfig;
  /** As for http upstreams. */
  allowPrivateNetworks: boolean;
  credentials?: UpstreamCredentialsConfig;
}

export interface VirtualServerConfig {
  upstreams: string[];
  description?: string;
}

/** Verifiability and attestation (src/attestation, docs/attestation.md). */
export interface AttestationConfig {
  enabled: boolean;
  provider: 'auto' | 'configfs-tsm' | 'dstack' | 'none';
  dstackSocket: string;
  /** What `portcullis attest verify --config` expects (hex strings). */
  expect: AttestationExpectations;
}

export interface AttestationExpectations {
  measurement?: string;
  mrtd?: string;
  rtmr0?: string;
  rtmr1?: string;
  rtmr2?: string;
  rtmr3?: string;
  acceptTcbStatus: string[];
}

/** The credential vault (docs/vault.md). PORTCULLIS_VAULT_KEY, when set, is used instead of the key file. */
export interface VaultConfig {
  /** The keyring of key-encryption keys (mode 0600). Default: <dataDir>/vault.key. */
  keyFile?: string;
}

export interface LoggingConfig {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
}
