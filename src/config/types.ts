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
  auth: AuthConfig;
  upstreams: Record<string, UpstreamConfig>;
  virtualServers: Record<string, VirtualServerConfig>;
  logging: LoggingConfig;
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
}

export interface LimitsConfig {
  maxBodyBytes: number;
  maxDepth: number;
  maxStringLength: number;
  maxArrayLength: number;
  maxIdLength: number;
  /** Bytes an SSE stream may buffer for a slow reader before the stream is closed. */
  sseBufferBytes: number;
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

export interface AuthConfig {
  /** "none" is accepted only on loopback binds; authentication providers arrive with the identity work. */
  mode: 'none';
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
}

export interface StdioUpstreamConfig extends UpstreamCommon {
  transport: 'stdio';
  command: string;
  args: string[];
  /** Only these variables reach the child, plus PATH and HOME so that commands resolve. */
  env: Record<string, string>;
  cwd?: string;
  restart: { maxRetries: number; initialDelayMs: number; maxDelayMs: number };
}

export interface HttpUpstreamConfig extends UpstreamCommon {
  transport: 'http';
  url: string;
  headers: Record<string, string>;
}

export interface SseUpstreamConfig extends UpstreamCommon {
  transport: 'sse';
  url: string;
  headers: Record<string, string>;
}

export interface VirtualServerConfig {
  upstreams: string[];
  description?: string;
}

export interface LoggingConfig {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
}
