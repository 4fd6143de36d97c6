/**
 * Which scopes a token may carry: requested ∩ offered ∩ what `scopesFor` allows the account at that resource.
 *
 * "openid" and "offline_access" are protocol scopes (oidc-provider handles them; refresh tokens are issued
 * without offline_access anyway); every other offered scope is a scope of each MCP endpoint (resource).
 * A request without a scope asks for the default: every offered resource scope, within the scopes the client
 * registered (RFC 6749 §3.3 lets the server pick a default; MCP clients omit scope when the resource metadata lists
 * none).
 */
export const PROTOCOL_SCOPES = ['openid', 'offline_access'] as const;

export type ScopesFor = (account: { id: string; groups: readonly string[] }, resource: string, requested: readonly string[]) => readonly string[];

export class ScopePolicy {
  /** Scopes of the MCP endpoints. */
  readonly resourceScopes: readonly string[];
  /** The protocol scopes this server supports. */
  readonly protocolScopes: readonly string[];

  constructor(offered: readonly string[], private readonly scopesFor?: ScopesFor) {
    this.protocolScopes = PROTOCOL_SCOPES.filter((s) => offered.includes(s));
    this.resourceScopes = offered.filter((s) => !(PROTOCOL_SCOPES as readonly string[]).includes(s));
    if (this.resourceScopes.length === 0) {
      // oidc-provider issues no token without a scope: fail at start rather than at every sign-in.
      throw new Error('the built-in authorization server needs at least one scope besides openid/offline_access (auth.builtin.scopes)');
    }
  }

  /** The scope of a request that names none: every resource scope, within the client's registered `scope` if it has one. */
  defaultScope(clientScope?: string): string {
    const registered = clientScope?.split(' ').filter(Boolean);
    const within = registered ? this.resourceScopes.filter((s) => registered.includes(s)) : [];
    return (within.length ? within : this.resourceScopes).join(' ');
  }

  /** Everything advertised (scopes_supported): the offered scopes, and openid, which oidc-provider always honours. */
  get supported(): string[] {
    return [...new Set([...this.resourceScopes, ...this.protocolScopes, 'openid'])];
  }

  /** Splits requested resource scopes into those the account gets and those it may not have. */
  decide(account: { id: string; groups: readonly string[] }, resource: string, requested: readonly string[]): { granted: string[]; refused: string[] } {
    const offered = requested.filter((s) => this.resourceScopes.includes(s));
    const allowed = new Set(this.scopesFor ? this.scopesFor(account, resource, offered) : offered);
    return { granted: offered.filter((s) => allowed.has(s)), refused: offered.filter((s) => !allowed.has(s)) };
  }
}
