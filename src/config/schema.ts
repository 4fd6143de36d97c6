/**
 * JSON Schema (draft 2020-12) for portcullis.yaml: the single source of truth for what a config file may contain.
 * The published portcullis.schema.json and docs/configuration.md are generated from this object
 * (scripts/gen-schema.ts, scripts/gen-config-docs.ts); tests fail when either is stale.
 * Every object is closed (additionalProperties: false) so typos surface as "unknown key" errors.
 */

import { POLICY_SCHEMA, PRINCIPAL_MATCH_SCHEMA } from '../policy/configSchema.js';
import { GUARDRAILS_SCHEMA, UPSTREAM_GUARDRAILS_SCHEMA } from '../guardrails/config.js';
import { APPROVALS_SCHEMA } from '../approvals/config.js';
import { EGRESS_SCHEMA } from '../egress/config.js';
import { MONITORING_SCHEMA } from '../monitoring/config.js';
import { CONSOLE_SCHEMA } from '../console/config.js';
import { SANDBOX_SCHEMA, STDIO_SANDBOX_SCHEMA } from '../upstream/sandbox/config.js';

/** The subset of JSON Schema this file uses; enough for the validator, the docs generator and editors. */
export interface SchemaNode {
  $schema?: string;
  $id?: string;
  $ref?: string;
  $defs?: Record<string, SchemaNode>;
  title?: string;
  description?: string;
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, SchemaNode>;
  required?: readonly string[];
  additionalProperties?: boolean | SchemaNode;
  propertyNames?: SchemaNode;
  items?: SchemaNode;
  enum?: readonly string[];
  const?: string;
  default?: unknown;
  examples?: readonly unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  uniqueItems?: boolean;
  pattern?: string;
  format?: string;
  oneOf?: readonly SchemaNode[];
  /** OpenAPI-style hint: Ajv (option `discriminator`) picks the branch by this property, so errors come from one branch only. */
  discriminator?: { propertyName: string };
}

export const SCHEMA_ID = 'https://portcullis.dev/schema/v1/portcullis.schema.json';

/** Upstream and virtual server names. No "_" or ".": tools are namespaced as `{server}__{tool}` in virtual servers. */
export const NAME_PATTERN = '^[a-zA-Z0-9][a-zA-Z0-9-]{0,62}$';
export const ENV_NAME_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';
/** RFC 9110 token: refuses header names that could smuggle another header. */
export const HEADER_NAME_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
/** Header values must not contain CR or LF (header injection). */
export const HEADER_VALUE_PATTERN = '^[^\\r\\n]*$';

const MiB = 1024 * 1024;

const positiveInt = (def: number, description: string): SchemaNode => ({ type: 'integer', minimum: 1, default: def, description });
const nonNegativeInt = (def: number, description: string): SchemaNode => ({ type: 'integer', minimum: 0, default: def, description });

/** Tags name groups of items for policy rules (`tags:`). */
export const TAG_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$';

const tags = (description: string): SchemaNode => ({
  type: 'array',
  items: { type: 'string', pattern: TAG_PATTERN },
  uniqueItems: true,
  default: [],
  description,
});

const toolOverride: SchemaNode = {
  type: 'object',
  description: 'What configuration says about one tool.',
  additionalProperties: false,
  properties: {
    tags: tags('Tags of this tool, for policy rules.'),
    annotations: {
      type: 'object',
      description: "Replaces the upstream's hints for this tool (policy rules read readOnlyHint and destructiveHint); clients see these.",
      additionalProperties: false,
      properties: {
        readOnlyHint: { type: 'boolean', description: 'The tool does not change anything.' },
        destructiveHint: { type: 'boolean', description: 'The tool may destroy or overwrite data.' },
        idempotentHint: { type: 'boolean', description: 'Repeating a call has no further effect.' },
        openWorldHint: { type: 'boolean', description: 'The tool reaches beyond the server (the web, other systems).' },
      },
    },
    inputSchema: {
      type: 'object',
      description: "A JSON Schema (2020-12) the arguments must satisfy as well as the upstream's own: tightens, never loosens (e.g. additionalProperties: false, pattern, maxLength). additionalProperties: false still admits the properties the upstream declares.",
    },
  },
};

const promptOverride: SchemaNode = {
  type: 'object',
  description: 'What configuration says about one prompt.',
  additionalProperties: false,
  properties: { tags: tags('Tags of this prompt, for policy rules.') },
};

const upstreamCommon: Record<string, SchemaNode> = {
  description: { type: 'string', description: 'Free text shown in listings and the console.' },
  protocol: {
    type: 'string',
    enum: ['auto', 'modern', 'legacy'],
    default: 'auto',
    description: 'Protocol era to speak upstream. "auto" probes (server/discover first, then initialize); "modern" or "legacy" skip the probe.',
  },
  timeoutMs: { type: 'integer', minimum: 1, maximum: 86_400_000, default: 60_000, description: 'Per-request timeout in milliseconds.' },
  connection: {
    type: 'string',
    enum: ['shared', 'per-session'],
    default: 'shared',
    description: '"shared": one upstream connection multiplexed for every client; "per-session": one connection per client session.',
  },
  tags: tags('Tags of every tool, resource and prompt of this server, for policy rules (tags:).'),
  tools: {
    type: 'object',
    default: {},
    description: "Per tool (the upstream's own name): tags, annotations and a stricter input schema.",
    additionalProperties: toolOverride,
  },
  prompts: {
    type: 'object',
    default: {},
    description: "Per prompt (the upstream's own name): tags.",
    additionalProperties: promptOverride,
  },
  integrity: {
    type: 'object',
    default: {},
    description: 'Admission of this server\'s definitions: pins approved with `portcullis servers approve`, scan findings and drift (docs/guardrails.md).',
    additionalProperties: false,
    properties: {
      unapproved: {
        type: 'string',
        enum: ['block', 'warn'],
        default: 'block',
        description: 'A server with no approved pins yet: "block" hides its items and refuses their use; "warn" lets them through with a warning.',
      },
      allowTightening: { type: 'boolean', default: false, description: 'Let an item whose every change since its pin only tightens what it accepts pass without re-approval.' },
      findings: {
        type: 'object',
        default: {},
        description: 'What a scan finding of each severity does to the item: "block" (hidden and refused), "quarantine" (the same, until approved), "warn" (logged).',
        additionalProperties: false,
        properties: {
          low: { type: 'string', enum: ['block', 'quarantine', 'warn'], default: 'warn', description: 'Low-severity findings.' },
          medium: { type: 'string', enum: ['block', 'quarantine', 'warn'], default: 'warn', description: 'Medium-severity findings.' },
          high: { type: 'string', enum: ['block', 'quarantine', 'warn'], default: 'quarantine', description: 'High-severity findings.' },
          critical: { type: 'string', enum: ['block', 'quarantine', 'warn'], default: 'block', description: 'Critical findings.' },
        },
      },
      recheckMs: {
        type: 'integer',
        minimum: 0,
        maximum: 86_400_000,
        default: 0,
        description: 'How old the tool list a tools/call is checked against may be. 0 (the default): every call is checked against a tools/list fetched after it arrived (concurrent calls share one fetch), so a definition changed without tools/list_changed is caught before it is ever called. A larger value saves that round trip and leaves a window of that many milliseconds.',
      },
    },
  },
  guardrails: UPSTREAM_GUARDRAILS_SCHEMA,
  concurrency: {
    type: 'object',
    description: 'Caps the calls in flight to this upstream; further calls wait in a bounded queue, interactive ones first (see priorities).',
    additionalProperties: false,
    required: ['max'],
    properties: {
      max: { type: 'integer', minimum: 1, description: 'Calls in flight at once.' },
      queue: nonNegativeInt(100, 'Calls that may wait for a slot; when the queue is full a call is refused at once (PC_UPSTREAM_BUSY).'),
      queueTimeoutMs: positiveInt(30_000, 'A call that waited this long for a slot is refused (PC_UPSTREAM_BUSY).'),
    },
  },
};

const headers: SchemaNode = {
  type: 'object',
  default: {},
  description: 'Extra HTTP headers sent on every upstream request (e.g. Authorization: "Bearer ${TOKEN}").',
  propertyNames: { pattern: HEADER_NAME_PATTERN },
  additionalProperties: { type: 'string', pattern: HEADER_VALUE_PATTERN },
};

const url = (description: string): SchemaNode => ({ type: 'string', format: 'uri', pattern: '^https?://', description });

const upstreamTls: SchemaNode = {
  type: 'object',
  description: 'Outbound TLS: extra trust anchors and a client certificate. Server certificates are always verified.',
  additionalProperties: false,
  properties: {
    ca: { type: 'string', minLength: 1, description: 'PEM CA bundle that replaces the system roots for this upstream (pins it to a private CA).' },
    cert: { type: 'string', minLength: 1, description: 'PEM client certificate presented to the upstream.' },
    key: { type: 'string', minLength: 1, description: 'PEM private key of the client certificate.' },
    servername: { type: 'string', minLength: 1, description: 'Server name (SNI and verification) when it differs from the URL host.' },
  },
};

const stdioUpstream: SchemaNode = {
  type: 'object',
  title: 'stdio upstream',
  description: 'A local MCP server started as a child process, spoken to over stdin/stdout.',
  additionalProperties: false,
  required: ['transport', 'command'],
  properties: {
    transport: { type: 'string', const: 'stdio', description: 'Start a local process and speak MCP over its stdin/stdout.' },
    command: { type: 'string', minLength: 1, description: 'Program to run (looked up on PATH unless it contains a slash).', examples: ['node', 'npx'] },
    args: { type: 'array', items: { type: 'string' }, default: [], description: 'Arguments passed to the command.' },
    env: {
      type: 'object',
      default: {},
      description: 'Environment for the child. Only these variables (plus PATH and HOME) reach it; use ${VAR} to pass one through.',
      propertyNames: { pattern: ENV_NAME_PATTERN },
      additionalProperties: { type: 'string' },
    },
    cwd: { type: 'string', minLength: 1, description: "Working directory of the child, relative to the config file's folder. Defaults to the gateway's working directory." },
    restart: {
      type: 'object',
      default: {},
      description: 'Restart policy when the child exits unexpectedly (exponential backoff).',
      additionalProperties: false,
      properties: {
        maxRetries: nonNegativeInt(5, 'Consecutive restarts before the upstream is marked unavailable.'),
        initialDelayMs: nonNegativeInt(500, 'Delay before the first restart, doubled after each failure.'),
        maxDelayMs: nonNegativeInt(30_000, 'Upper bound for the restart delay.'),
      },
    },
    sandbox: STDIO_SANDBOX_SCHEMA,
    ...upstreamCommon,
  },
};

const upstreamPrivateNetworks: SchemaNode = {
  type: 'boolean',
  default: false,
  description: 'An internal server: its host name may resolve to loopback or private addresses, and plain http is allowed. Without it, a host name must resolve to public addresses (each connection goes to the address its lookup vetted) and plain http is allowed only to a loopback address (docs/security.md#egress). An upstream named by a literal address is reached at that address.',
};

const upstreamCredentials: SchemaNode = {
  type: 'object',
  description: 'Whose credentials the upstream sees (docs/credentials.md). "service": the static headers. "per-user": the gateway is an OAuth client of the upstream\'s authorization server; each user connects their own account once, and their calls carry only their own token.',
  additionalProperties: false,
  required: ['mode'],
  properties: {
    mode: { type: 'string', enum: ['service', 'per-user', 'token-exchange'], description: 'service: the headers; per-user: each user\'s own OAuth token, connected once in the browser; token-exchange: a token per user from RFC 8693 token exchange of an identity assertion the gateway signs. Both user modes use one upstream connection per user.' },
    oauth: {
      type: 'object',
      description: 'The OAuth client the gateway is at the upstream\'s authorization server (authorization code + PKCE, refresh, RFC 7009 revocation).',
      additionalProperties: false,
      required: ['clientId'],
      properties: {
        issuer: url('The authorization server (RFC 8414 / OpenID discovery). Default: the first one the upstream\'s Protected Resource Metadata names.'),
        clientId: { type: 'string', minLength: 1, description: 'The gateway\'s client ID at that server; its redirect URI is {publicUrl}/credentials/callback.' },
        clientSecret: { type: 'string', minLength: 1, description: 'Confidential client secret; use a ${secret:NAME} reference. Absent: a public client (PKCE only).' },
        scopes: { type: 'array', items: { type: 'string', minLength: 1 }, default: [], description: 'Scopes requested when a user connects.' },
        resource: url('RFC 8707 resource the tokens must be bound to. Default: the upstream URL.'),
        allowPrivateNetworks: { type: 'boolean', default: false, description: 'The authorization server may be on loopback or private addresses and plain http (tests and internal servers).' },
      },
    },
  },
};

const httpUpstream: SchemaNode = {
  type: 'object',
  title: 'http upstream',
  description: 'A remote MCP server reached over Streamable HTTP.',
  additionalProperties: false,
  required: ['transport', 'url'],
  properties: {
    transport: { type: 'string', const: 'http', description: 'Streamable HTTP (the current MCP transport).' },
    url: url('Endpoint URL of the upstream server, e.g. https://mcp.example.com/mcp.'),
    headers,
    tls: upstreamTls,
    allowPrivateNetworks: upstreamPrivateNetworks,
    credentials: upstreamCredentials,
    ...upstreamCommon,
  },
};

const sseUpstream: SchemaNode = {
  type: 'object',
  title: 'sse upstream',
  description: 'A remote MCP server reached over the deprecated HTTP+SSE transport (2024-11-05).',
  additionalProperties: false,
  required: ['transport', 'url'],
  properties: {
    transport: { type: 'string', const: 'sse', description: 'Deprecated HTTP+SSE transport (GET stream + POST endpoint).' },
    url: url('URL of the SSE stream (GET), e.g. https://mcp.example.com/sse.'),
    headers,
    tls: upstreamTls,
    allowPrivateNetworks: upstreamPrivateNetworks,
    credentials: upstreamCredentials,
    ...upstreamCommon,
  },
};

const ruleId: SchemaNode = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$', description: 'Names the rule in errors and logs.' };

const dimensions: SchemaNode = {
  type: 'array',
  items: { type: 'string', enum: ['principal', 'client', 'server', 'tool'] },
  minItems: 1,
  uniqueItems: true,
  default: ['principal'],
  description: 'Counted per distinct combination of these: the principal, its OAuth client, the upstream server, the tool (or prompt or resource).',
};

/** Which requests a limit or priority rule applies to; every given selector must match. */
const selectors: Record<string, SchemaNode> = {
  principals: {
    description: 'Only requests of these principals (as in policy rules); a list: any of them.',
    oneOf: [{ $ref: '#/$defs/principalMatch' }, { type: 'array', items: { $ref: '#/$defs/principalMatch' }, minItems: 1 }],
  },
  servers: { type: 'array', items: { type: 'string', minLength: 1, pattern: '^[^/]+$' }, minItems: 1, description: 'Only requests to these upstreams (globs).' },
  tools: { type: 'array', items: { type: 'string', pattern: '^[^/]+/.+$' }, minItems: 1, description: 'Only calls of these tools ("server/tool" globs).' },
  actions: {
    type: 'array',
    items: { type: 'string', enum: ['call', 'read', 'get', 'complete', 'subscribe', 'list'] },
    minItems: 1,
    uniqueItems: true,
    description: 'Only these uses: call (tools/call), read, get (prompts/get), complete, subscribe, list (the list methods). Default: all but list.',
  },
};

export const CONFIG_SCHEMA: SchemaNode = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: SCHEMA_ID,
  title: 'Portcullis gateway configuration (portcullis.yaml)',
  description: 'Configuration of the Portcullis MCP gateway. String values may use ${VAR} and ${VAR:-default}; write $${ for a literal ${.',
  type: 'object',
  additionalProperties: false,
  properties: {
    server: {
      type: 'object',
      default: {},
      description: 'The HTTP listener that MCP clients connect to.',
      additionalProperties: false,
      properties: {
        host: {
          type: 'string',
          minLength: 1,
          default: '127.0.0.1',
          description: 'Address to bind. Anything beyond loopback (127.0.0.0/8, ::1, localhost) requires an auth mode other than "none".',
        },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080, description: 'TCP port to listen on; 0 picks a free port.' },
        allowedHosts: {
          type: 'array',
          items: { type: 'string', minLength: 1 },
          uniqueItems: true,
          default: [],
          description: 'Extra Host header values accepted besides the loopback names and the bound address (DNS-rebinding protection).',
        },
        allowedOrigins: {
          type: 'array',
          items: { type: 'string', pattern: '^[a-zA-Z][a-zA-Z0-9+.-]*://[^/\\s]+$' },
          uniqueItems: true,
          default: [],
          description: 'Extra Origins accepted, matched exactly (e.g. "https://console.example.com"). Loopback origins are always accepted.',
        },
        dataDir: { type: 'string', minLength: 1, default: './data', description: "Folder for the embedded database and generated keys, relative to the config file's folder." },
        legacySse: { type: 'boolean', default: true, description: 'Also serve the deprecated HTTP+SSE (2024-11-05) endpoints for old clients.' },
        tls: {
          type: 'object',
          description: 'Serve HTTPS (TLS 1.2 or later). Certificate files are re-read when they change.',
          additionalProperties: false,
          required: ['cert', 'key'],
          properties: {
            cert: { type: 'string', minLength: 1, description: "PEM certificate chain, relative to the config file's folder." },
            key: { type: 'string', minLength: 1, description: 'PEM private key.' },
            clientCa: { type: 'string', minLength: 1, description: 'PEM CA bundle client certificates must chain to; enables mutual TLS.' },
            clientCertificates: {
              type: 'string',
              enum: ['none', 'optional', 'required'],
              default: 'none',
              description: '"required": no valid client certificate, no connection; "optional": verified when presented. Needs clientCa.',
            },
            minVersion: { type: 'string', enum: ['TLSv1.2', 'TLSv1.3'], default: 'TLSv1.2', description: 'Oldest TLS version accepted.' },
          },
        },
      },
    },
    limits: {
      type: 'object',
      default: {},
      description: 'Hard limits applied to every client message before it is parsed further.',
      additionalProperties: false,
      properties: {
        maxBodyBytes: positiveInt(4 * MiB, 'Largest request body accepted, in bytes.'),
        maxDepth: positiveInt(64, 'Deepest nesting of JSON objects and arrays accepted.'),
        maxStringLength: positiveInt(MiB, 'Longest JSON string accepted, in characters.'),
        maxArrayLength: positiveInt(10_000, 'Most elements accepted in one JSON array.'),
        maxIdLength: positiveInt(256, 'Longest JSON-RPC id accepted, in characters.'),
        sseBufferBytes: positiveInt(MiB, 'Bytes an SSE stream may buffer for a slow reader before the stream is closed.'),
        maxArgumentBytes: positiveInt(MiB, 'Largest single argument of a tool call or prompt, as JSON in bytes; a larger one is refused before the upstream sees it.'),
        maxResultBytes: positiveInt(16 * MiB, 'Largest result an upstream may return for a call, read or prompt, as JSON in bytes; a larger one is replaced by an error.'),
      },
    },
    sessions: {
      type: 'object',
      default: {},
      description: 'Client sessions (Mcp-Session-Id).',
      additionalProperties: false,
      properties: {
        idleTimeoutSeconds: positiveInt(1800, 'A session without traffic for this long is closed.'),
        max: positiveInt(1000, 'Most concurrent sessions; further initialize requests are refused.'),
        replayEvents: nonNegativeInt(256, 'Events kept per session for Last-Event-ID resumption.'),
      },
    },
    storage: {
      type: 'object',
      default: {},
      description: 'Where state (sessions, audit, keys) is kept.',
      additionalProperties: false,
      properties: {
        driver: { type: 'string', enum: ['sqlite', 'memory', 'postgres', 'redis'], default: 'sqlite', description: '"sqlite": embedded database file (the default); "memory": nothing survives a restart; "postgres" or "redis": shared state for several replicas.' },
        sqlite: {
          type: 'object',
          default: {},
          description: 'Options of the sqlite driver.',
          additionalProperties: false,
          properties: {
            path: { type: 'string', minLength: 1, description: "Database file, relative to the config file's folder. Defaults to <dataDir>/portcullis.db." },
          },
        },
        postgres: {
          type: 'object',
          default: {},
          description: 'Options of the postgres driver.',
          additionalProperties: false,
          properties: {
            connectionString: { type: 'string', minLength: 1, default: 'postgres://127.0.0.1:5432/portcullis', description: 'libpq connection URI, e.g. postgres://user@host:5432/db. Use ${ENV} for passwords.' },
            schema: { type: 'string', pattern: '^[a-z_][a-z0-9_]{0,62}$', default: 'portcullis', description: 'Schema holding the gateway tables (created if absent).' },
          },
        },
        redis: {
          type: 'object',
          default: {},
          description: 'Options of the redis driver (Redis 6.2 or later, single node).',
          additionalProperties: false,
          properties: {
            url: { type: 'string', minLength: 1, default: 'redis://127.0.0.1:6379', description: 'redis:// or rediss:// URL. Use ${ENV} for passwords.' },
            prefix: { type: 'string', default: 'portcullis:', description: 'Prefix of every key the gateway writes.' },
          },
        },
      },
    },
    audit: {
      type: 'object',
      default: {},
      description: 'The tamper-evident audit log: every request, decision and administrative change, hash-chained, with signed checkpoints (docs/audit.md).',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', default: true, description: 'Record every request; a response is sent only once its record is durable.' },
        driver: {
          type: 'string',
          enum: ['storage', 'sqlite', 'postgres'],
          default: 'storage',
          description: '"storage": follow storage.driver (sqlite: audit.db beside the database file; memory: in memory; postgres: tables in its schema; redis is refused, choose sqlite or postgres); "sqlite": audit.db in dataDir; "postgres": tables in storage.postgres.',
        },
        content: {
          type: 'string',
          enum: ['none', 'hashes', 'redacted', 'full'],
          default: 'hashes',
          description: 'What records keep of arguments and results: "hashes" (a SHA-256 digest of their canonical JSON, the default: provable, never readable), "redacted" (the content with secrets and personal data replaced by markers), "full", or "none".',
        },
        checkpointRecords: positiveInt(1000, 'Sign a checkpoint (sequence, head hash, time) after this many records.'),
        checkpointSeconds: positiveInt(60, 'Sign a checkpoint after this many seconds when records were added since the last one.'),
        retentionDays: nonNegativeInt(0, 'Prune records older than this many days, up to the newest checkpoint before the cutoff (which stays as the anchor); 0 keeps everything.'),
        maxRecordBytes: { type: 'integer', minimum: 4096, default: 65_536, description: 'Largest record, as canonical JSON in bytes: content beyond it is replaced by a truncation marker with its digest (the record is always kept).' },
        durability: {
          type: 'string',
          enum: ['power-loss', 'process-crash'],
          default: 'power-loss',
          description: 'What a record survives once its response is sent. "power-loss" (the default): every commit is synced to disk (SQLite synchronous=FULL; PostgreSQL synchronous_commit as the server sets it). "process-crash": commits are written to the operating system (or the database server) without waiting for the sync: a kill -9 of the gateway loses nothing, a power cut (or a crash of the database server) can lose the last batches whole, and what remains still verifies. Cheaper per call (docs/benchmarks.md).',
        },
      },
    },
    auth: {
      type: 'object',
      default: {},
      description: 'How clients authenticate to the gateway (OAuth 2.1 resource server per the MCP authorization spec, mutual TLS).',
      additionalProperties: false,
      properties: {
        mode: {
          type: 'string',
          enum: ['oauth', 'none'],
          default: 'oauth',
          description: '"oauth": every HTTP request carries an access token issued for the endpoint it calls (or a client certificate, with mutual TLS); "none": every caller is one local principal, accepted only when server.host is a loopback address.',
        },
        publicUrl: {
          type: 'string',
          format: 'uri',
          pattern: '^https?://[^/?#]+$',
          description: 'Base URL clients use to reach the gateway (scheme://host[:port], no path). Token audiences (RFC 8707) and the built-in issuer derive from it. Defaults to the bound address.',
          examples: ['https://mcp.example.com'],
        },
        requiredScopes: {
          type: 'array',
          items: { type: 'string', pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' },
          uniqueItems: true,
          default: ['mcp'],
          description: 'Scopes every access token must carry; a token without them is answered 403 insufficient_scope so the client can step up.',
        },
        clockSkewSeconds: { type: 'integer', minimum: 0, maximum: 300, default: 30, description: 'Tolerance for the exp, nbf and iat claims.' },
        builtin: {
          type: 'object',
          default: {},
          description: 'The built-in authorization server at /oauth: local accounts (portcullis user add), optional federated login, tokens for one endpoint each.',
          additionalProperties: false,
          properties: {
            enabled: { type: 'boolean', default: true, description: 'Serve the built-in authorization server and accept its tokens.' },
            accessTokenTtlSeconds: { type: 'integer', minimum: 30, maximum: 3600, default: 300, description: 'Lifetime of access tokens.' },
            refreshTokenTtlSeconds: { type: 'integer', minimum: 60, maximum: 7_776_000, default: 1_209_600, description: 'Lifetime of a refresh token (each use rotates it).' },
            keyRotationDays: { type: 'integer', minimum: 1, maximum: 365, default: 30, description: 'Days after which a new token signing key is made; the previous one stays published until its tokens have expired.' },
            scopes: {
              type: 'array',
              items: { type: 'string', pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$' },
              uniqueItems: true,
              default: ['mcp', 'offline_access'],
              description: 'Scopes the authorization server offers.',
            },
            dynamicRegistration: { type: 'boolean', default: true, description: 'Allow OAuth dynamic client registration (RFC 7591).' },
            clientIdMetadataDocuments: {
              type: 'object',
              default: {},
              description: 'Clients identified by the https URL of their metadata document (the MCP default way to register).',
              additionalProperties: false,
              properties: {
                enabled: { type: 'boolean', default: true, description: 'Accept client ID metadata documents.' },
                allowedHosts: {
                  type: 'array',
                  items: { type: 'string', pattern: '^(\\*\\.)?[a-zA-Z0-9.-]+(:[0-9]+)?$' },
                  default: [],
                  description: 'Hosts whose documents are trusted, exactly or as "*.example.com"; empty trusts any public host.',
                },
                allowPrivateNetworks: { type: 'boolean', default: false, description: 'Also fetch documents from loopback and private addresses, and over plain http. For development and tests only.' },
                cacheSeconds: { type: 'integer', minimum: 0, maximum: 86_400, default: 300, description: 'How long a fetched document is reused.' },
              },
            },
            clients: {
              type: 'array',
              default: [],
              description: 'Pre-registered OAuth clients.',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['clientId', 'redirectUris'],
                properties: {
                  clientId: { type: 'string', minLength: 1, maxLength: 200, description: 'The client identifier.' },
                  clientName: { type: 'string', maxLength: 200, description: 'Shown on the consent page.' },
                  redirectUris: { type: 'array', items: { type: 'string', format: 'uri' }, minItems: 1, description: 'Exact redirect URIs (loopback ports may vary, RFC 8252).' },
                  clientSecret: { type: 'string', minLength: 32, description: 'Makes the client confidential. Use ${ENV}; public clients (most MCP hosts) have none.' },
                },
              },
            },
            loginRateLimit: {
              type: 'object',
              default: {},
              description: 'Failed sign-ins allowed per account and per client address before sign-in is paused.',
              additionalProperties: false,
              properties: {
                maxAttempts: positiveInt(5, 'Failed attempts allowed within the window.'),
                windowSeconds: positiveInt(300, 'Length of the window.'),
              },
            },
            federation: {
              type: 'array',
              default: [],
              description: 'Sign-in through an upstream OpenID Connect provider, offered on the login page.',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['name', 'issuer', 'clientId'],
                properties: {
                  name: { type: 'string', pattern: '^[a-z0-9-]{1,32}$', description: 'Short id, used in URLs.' },
                  displayName: { type: 'string', maxLength: 80, description: 'Button label on the login page.' },
                  issuer: url('Issuer URL of the provider (its discovery document is fetched).'),
                  clientId: { type: 'string', minLength: 1, description: 'Client id registered at the provider.' },
                  clientSecret: { type: 'string', minLength: 1, description: 'Client secret at the provider (use ${ENV}).' },
                  scopes: { type: 'array', items: { type: 'string' }, default: ['openid', 'profile', 'email'], description: 'Scopes requested from the provider.' },
                  groupsClaim: { type: 'string', default: 'groups', description: 'ID-token claim listing the user\'s groups.' },
                  allowPrivateNetworks: { type: 'boolean', default: false, description: 'Allow a provider on loopback or private addresses (development and tests only).' },
                },
              },
            },
          },
        },
        issuers: {
          type: 'array',
          default: [],
          description: 'External identity providers whose access tokens are accepted (Keycloak, Entra ID, Okta, Auth0, Google…).',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['issuer'],
            properties: {
              issuer: url('Issuer identifier, exactly as in the tokens\' iss claim.'),
              jwksUri: url('JWKS URL; defaults to jwks_uri from the issuer\'s discovery document.'),
              audience: { type: 'string', minLength: 1, description: 'Accept this audience instead of the endpoint\'s canonical URI. Only for providers that cannot issue resource-bound tokens (RFC 8707).' },
              algorithms: {
                type: 'array',
                items: { type: 'string', enum: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] },
                minItems: 1,
                default: ['RS256', 'PS256', 'ES256', 'EdDSA'],
                description: 'Signature algorithms accepted (asymmetric only).',
              },
              claims: {
                type: 'object',
                default: {},
                description: 'Where the principal\'s facts are in the token (dotted paths, e.g. realm_access.roles).',
                additionalProperties: false,
                properties: {
                  subject: { type: 'string', default: 'sub', description: 'Subject claim.' },
                  scopes: { type: 'string', default: 'scope', description: 'Scopes claim (space-separated string or array).' },
                  roles: { type: 'string', default: 'roles', description: 'Roles claim.' },
                  groups: { type: 'string', default: 'groups', description: 'Groups claim.' },
                  clientId: { type: 'string', default: 'client_id', description: 'Client id claim (azp for some providers).' },
                  tenant: { type: 'string', description: 'Tenant claim (e.g. tid).' },
                },
              },
              allowPrivateNetworks: { type: 'boolean', default: false, description: 'Allow an issuer on loopback or private addresses, and plain http (development and tests only).' },
            },
          },
        },
        mtls: {
          type: 'object',
          default: {},
          description: 'Client certificates (needs server.tls.clientCa).',
          additionalProperties: false,
          properties: {
            principalFrom: {
              type: 'string',
              enum: ['san-uri', 'san-dns', 'san-email', 'subject-cn'],
              default: 'san-uri',
              description: 'Certificate field naming the principal when a client authenticates with a certificate alone.',
            },
            roles: { type: 'array', items: { type: 'string' }, default: [], description: 'Roles given to certificate-authenticated principals.' },
            requireBoundTokens: { type: 'boolean', default: false, description: 'RFC 8705: refuse an access token not bound (cnf x5t#S256) to the client certificate it arrives with.' },
          },
        },
      },
    },
    upstreams: {
      type: 'object',
      default: {},
      description: 'MCP servers the gateway fronts, by name.',
      propertyNames: { pattern: NAME_PATTERN },
      additionalProperties: {
        type: 'object',
        description: 'One upstream MCP server; "transport" selects the kind.',
        required: ['transport'],
        properties: { transport: { type: 'string', enum: ['stdio', 'http', 'sse'], description: 'How the gateway reaches this server.' } },
        discriminator: { propertyName: 'transport' },
        oneOf: [{ $ref: '#/$defs/stdioUpstream' }, { $ref: '#/$defs/httpUpstream' }, { $ref: '#/$defs/sseUpstream' }],
      },
    },
    virtualServers: {
      type: 'object',
      default: {},
      description: 'Virtual servers, by name: each aggregates several upstreams behind one endpoint, tools named {upstream}__{tool}.',
      propertyNames: { pattern: NAME_PATTERN },
      additionalProperties: {
        type: 'object',
        description: 'One virtual server.',
        additionalProperties: false,
        required: ['upstreams'],
        properties: {
          upstreams: {
            type: 'array',
            items: { type: 'string' },
            minItems: 1,
            uniqueItems: true,
            description: 'Names of the upstreams this virtual server aggregates.',
          },
          description: { type: 'string', description: 'Free text shown in listings and the console.' },
        },
      },
    },
    attestation: {
      type: 'object',
      default: {},
      description: 'Verifiability (docs/attestation.md): a signed document at /.well-known/mcp-attestation with the measurement of the code, configuration and pinned definitions, the identity key, the TLS key and the served tools; in a TEE with the hardware quote. Public by design: it carries hashes and a public key, nothing secret.',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', default: true, description: 'Serve the attestation document (and name it in server/discover). On by default so a client can check the gateway before it sends anything.' },
        provider: {
          type: 'string',
          enum: ['auto', 'configfs-tsm', 'dstack', 'none'],
          default: 'auto',
          description: 'Where hardware quotes come from. "auto": the dstack guest agent socket, else Linux configfs-tsm (TDX, SEV-SNP), else none (software mode, said plainly in the document). A named provider that is not available fails the start.',
        },
        dstackSocket: { type: 'string', minLength: 1, default: '/var/run/dstack.sock', description: 'The dstack guest agent socket.' },
        expect: {
          type: 'object',
          default: {},
          description: 'What `portcullis attest verify --config` expects of a gateway (flags override these).',
          additionalProperties: false,
          properties: {
            measurement: { type: 'string', pattern: '^[0-9a-fA-F]{64}$', description: 'The measurement `portcullis measure` prints for the build and configuration you audited.' },
            mrtd: { type: 'string', pattern: '^[0-9a-fA-F]{96}$', description: 'TDX: the expected MRTD (hex, 48 bytes): the initial memory of the confidential VM.' },
            rtmr0: { type: 'string', pattern: '^[0-9a-fA-F]{96}$', description: 'TDX: the expected RTMR0 (hex, 48 bytes).' },
            rtmr1: { type: 'string', pattern: '^[0-9a-fA-F]{96}$', description: 'TDX: the expected RTMR1 (hex, 48 bytes).' },
            rtmr2: { type: 'string', pattern: '^[0-9a-fA-F]{96}$', description: 'TDX: the expected RTMR2 (hex, 48 bytes).' },
            rtmr3: { type: 'string', pattern: '^[0-9a-fA-F]{96}$', description: 'TDX: the expected RTMR3 (hex, 48 bytes; dstack measures the app compose file here).' },
            acceptTcbStatus: {
              type: 'array',
              items: { type: 'string', enum: ['UpToDate', 'SWHardeningNeeded', 'ConfigurationNeeded', 'ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded'] },
              uniqueItems: true,
              default: ['UpToDate'],
              description: 'TCB statuses of a quote accepted as good enough. Revoked is never accepted.',
            },
          },
        },
      },
    },
    vault: {
      type: 'object',
      default: {},
      description: 'The encrypted credential vault that ${secret:NAME} references read (docs/vault.md). Manage it with "portcullis vault". PORTCULLIS_VAULT_KEY (32 bytes, base64), when set, is the key instead of the key file.',
      additionalProperties: false,
      properties: {
        keyFile: { type: 'string', minLength: 1, description: "The keyring of key-encryption keys (mode 0600), relative to the config file's folder. Defaults to <dataDir>/vault.key." },
      },
    },
    logging: {
      type: 'object',
      default: {},
      description: 'Structured logs (JSON on stderr). PORTCULLIS_LOG_LEVEL overrides the level.',
      additionalProperties: false,
      properties: {
        level: {
          type: 'string',
          enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
          default: 'info',
          description: 'Least severe level written.',
        },
      },
    },
    policy: {
      ...POLICY_SCHEMA,
      description: 'Who may see and use which servers, tools, resources and prompts (docs/policy.md). Everything not allowed is denied; without this section nothing is allowed.',
    },
    rateLimits: {
      type: 'array',
      default: [],
      description: 'Token-bucket rate limits and concurrency limits (docs/policy.md#rate-limits-quotas-and-priorities). Every rule that applies to a request must admit it; refusals are HTTP 429 with Retry-After (a JSON-RPC error on stdio).',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          id: ruleId,
          per: dimensions,
          requests: { type: 'integer', minimum: 1, description: 'Requests allowed per perSeconds, refilled continuously.' },
          perSeconds: { type: 'integer', minimum: 1, maximum: 86_400, default: 1, description: 'The period of requests.' },
          burst: { type: 'integer', minimum: 1, description: 'Requests that may come at once after a quiet period (the bucket size). Default: requests.' },
          concurrency: { type: 'integer', minimum: 1, description: 'Requests in flight at once.' },
          ...selectors,
        },
      },
    },
    quotas: {
      type: 'array',
      default: [],
      description: 'Daily and monthly request quotas, kept in storage so they survive restarts. A request beyond a quota is refused with HTTP 429 until the period ends.',
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          id: { ...ruleId, description: 'Stable id: the counters are stored under it (default: a digest of per and the selectors).' },
          per: dimensions,
          daily: { type: 'integer', minimum: 1, description: 'Requests per calendar day.' },
          monthly: { type: 'integer', minimum: 1, description: 'Requests per calendar month.' },
          timezone: { type: 'string', minLength: 1, default: 'UTC', description: 'IANA time zone in which days and months begin.' },
          ...selectors,
        },
      },
    },
    priorities: {
      type: 'array',
      default: [],
      description: 'Priority classes: when an upstream is saturated (upstreams.<name>.concurrency), interactive calls are served before bulk ones. The first matching rule gives the class; default interactive. A client may lower its own request to bulk with _meta["dev.portcullis/priority"].',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['class'],
        properties: {
          class: { type: 'string', enum: ['interactive', 'bulk'], description: 'The class of matching requests.' },
          ...selectors,
        },
      },
    },
    guardrails: GUARDRAILS_SCHEMA,
    approvals: APPROVALS_SCHEMA,
    egress: EGRESS_SCHEMA,
    monitoring: MONITORING_SCHEMA,
    console: CONSOLE_SCHEMA,
    sandbox: SANDBOX_SCHEMA,
  },
  $defs: { stdioUpstream, httpUpstream, sseUpstream, principalMatch: PRINCIPAL_MATCH_SCHEMA },
};

/** The published form (portcullis.schema.json), also written next to a starter config so its modeline resolves. */
export function schemaJson(): string {
  return JSON.stringify(CONFIG_SCHEMA, null, 2) + '\n';
}
