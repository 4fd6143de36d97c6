/**
 * JSON Schema (draft 2020-12) for portcullis.yaml: the single source of truth for what a config file may contain.
 * The published portcullis.schema.json and docs/configuration.md are generated from this object
 * (scripts/gen-schema.ts, scripts/gen-config-docs.ts); tests fail when either is stale.
 * Every object is closed (additionalProperties: false) so typos surface as "unknown key" errors.
 */

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
};

const headers: SchemaNode = {
  type: 'object',
  default: {},
  description: 'Extra HTTP headers sent on every upstream request (e.g. Authorization: "Bearer ${TOKEN}").',
  propertyNames: { pattern: HEADER_NAME_PATTERN },
  additionalProperties: { type: 'string', pattern: HEADER_VALUE_PATTERN },
};

const url = (description: string): SchemaNode => ({ type: 'string', format: 'uri', pattern: '^https?://', description });

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
    ...upstreamCommon,
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
    ...upstreamCommon,
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
    auth: {
      type: 'object',
      default: {},
      description: 'How clients authenticate to the gateway.',
      additionalProperties: false,
      properties: {
        mode: { type: 'string', enum: ['none'], default: 'none', description: '"none" is accepted only when server.host is a loopback address.' },
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
  },
  $defs: { stdioUpstream, httpUpstream, sseUpstream },
};

/** The published form (portcullis.schema.json), also written next to a starter config so its modeline resolves. */
export function schemaJson(): string {
  return JSON.stringify(CONFIG_SCHEMA, null, 2) + '\n';
}
