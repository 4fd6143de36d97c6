/**
 * Sign-in through an upstream OpenID Connect provider (`auth.builtin.federation`), with openid-client: discovery,
 * authorization code with PKCE, state and nonce, ID token validation. The upstream subject becomes the local
 * account "fed:{name}:{sub}"; its groups come from the configured claim (ID token, else UserInfo) and are
 * refreshed at every sign-in.
 *
 * The upstream redirects back to {issuer}/federate/{name}/callback (register that URI there). The pending request
 * (state, nonce, PKCE verifier, the interaction it belongs to) waits in the RecordStore for 10 minutes and is used
 * once; the sign-in completes only in the browser holding that interaction's cookie.
 */
import * as oidc from 'openid-client';
import type { FederatedLoginConfig } from '../../config/types.js';
import type { Logger } from '../../core/log.js';
import type { RecordStore } from '../../storage/types.js';
import { safeFetchApi } from './outbound.js';
import { rolesFor } from './users.js';

export const FEDERATION_NS = 'oauth:federationPending';
export const FEDERATED_ACCOUNTS_NS = 'oauth:federatedAccounts';
const PENDING_TTL_MS = 10 * 60 * 1000;
const GROUP = /^[a-z0-9][a-z0-9._:-]{0,63}$/;

export class FederationError extends Error {
  override name = 'FederationError';
}

export interface FederatedAccount {
  accountId: string;
  provider: string;
  subject: string;
  groups: string[];
  roles: string[];
  displayName?: string;
  lastLoginAt: number;
}

interface Pending {
  name: string;
  uid: string;
  verifier: string;
  nonce: string;
}

export const federatedAccountId = (provider: string, sub: string) => `fed:${provider}:${sub}`;

/** Group names from a claim value: an array of strings or a space/comma-separated string; unusable names dropped. */
export function groupsFromClaim(value: unknown): string[] {
  const raw = Array.isArray(value) ? value : typeof value === 'string' ? value.split(/[\s,]+/) : [];
  return [...new Set(raw.filter((g): g is string => typeof g === 'string').map((g) => g.trim().toLowerCase()).filter((g) => GROUP.test(g)))].sort();
}

/** Reads a dotted claim path ("realm_access.roles"). */
function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (path in claims) return claims[path];
  let cur: unknown = claims;
  for (const part of path.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[part] : undefined;
  return cur;
}

export class Federation {
  private readonly configs = new Map<string, Promise<oidc.Configuration>>();
  private readonly byName: Map<string, FederatedLoginConfig>;

  constructor(providers: readonly FederatedLoginConfig[], private readonly issuer: string, private readonly records: RecordStore, private readonly log: Logger) {
    this.byName = new Map(providers.map((p) => [p.name, p]));
  }

  get providers(): ReadonlyArray<{ name: string; label: string }> {
    return [...this.byName.values()].map((p) => ({ name: p.name, label: p.displayName ?? p.name }));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  callbackUrl(name: string): string {
    return `${this.issuer}/federate/${encodeURIComponent(name)}/callback`;
  }

  /** The upstream authorization URL for interaction `uid`. */
  async start(name: string, uid: string): Promise<string> {
    const p = this.provider(name);
    const config = await this.configuration(p);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const pending: Pending = { name, uid, verifier, nonce };
    await this.records.put(FEDERATION_NS, state, { ...pending }, { ttlMs: PENDING_TTL_MS });
    return oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.callbackUrl(name),
      scope: [...new Set(['openid', ...p.scopes])].join(' '),
      response_type: 'code',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    }).href;
  }

  /**
   * Completes the upstream leg: validates the callback, redeems the code, records the account. Returns the
   * interaction it belongs to and the local account id.
   */
  async finish(name: string, query: URLSearchParams): Promise<{ uid: string; account: FederatedAccount }> {
    const p = this.provider(name);
    const state = query.get('state') ?? '';
    const pending = state ? ((await this.records.consume(FEDERATION_NS, state, 'usedAt', Date.now())) as (Pending & { usedAt?: number }) | undefined) : undefined;
    if (!pending || pending.usedAt !== undefined || pending.name !== name) throw new FederationError('This sign-in link has expired or was already used. Start again from the application.');
    await this.records.delete(FEDERATION_NS, state);
    const config = await this.configuration(p);
    const current = new URL(this.callbackUrl(name));
    current.search = query.toString();
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: pending.verifier, expectedState: state, expectedNonce: pending.nonce, idTokenExpected: true });
    } catch (e) {
      const err = e as { error?: string; error_description?: string; message?: string };
      this.log.info({ provider: name, error: err.error ?? err.message }, 'federated sign-in failed');
      throw new FederationError(err.error === 'access_denied' ? `${p.displayName ?? name} did not sign you in.` : `Signing in with ${p.displayName ?? name} failed.`);
    }
    const claims = tokens.claims() as Record<string, unknown> | undefined;
    const sub = claims?.sub;
    if (typeof sub !== 'string' || sub === '') throw new FederationError(`Signing in with ${p.displayName ?? name} failed: no subject.`);
    let groupsValue = claimAt(claims!, p.groupsClaim);
    if (groupsValue === undefined && config.serverMetadata().userinfo_endpoint) {
      try {
        groupsValue = claimAt(await oidc.fetchUserInfo(config, tokens.access_token, sub) as Record<string, unknown>, p.groupsClaim);
      } catch (e) {
        this.log.warn({ provider: name, err: (e as Error).message }, 'federated UserInfo request failed; signing in without groups');
      }
    }
    const groups = groupsFromClaim(groupsValue);
    const display = [claims!.preferred_username, claims!.email, claims!.name].find((v): v is string => typeof v === 'string' && v !== '');
    const account: FederatedAccount = {
      accountId: federatedAccountId(name, sub),
      provider: name,
      subject: sub,
      groups,
      roles: rolesFor(groups),
      ...(display ? { displayName: display.slice(0, 200) } : {}),
      lastLoginAt: Date.now(),
    };
    await this.records.put(FEDERATED_ACCOUNTS_NS, account.accountId, { ...account }, { tags: { accountId: account.accountId } });
    return { uid: pending.uid, account };
  }

  async account(accountId: string): Promise<FederatedAccount | undefined> {
    return (await this.records.get(FEDERATED_ACCOUNTS_NS, accountId)) as FederatedAccount | undefined;
  }

  private provider(name: string): FederatedLoginConfig {
    const p = this.byName.get(name);
    if (!p) throw new FederationError(`No sign-in provider "${name}".`);
    return p;
  }

  private configuration(p: FederatedLoginConfig): Promise<oidc.Configuration> {
    let c = this.configs.get(p.name);
    if (!c) {
      c = this.discover(p);
      this.configs.set(p.name, c);
      // A failed discovery is retried on the next sign-in rather than remembered.
      c.catch(() => this.configs.delete(p.name));
    }
    return c;
  }

  private async discover(p: FederatedLoginConfig): Promise<oidc.Configuration> {
    const fetchApi = safeFetchApi(p.allowPrivateNetworks) as oidc.CustomFetch;
    const insecure = p.allowPrivateNetworks && p.issuer.startsWith('http:');
    try {
      const discovered = await oidc.discovery(new URL(p.issuer), p.clientId, undefined, oidc.None(), {
        [oidc.customFetch]: fetchApi,
        ...(insecure ? { execute: [oidc.allowInsecureRequests] } : {}),
      });
      const server = discovered.serverMetadata();
      // Prefer client_secret_basic (the RFC 6749 default) unless the provider lists only client_secret_post.
      const methods = server.token_endpoint_auth_methods_supported;
      const auth = !p.clientSecret ? oidc.None()
        : !methods || methods.includes('client_secret_basic') ? oidc.ClientSecretBasic(p.clientSecret) : oidc.ClientSecretPost(p.clientSecret);
      const config = new oidc.Configuration(server, p.clientId, p.clientSecret ? { client_secret: p.clientSecret } : undefined, auth);
      config[oidc.customFetch] = fetchApi;
      if (insecure) oidc.allowInsecureRequests(config);
      return config;
    } catch (e) {
      this.log.warn({ provider: p.name, issuer: p.issuer, err: (e as Error).message }, 'federated provider discovery failed');
      throw new FederationError(`${p.displayName ?? p.name} cannot be reached right now.`);
    }
  }
}
