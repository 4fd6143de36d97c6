/**
 * portcullis credentials: the per-user upstream accounts users connected (docs/credentials.md).
 *
 *   credentials list [--upstream NAME]                  who connected which upstream, and when; never tokens
 *   credentials revoke --user WHO --upstream NAME       deletes that user's tokens (WHO: the principal key
 *                                                       "issuer subject", or a subject), revokes them at the
 *                                                       upstream's authorization server (RFC 7009) when it can
 *
 * Running gateways read the tokens from the shared storage on every call, so a revocation applies to their next
 * call: the user is asked to connect again.
 */
import { parseArgs } from 'node:util';
import { openStorage } from '../storage/index.js';
import { openAdminAudit } from '../audit/admin.js';
import { createLogger } from '../core/log.js';
import { Credentials } from '../credentials/credentials.js';
import { UserTokenStore } from '../credentials/tokenStore.js';
import { ResolvedSecrets, vaultFor } from '../vault/resolve.js';
import { loadCliConfig } from './config.js';
import { UsageError } from './usage.js';

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, user: { type: 'string' }, upstream: { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });
  const [sub, ...rest] = positionals;
  if (sub !== 'list' && sub !== 'revoke') throw new UsageError('choose one of: list, revoke');
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (sub === 'revoke' && (!values.user || !values.upstream)) throw new UsageError('credentials revoke needs --user WHO and --upstream NAME');
  if (sub === 'list' && values.user) throw new UsageError('--user is only for credentials revoke');
  const config = await loadCliConfig(values.config);
  if (values.upstream !== undefined && !Object.hasOwn(config.upstreams, values.upstream)) {
    process.stderr.write(`portcullis credentials: no upstream "${values.upstream}" in the configuration\n`);
    return 1;
  }
  if (config.storage.driver === 'memory') throw new Error('storage.driver is "memory": a separate process cannot see the gateway\'s tokens. Configure sqlite, postgres or redis.');
  const audit = sub === 'revoke' ? await openAdminAudit(config) : undefined;
  const storage = await openStorage(config.storage, { replayEvents: config.sessions.replayEvents });
  try {
    const vault = vaultFor(config, storage.records);
    const store = new UserTokenStore(vault);
    const connected = await store.list(values.upstream);
    if (sub === 'list') {
      if (connected.length === 0) process.stdout.write('no connected accounts\n');
      for (const c of connected) process.stdout.write(`${c.upstream}  ${c.tokens.principal}  connected ${new Date(c.tokens.connectedAt).toISOString()}\n`);
      return 0;
    }
    const who = values.user!;
    const matches = connected.filter((c) => c.tokens.principal === who || c.tokens.subject === who);
    if (matches.length === 0) {
      process.stderr.write(`portcullis credentials: ${who} has no connected account at ${values.upstream}\n`);
      return 1;
    }
    // The OAuth client secret (for the revocation request) may be a vault reference.
    const secrets = await ResolvedSecrets.resolve(config, () => vaultFor(config, storage.records));
    const credentials = new Credentials({
      records: storage.records, vault: () => vault, log: createLogger('warn'),
      upstreamConfig: (name) => (Object.hasOwn(config.upstreams, name) ? secrets.fillUpstream(config.upstreams[name]!) : undefined),
    });
    for (const m of matches) {
      await credentials.revoke(m.upstream, m.tokens.principal);
      await audit?.record('credentials.revoke', { upstream: m.upstream, principal: m.tokens.principal });
      process.stdout.write(`revoked ${m.tokens.principal}'s account at ${m.upstream}; their next call asks them to connect again\n`);
    }
    return 0;
  } finally {
    await Promise.all([storage.close(), audit?.close()]);
  }
}
