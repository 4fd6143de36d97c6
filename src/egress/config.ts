/** The `egress:` key of portcullis.yaml: optional allow-lists of hosts per purpose of the gateway's own fetches. */
import type { SchemaNode } from '../config/schema.js';
import type { EgressPurpose } from './fetch.js';

export interface EgressConfig {
  /** Purpose → host globs ("*.okta.com"); a purpose without a list may reach any public host. */
  allowHosts: Partial<Record<Exclude<EgressPurpose, 'upstream'>, string[]>>;
}

const hosts = (what: string): SchemaNode => ({ type: 'array', items: { type: 'string', minLength: 1 }, description: `Hosts ${what} may be fetched from ("*" matches any run of characters, e.g. "*.example.com").` });

export const EGRESS_SCHEMA: SchemaNode = {
  type: 'object',
  default: {},
  additionalProperties: false,
  description: 'Fetches the gateway makes on its own go through one egress path (docs/security.md#egress): https only, non-public addresses refused after DNS with the vetted address pinned for the connection, redirects re-checked, size and time bounded. These lists narrow each purpose further.',
  properties: {
    allowHosts: {
      type: 'object',
      default: {},
      additionalProperties: false,
      description: 'Per purpose, the only hosts it may reach. Absent: any public host.',
      properties: {
        jwks: hosts('JWKS of external issuers'),
        oidc: hosts('OIDC discovery and federated sign-in (token, userinfo) documents'),
        'client-metadata': hosts('OAuth client ID metadata documents'),
        webhook: hosts('approval and alert webhooks'),
      },
    },
  },
};
