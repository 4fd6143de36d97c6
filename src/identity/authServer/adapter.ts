/**
 * oidc-provider's storage adapter over the RecordStore: one namespace per model ("oidc:Grant", "oidc:Session" …),
 * records tagged by grantId, uid, userCode and accountId so that
 *   revokeByGrantId → deleteByTag('grantId', id)   (every token and code of a grant, in one call)
 *   findByUid       → findByTag(ns, 'uid', uid)
 *   consume         → records.consume(ns, id, 'consumed', now)   (atomic: exactly one caller consumes)
 * and removing an account deletes everything issued to it (deleteByTag('accountId', id)).
 *
 * oidc-provider checks `consumed` and then consumes, which leaves a window for two concurrent redemptions of one
 * refresh token or code. The atomic consume closes it: the loser is treated as a replay, its grant revoked.
 */
import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { RecordStore } from '../../storage/types.js';

export const OIDC_NS = (model: string) => `oidc:${model}`;
export const GRANTS_NS = OIDC_NS('Grant');

/** One-time artefacts whose second use means the grant has leaked. */
const SINGLE_USE = new Set(['RefreshToken', 'AuthorizationCode']);

export interface AdapterHooks {
  /** Resolves a client id the store does not know (client ID metadata documents). */
  resolveClient?(id: string): Promise<AdapterPayload | undefined>;
  /** Called when a concurrent second use of a refresh token or code is detected (after the grant is revoked). */
  onReplay?(model: string, grantId: string | undefined): void;
}

export function createAdapterFactory(records: RecordStore, hooks: AdapterHooks = {}): AdapterFactory {
  return (model: string): Adapter => {
    const ns = OIDC_NS(model);
    const one = async (tag: string, value: string) => (await records.findByTag(ns, tag, value))[0]?.value as AdapterPayload | undefined;
    const revokeGrant = async (grantId: string) => {
      await records.deleteByTag('grantId', grantId);
      await records.delete(GRANTS_NS, grantId);
    };
    return {
      async upsert(id, payload, expiresIn) {
        const tags: Record<string, string> = {};
        for (const key of ['grantId', 'uid', 'userCode', 'accountId'] as const) {
          const v = payload[key];
          if (typeof v === 'string' && v !== '') tags[key] = v;
        }
        // A Grant's own id is its jti: tag it too, so revoking a grant by id reaches the grant itself.
        if (model === 'Grant' && typeof payload.jti === 'string') tags.grantId = payload.jti;
        await records.put(ns, id, { ...payload }, { ...(expiresIn ? { ttlMs: expiresIn * 1000 } : {}), tags });
      },
      async find(id) {
        const found = (await records.get(ns, id)) as AdapterPayload | undefined;
        if (found || model !== 'Client' || !hooks.resolveClient) return found;
        return hooks.resolveClient(id);
      },
      findByUid: (uid) => one('uid', uid),
      findByUserCode: (userCode) => one('userCode', userCode),
      async consume(id) {
        const before = await records.consume(ns, id, 'consumed', Math.floor(Date.now() / 1000));
        if (before && before.consumed !== undefined && SINGLE_USE.has(model)) {
          const grantId = typeof before.grantId === 'string' ? before.grantId : undefined;
          if (grantId) await revokeGrant(grantId);
          hooks.onReplay?.(model, grantId);
          throw new errors.InvalidGrant(`${model === 'RefreshToken' ? 'refresh token' : 'authorization code'} already used`);
        }
      },
      async destroy(id) {
        await records.delete(ns, id);
      },
      async revokeByGrantId(grantId) {
        await records.deleteByTag('grantId', grantId);
      },
    };
  };
}
