/**
 * The `guardrails:` key of portcullis.yaml (and `upstreams.<name>.guardrails`): its TypeScript types and JSON
 * Schema fragments. The top-level section has defaults; a server's section has none, so whatever it leaves out is
 * inherited from the top level (src/guardrails/resolve.ts merges the two).
 */
import type { SchemaNode } from '../config/schema.js';
import { CONTENT_DETECTORS } from '../integrity/detectors/index.js';

/** What happens to a finding of one category in a result on its way to the client. */
export type ResultAction = 'redact' | 'block' | 'warn' | 'off';
/** Prompt injection in a result: annotate it as untrusted, fence it in, withhold it, or only log it. */
export type InjectionAction = 'flag' | 'wrap' | 'block' | 'warn' | 'off';
/** What happens to a finding in outbound arguments. */
export type ArgumentAction = 'redact' | 'block' | 'warn' | 'off';
/** What a tainted session's call to a sink gets. */
export type TaintAction = 'approval' | 'deny' | 'warn' | 'off';

export interface ResultGuardrailsConfig {
  secrets: ResultAction;
  personalData: ResultAction;
  injection: InjectionAction;
}

export interface ArgumentGuardrailsConfig {
  secrets: ArgumentAction;
  personalData: ArgumentAction;
}

export interface TaintConfig {
  action: TaintAction;
  /** "server/tool" globs of tools that send data out, besides those the annotations below make sinks. */
  sinks: string[];
  /** Tools carrying one of these configured tags are sinks too. */
  sinkTags: string[];
  /** "server/tool" globs whose results are untrusted whatever a scan finds (e.g. a web fetcher). */
  untrustedSources: string[];
  /** Tools that may reach the outside world (openWorldHint not false, the MCP default) are sinks. */
  openWorld: boolean;
  /** Tools that may be destructive (not read-only, destructiveHint not false, the MCP default) are sinks. */
  destructive: boolean;
  /** How long a session stays tainted. */
  ttlSeconds: number;
}

export interface CustomGuardrailConfig {
  /** Names the guardrail in findings, logs and the audit log. */
  name: string;
  /** An ES module (path relative to the config file, or a package name) exporting `createGuardrail(options)`. */
  module: string;
  options: Record<string, unknown>;
  /** What it inspects: results, arguments, server-to-client requests (sampling, elicitation; opt-in, added later). */
  on: ('results' | 'arguments' | 'serverRequests')[];
  /** The action for findings that name none. */
  action: 'block' | 'redact' | 'flag' | 'wrap' | 'warn';
  /** Overrides guardrails.failClosed for this guardrail. */
  failClosed?: boolean;
  /** Overrides guardrails.timeoutMs for this guardrail. */
  timeoutMs?: number;
}

export interface GuardrailsConfig {
  results: ResultGuardrailsConfig;
  arguments: ArgumentGuardrailsConfig;
  /** Content detector id → on/off. e-mail addresses and phone numbers are off unless switched on. */
  detectors: Record<string, boolean>;
  taint: TaintConfig;
  custom: CustomGuardrailConfig[];
  /** A guardrail that throws or exceeds its time withholds the result or refuses the call (else: logged, passed). */
  failClosed: boolean;
  timeoutMs: number;
}

/** A server's own settings; anything left out comes from the top-level section. */
export interface UpstreamGuardrailsConfig {
  results?: Partial<ResultGuardrailsConfig>;
  arguments?: Partial<ArgumentGuardrailsConfig>;
  detectors?: Record<string, boolean>;
  /** Every result of this server taints the session as untrusted (its content comes from outside). */
  untrusted?: boolean;
}

/** Detectors that are off unless configuration switches them on: honest results are full of them. */
export const DETECTORS_OFF_BY_DEFAULT: Readonly<Record<string, boolean>> = { 'email-address': false, 'phone-number': false };

const RESULT_ACTIONS = ['redact', 'block', 'warn', 'off'] as const;
const INJECTION_ACTIONS = ['flag', 'wrap', 'block', 'warn', 'off'] as const;
const ARGUMENT_ACTIONS = ['redact', 'block', 'warn', 'off'] as const;

const TOOL_GLOB = '^[^/]+/.+$';

function action(values: readonly string[], def: string | undefined, description: string): SchemaNode {
  return { type: 'string', enum: values, ...(def !== undefined && { default: def }), description };
}

function resultsSchema(defaults: boolean): SchemaNode {
  const d = (v: string) => (defaults ? v : undefined);
  return {
    type: 'object',
    ...(defaults && { default: {} }),
    additionalProperties: false,
    description: 'Tool results, resource contents and prompt messages on their way to the client, and the sampling and elicitation requests upstreams send it ("block" refuses such a request: the upstream gets an error).',
    properties: {
      secrets: action(RESULT_ACTIONS, d('redact'), 'Private keys, cloud keys, tokens, JWTs, passwords in URLs: "redact" replaces each with a visible [REDACTED:rule] marker, "block" withholds the result, "warn" only logs.'),
      personalData: action(RESULT_ACTIONS, d('redact'), 'Payment cards (Luhn-checked), IBANs (mod-97), and e-mail addresses and phone numbers where their detectors are on.'),
      injection: action(INJECTION_ACTIONS, d('flag'), 'Indirect prompt injection: "flag" marks the content block untrusted in _meta["dev.portcullis/untrusted"], "wrap" also fences its text between untrusted-content markers, "block" withholds the result.'),
    },
  };
}

function argumentsSchema(defaults: boolean): SchemaNode {
  const d = (v: string) => (defaults ? v : undefined);
  return {
    type: 'object',
    ...(defaults && { default: {} }),
    additionalProperties: false,
    description: 'Outbound tool and prompt arguments (data leaving through a tool).',
    properties: {
      secrets: action(ARGUMENT_ACTIONS, d('block'), 'Secrets in arguments: "block" refuses the call (PC_GUARDRAIL_BLOCKED), "redact" forwards the arguments with markers, "warn" only logs.'),
      personalData: action(ARGUMENT_ACTIONS, d('warn'), 'Personal data in arguments.'),
    },
  };
}

const detectorsSchema: SchemaNode = {
  type: 'object',
  description: 'Content detectors switched on (true) or off (false) by id; docs/guardrails.md lists them. email-address and phone-number are off by default.',
  propertyNames: { enum: CONTENT_DETECTORS.map((d) => d.id) },
  additionalProperties: { type: 'boolean' },
};

export const GUARDRAILS_SCHEMA: SchemaNode = {
  type: 'object',
  default: {},
  additionalProperties: false,
  description: 'Content guardrails: secrets, personal data and prompt injection in results and arguments, taint tracking of toxic flows, and operator-supplied guardrails (docs/guardrails.md#content-guardrails). A configuration reload applies every setting here except custom.',
  properties: {
    results: resultsSchema(true),
    arguments: argumentsSchema(true),
    detectors: { ...detectorsSchema, default: {} },
    taint: {
      type: 'object',
      default: {},
      additionalProperties: false,
      description: 'Once a session has received untrusted content (prompt injection let through, a result of an untrusted source) or sensitive content (secrets or personal data let through), calls to sinks get this action. Policy conditions see the taint as context.taint (docs/policy.md).',
      properties: {
        action: action(['approval', 'deny', 'warn', 'off'], 'approval', '"approval": the call needs a human approval; "deny": refused (PC_GUARDRAIL_BLOCKED); "warn": logged.'),
        sinks: { type: 'array', default: [], items: { type: 'string', pattern: TOOL_GLOB }, description: '"server/tool" globs of tools that send data out.' },
        sinkTags: { type: 'array', default: [], items: { type: 'string', minLength: 1 }, description: 'Tools with one of these configured tags are sinks.' },
        untrustedSources: { type: 'array', default: [], items: { type: 'string', pattern: TOOL_GLOB }, description: '"server/tool" globs whose results always taint the session as untrusted.' },
        openWorld: { type: 'boolean', default: true, description: 'Tools that may reach the outside world (openWorldHint not false; absent means true in MCP) are sinks.' },
        destructive: { type: 'boolean', default: true, description: 'Tools that may be destructive (readOnlyHint not true and destructiveHint not false; the MCP defaults) are sinks.' },
        ttlSeconds: { type: 'integer', minimum: 1, maximum: 2_592_000, default: 86_400, description: 'How long a session (or, without sessions, a principal and client) stays tainted; a reload\'s new value applies to marks made after it.' },
      },
    },
    custom: {
      type: 'array',
      default: [],
      description: 'Your own guardrails: ES modules exporting createGuardrail(options) (docs/guardrails.md#writing-a-guardrail). Loaded at start: a change takes effect after a restart (a reload reports it).',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'module'],
        properties: {
          name: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,62}$', description: 'Names the guardrail in findings and logs.' },
          module: { type: 'string', minLength: 1, description: 'Path (relative to the config file) or package name of the module.' },
          options: { type: 'object', default: {}, description: 'Passed to createGuardrail.' },
          on: { type: 'array', items: { type: 'string', enum: ['results', 'arguments', 'serverRequests'] }, minItems: 1, uniqueItems: true, default: ['results', 'arguments'], description: 'What it inspects: results, arguments, and (only when listed) serverRequests, the sampling and elicitation requests upstreams send the client.' },
          action: action(['block', 'redact', 'flag', 'wrap', 'warn'], 'block', 'The action for findings that name none.'),
          failClosed: { type: 'boolean', description: 'Overrides guardrails.failClosed.' },
          timeoutMs: { type: 'integer', minimum: 1, maximum: 60_000, description: 'Overrides guardrails.timeoutMs.' },
        },
      },
    },
    failClosed: { type: 'boolean', default: true, description: 'A guardrail that throws or runs out of time withholds the result or refuses the call; false: the failure is logged and the content passes unchecked.' },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 60_000, default: 1000, description: 'Time a guardrail may take per message.' },
  },
};

export const UPSTREAM_GUARDRAILS_SCHEMA: SchemaNode = {
  type: 'object',
  additionalProperties: false,
  description: 'This server\'s content guardrails; what is left out comes from the top-level guardrails section.',
  properties: {
    results: resultsSchema(false),
    arguments: argumentsSchema(false),
    detectors: detectorsSchema,
    untrusted: { type: 'boolean', description: 'Every result of this server taints the session as untrusted (its content comes from outside, e.g. a web fetcher or an inbox).' },
  },
};
