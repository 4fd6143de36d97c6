/**
 * The `console:` key of portcullis.yaml: the web console the gateway serves (docs/console.md). Who may do what is
 * decided by console roles, each granted to principals carrying any of the listed token roles or groups.
 */
import type { SchemaNode } from '../config/schema.js';

export type ConsoleRole = 'admin' | 'approver' | 'auditor';
export const CONSOLE_ROLES: readonly ConsoleRole[] = ['admin', 'approver', 'auditor'];

export interface ConsoleConfig {
  enabled: boolean;
  /** Where it is served, e.g. "/console". */
  path: string;
  /** Console role → the token roles or groups that grant it. */
  roles: Record<ConsoleRole, string[]>;
  /** A console session ends this long after sign-in (sign in again then). */
  sessionTtlSeconds: number;
}

const roleList = (dflt: string): SchemaNode => ({
  type: 'array', default: [dflt], items: { type: 'string', minLength: 1 },
  description: `Token roles or groups that grant the console role "${dflt}".`,
});

export const CONSOLE_SCHEMA: SchemaNode = {
  type: 'object',
  default: {},
  additionalProperties: false,
  description: 'The web console: approvals, audit search, servers and drift, sessions, policy view, live metrics (docs/console.md). Signs in through the built-in authorization server; with auth.mode none it answers loopback peers only.',
  properties: {
    enabled: { type: 'boolean', default: true, description: 'Serve the console.' },
    path: { type: 'string', default: '/console', pattern: '^/[a-z][a-z0-9-]*$', description: 'The path it is served under (one segment).' },
    roles: {
      type: 'object',
      default: {},
      additionalProperties: false,
      description: 'Console roles. admin: everything (server approval, session revocation); approver: decide approvals; auditor: read-only (audit log, policy view, metrics).',
      properties: { admin: roleList('admin'), approver: roleList('approver'), auditor: roleList('auditor') },
    },
    sessionTtlSeconds: { type: 'integer', minimum: 60, maximum: 86_400, default: 28_800, description: 'A console session ends this long after sign-in.' },
  },
};
