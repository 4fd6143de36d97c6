/**
 * Each user's upstream tokens, in the vault (encrypted at rest, src/vault): one secret per upstream and principal,
 * named `upstream-token.{upstream}.{digest of the principal key}` so a name reveals neither the user nor the token.
 * The value is JSON naming its principal, which is checked on every read: a record can never serve another user.
 * Token values are never logged (they are not added to the log scrubber either: refreshes would grow its list forever).
 */
import { createHash } from 'node:crypto';
import { isVaultError } from '../vault/errors.js';
import type { Vault } from '../vault/vault.js';
import type { IssuedTokens } from './oauthClient.js';

const PREFIX = 'upstream-token.';

export interface StoredTokens extends IssuedTokens {
  /** The principal key ("issuer subject") the tokens belong to. */
  principal: string;
  subject: string;
  connectedAt: number;
}

export class UserTokenStore {
  constructor(private readonly vault: Vault) {}

  async get(upstream: string, principal: string): Promise<StoredTokens | undefined> {
    let raw: string;
    try {
      raw = await this.vault.get(nameOf(upstream, principal));
    } catch (e) {
      if (isVaultError(e, 'not-found')) return undefined;
      throw e;
    }
    const t = JSON.parse(raw) as StoredTokens;
    // Defence in depth: a digest collision or a record copied under another name never crosses users.
    if (t.principal !== principal) return undefined;
    return t;
  }

  async put(upstream: string, tokens: StoredTokens): Promise<void> {
    await this.vault.set(nameOf(upstream, tokens.principal), JSON.stringify(tokens));
  }

  async remove(upstream: string, principal: string): Promise<boolean> {
    return this.vault.remove(nameOf(upstream, principal));
  }

  /** Every stored connection of an upstream (all upstreams when absent); values are opened to name their users. */
  async list(upstream?: string): Promise<{ upstream: string; tokens: StoredTokens }[]> {
    const out: { upstream: string; tokens: StoredTokens }[] = [];
    for (const s of await this.vault.list()) {
      if (!s.name.startsWith(PREFIX)) continue;
      const name = s.name.slice(PREFIX.length, s.name.lastIndexOf('.'));
      if (upstream !== undefined && name !== upstream) continue;
      out.push({ upstream: name, tokens: JSON.parse(await this.vault.get(s.name)) as StoredTokens });
    }
    return out;
  }
}

function nameOf(upstream: string, principal: string): string {
  return `${PREFIX}${upstream}.${createHash('sha256').update(principal).digest('base64url').slice(0, 32)}`;
}
