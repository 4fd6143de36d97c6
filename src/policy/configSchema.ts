/**
 * The `policy:` key of portcullis.yaml: its TypeScript types and its JSON Schema (draft 2020-12) fragment.
 * The schema is self-contained (no $ref), so it can be placed under `properties.policy` of the config schema as is.
 * Every object is closed (additionalProperties: false): a misspelt key is an error, never an ignored rule.
 * The schema checks shape only; meaning (CEL type checking, unknown servers, bad regexes) is checked by compilePolicy.
 */
import type { SchemaNode } from '../config/schema.js';
import { EFFECTS, RULE_ACTIONS, type Effect, type RuleAction } from './types.js';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

export interface PolicyDocument {
  version?: 1;
  /** Friendly layer: what each role may use. Compiled to rules with ids like `roles.analyst.allow[0]`. */
  roles?: Record<string, RoleSpec>;
  /** Full rules, each with its principals, target, conditions and effect. */
  rules?: RuleSpec[];
}

export interface RoleSpec {
  description?: string;
  /** The role's allow and approval grants only reach tools annotated readOnlyHint: true. */
  readOnly?: boolean;
  allow?: GrantSpec[];
  deny?: GrantSpec[];
  approval?: GrantSpec[];
}

/** Who a rule is for: every listed field must match; within a field, any listed value. */
export interface PrincipalMatchSpec {
  subjects?: string[];
  issuers?: string[];
  clients?: string[];
  roles?: string[];
  groups?: string[];
  scopes?: string[];
  tenants?: string[];
  methods?: ('local' | 'bearer' | 'mtls')[];
}

/** Constraints on one argument. All given constraints must hold; a missing argument fails unless optional. */
export interface ArgConstraintSpec {
  type?: 'string' | 'number' | 'integer' | 'boolean' | 'array' | 'object';
  equals?: unknown;
  /** Must equal `principal.attributes.<claim>` (dotted path); fails when the principal has no such claim. */
  claim?: string;
  enum?: unknown[];
  /** Anchored regular expression the whole string must match. */
  pattern?: string;
  min?: number;
  max?: number;
  minLength?: number;
  maxLength?: number;
  /** An absolute path (or every path of a list) that must stay under one of these roots; `..`, `~`, NUL and %-escapes refused. */
  under?: string | string[];
  optional?: boolean;
}

export interface TimeWindowSpec {
  days?: Weekday[];
  /** "08:00-18:00"; a window that wraps midnight ("22:00-06:00") is allowed. */
  hours?: string;
  /** IANA time zone; UTC by default. */
  timezone?: string;
}

/** What a rule applies to, and the conditions under which it does. */
export interface GrantSpec {
  id?: string;
  description?: string;
  /** Whole servers (glob). */
  servers?: string[];
  /** "server/tool" globs, e.g. "filesystem/read_*"; "*" in the server part matches every server. */
  tools?: string[];
  /** "server/uri" globs; in the URI part `*` stays within a path segment and `**` crosses segments. */
  resources?: string[];
  /** "server/prompt" globs. */
  prompts?: string[];
  actions?: RuleAction[];
  /** Only tools annotated readOnlyHint: true (other kinds are unaffected). */
  readOnly?: boolean;
  /** Only tools that may be destructive (not read-only, destructiveHint not false); limits the rule to tools. */
  destructive?: boolean;
  /** Only items carrying at least one of these configured tags. */
  tags?: string[];
  args?: Record<string, ArgConstraintSpec>;
  time?: TimeWindowSpec;
  /** A CEL condition over principal, action, resource, args and context. */
  when?: string;
}

/** How an approval rule's approvals are given (defaults: the top-level `approvals` section). */
export interface ApprovalSpec {
  /** Distinct approvers needed. */
  required?: number;
  /** The approver must not be the caller. */
  fourEyes?: boolean;
  /** Roles any of which makes a principal an approver of this rule's calls. */
  approverRoles?: string[];
  /** Undecided this long: denied. */
  timeoutSeconds?: number;
}

export interface RuleSpec extends GrantSpec {
  effect: Effect;
  /** Only with effect approval: who approves, how many, how long. */
  approval?: ApprovalSpec;
  /** Omitted: every principal. A list: any of the matchers. */
  principals?: PrincipalMatchSpec | PrincipalMatchSpec[];
}

const strings = (description: string, pattern?: string): SchemaNode => ({
  type: 'array',
  description,
  items: pattern ? { type: 'string', minLength: 1, pattern } : { type: 'string', minLength: 1 },
  minItems: 1,
});

export const RULE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';

export const PRINCIPAL_MATCH_SCHEMA: SchemaNode = {
  type: 'object',
  description: 'Every listed field must match the principal; within a field, any listed value.',
  additionalProperties: false,
  properties: {
    subjects: strings('Principal subjects (exact).'),
    issuers: strings('Token issuers (exact).'),
    clients: strings('OAuth client ids (exact).'),
    roles: strings('Any of these roles.'),
    groups: strings('Any of these groups.'),
    scopes: strings('Any of these scopes.'),
    tenants: strings('Any of these tenants.'),
    methods: { type: 'array', description: 'How the principal authenticated.', items: { type: 'string', enum: ['local', 'bearer', 'mtls'] }, minItems: 1 },
  },
};

const argConstraint: SchemaNode = {
  type: 'object',
  description: 'Constraints on one argument; all must hold. A missing argument fails unless optional: true.',
  additionalProperties: false,
  properties: {
    type: { type: 'string', enum: ['string', 'number', 'integer', 'boolean', 'array', 'object'], description: 'JSON type of the value.' },
    equals: { description: 'The value must equal this (deep equality).' },
    claim: { type: 'string', minLength: 1, description: 'The value must equal principal.attributes.<claim> (dotted path).' },
    enum: { type: 'array', minItems: 1, description: 'The value must be one of these.' },
    pattern: { type: 'string', minLength: 1, description: 'Regular expression the whole string must match (anchored).' },
    min: { type: 'number', description: 'Smallest allowed number.' },
    max: { type: 'number', description: 'Largest allowed number.' },
    minLength: { type: 'integer', minimum: 0, description: 'Shortest string (or list).' },
    maxLength: { type: 'integer', minimum: 0, description: 'Longest string (or list).' },
    under: {
      description: 'The absolute path (or every path in a list) must be one of these roots or below it. ".." segments, "~", NUL, backslashes and %-escapes are refused.',
      oneOf: [
        { type: 'string', minLength: 1 },
        { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
      ],
    },
    optional: { type: 'boolean', description: 'A missing argument satisfies the constraints.' },
  },
};

const timeWindow: SchemaNode = {
  type: 'object',
  description: 'When the rule applies.',
  additionalProperties: false,
  properties: {
    days: { type: 'array', items: { type: 'string', enum: [...WEEKDAYS] }, minItems: 1, uniqueItems: true, description: 'Days of the week.' },
    hours: {
      type: 'string',
      pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-4]):[0-5][0-9]$',
      description: '"HH:MM-HH:MM", start inclusive, end exclusive; may wrap midnight.',
    },
    timezone: { type: 'string', minLength: 1, description: 'IANA time zone, e.g. "Europe/Paris". Default UTC.' },
  },
};

const grantProperties: Record<string, SchemaNode> = {
  id: { type: 'string', pattern: RULE_ID_PATTERN, description: 'Stable id, shown in decisions and audit records.' },
  description: { type: 'string', description: 'Why the rule exists; shown as the decision reason.' },
  servers: strings('Whole servers (glob, "*" matches any name).', '^[^/]+$'),
  tools: strings('"server/tool" globs.', '^[^/]+/.+$'),
  resources: strings('"server/uri" globs; in the URI "*" stays within a segment, "**" crosses segments.', '^[^/]+/.+$'),
  prompts: strings('"server/prompt" globs.', '^[^/]+/.+$'),
  actions: {
    type: 'array',
    items: { type: 'string', enum: [...RULE_ACTIONS] },
    minItems: 1,
    uniqueItems: true,
    description: 'Limit the rule to these actions. Default: every action of the kinds targeted.',
  },
  readOnly: { type: 'boolean', description: 'Tools must be annotated readOnlyHint: true.' },
  destructive: { type: 'boolean', description: 'Only tools that may be destructive.' },
  tags: strings('Items with any of these configured tags.'),
  args: { type: 'object', description: 'Argument name → constraints.', additionalProperties: argConstraint },
  time: timeWindow,
  when: { type: 'string', minLength: 1, description: 'CEL condition (bool) over principal, action, resource, args, context.' },
};

const grant: SchemaNode = { type: 'object', additionalProperties: false, properties: grantProperties };

const rule: SchemaNode = {
  type: 'object',
  additionalProperties: false,
  required: ['effect'],
  properties: {
    ...grantProperties,
    effect: { type: 'string', enum: [...EFFECTS], description: 'allow, deny, or approval (allowed calls need a human approval).' },
    approval: {
      type: 'object',
      additionalProperties: false,
      description: 'Only for effect approval: how the approval is given (defaults from the top-level approvals section).',
      properties: {
        required: { type: 'integer', minimum: 1, maximum: 10, description: 'Distinct approvers needed.' },
        fourEyes: { type: 'boolean', description: 'The approver must not be the caller.' },
        approverRoles: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, description: 'Roles that make a principal an approver of these calls.' },
        timeoutSeconds: { type: 'integer', minimum: 1, maximum: 604_800, description: 'Undecided this long: the call is denied.' },
      },
    },
    principals: {
      description: 'Who the rule is for. Omitted: everyone. A list: any of the matchers.',
      oneOf: [PRINCIPAL_MATCH_SCHEMA, { type: 'array', items: PRINCIPAL_MATCH_SCHEMA, minItems: 1 }],
    },
  },
};

const grants = (description: string): SchemaNode => ({ type: 'array', items: grant, description });

export const POLICY_SCHEMA: SchemaNode = {
  type: 'object',
  title: 'Policy',
  description: 'Who may see and use which servers, tools, resources and prompts. Everything not allowed is denied.',
  additionalProperties: false,
  properties: {
    version: { type: 'integer', minimum: 1, maximum: 1, default: 1, description: 'Policy language version.' },
    roles: {
      type: 'object',
      description: 'Role name → what principals with that role may use.',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          description: { type: 'string' },
          readOnly: { type: 'boolean', description: "The role's allow and approval grants only reach read-only tools." },
          allow: grants('What the role may use.'),
          deny: grants('What the role may never use, whatever else allows it.'),
          approval: grants('What the role may use only with approval (something must also allow it).'),
        },
      },
    },
    rules: { type: 'array', items: rule, description: 'Rules in full form.' },
  },
};

/** The schema as published (with $schema), for editors and for validating a policy file on its own. */
export const POLICY_SCHEMA_DOCUMENT: SchemaNode = { $schema: 'https://json-schema.org/draft/2020-12/schema', ...POLICY_SCHEMA };
