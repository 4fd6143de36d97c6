/**
 * Remembered consent: what an account approved for a client, per resource. The next authorization of the same
 * client for scopes already approved skips the consent page. Revoking the consent also revokes every grant the
 * account gave that client (their tokens then fail the resource server's revocation check).
 */
import type { RecordStore } from '../../storage/types.js';
import { GRANTS_NS } from './adapter.js';

export const CONSENTS_NS = 'oauth:consents';

export interface Consent {
  accountId: string;
  clientId: string;
  /** Resource (canonical URI) → scopes approved. */
  resources: Record<string, string[]>;
  /** Protocol scopes approved (openid, offline_access). */
  protocolScopes: string[];
  updatedAt: number;
}

const keyOf = (accountId: string, clientId: string) => `${encodeURIComponent(accountId)}|${encodeURIComponent(clientId)}`;

export class ConsentStore {
  constructor(private readonly records: RecordStore, private readonly ttlMs: number) {}

  async get(accountId: string, clientId: string): Promise<Consent | undefined> {
    return (await this.records.get(CONSENTS_NS, keyOf(accountId, clientId))) as Consent | undefined;
  }

  /** Adds to what was approved before. */
  async remember(accountId: string, clientId: string, resources: Record<string, readonly string[]>, protocolScopes: readonly string[]): Promise<void> {
    const prior = await this.get(accountId, clientId);
    const merged: Record<string, string[]> = { ...(prior?.resources ?? {}) };
    for (const [r, scopes] of Object.entries(resources)) merged[r] = [...new Set([...(merged[r] ?? []), ...scopes])].sort();
    const value: Consent = {
      accountId,
      clientId,
      resources: merged,
      protocolScopes: [...new Set([...(prior?.protocolScopes ?? []), ...protocolScopes])].sort(),
      updatedAt: Date.now(),
    };
    await this.records.put(CONSENTS_NS, keyOf(accountId, clientId), { ...value }, { ttlMs: this.ttlMs, tags: { accountId } });
  }

  async list(accountId: string): Promise<Consent[]> {
    return (await this.records.findByTag(CONSENTS_NS, 'accountId', accountId)).map((r) => r.value as unknown as Consent);
  }

  /** Forgets the consent and revokes the account's grants to the client; returns how many grants were revoked. */
  async revoke(accountId: string, clientId: string): Promise<number> {
    await this.records.delete(CONSENTS_NS, keyOf(accountId, clientId));
    const grants = (await this.records.findByTag(GRANTS_NS, 'accountId', accountId)).filter((g) => g.value.clientId === clientId);
    for (const g of grants) await this.records.deleteByTag('grantId', g.key);
    return grants.length;
  }
}
