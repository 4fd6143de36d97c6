/**
 * portcullis sessions revoke: end a 2025-era session, or every session of a user, on every gateway sharing this
 * configuration's storage (they pick revocations up within seconds).
 */
import { parseArgs } from 'node:util';
import { openStorage } from '../storage/index.js';
import { revokePrincipalSessions, revokeSession } from '../transport/sessionRevocation.js';
import { openAdminAudit } from '../audit/admin.js';
import { loadCliConfig } from './config.js';
import { UsageError } from './usage.js';

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { config: { type: 'string', short: 'c' }, user: { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });
  const [action, id, ...rest] = positionals;
  if (action !== 'revoke') throw new UsageError(action === undefined ? 'missing action (revoke)' : `unknown action "${action}" (expected revoke)`);
  if (rest.length || (id === undefined) === (values.user === undefined)) throw new UsageError('give either a session id or --user WHO');
  const config = await loadCliConfig(values.config);
  if (config.storage.driver === 'memory') throw new Error('storage.driver is "memory": sessions live only inside the running gateway');
  const storage = await openStorage(config.storage, { replayEvents: config.sessions.replayEvents });
  const audit = await openAdminAudit(config).catch(async (e: unknown) => { await storage.close(); throw e; });
  try {
    if (id !== undefined) {
      await revokeSession(storage.records, id);
      await audit.record('sessions.revoke', { session: id });
      process.stdout.write(`revoked session ${id}\n`);
    } else {
      await revokePrincipalSessions(storage.records, values.user!);
      await audit.record('sessions.revoke', { user: values.user! });
      process.stdout.write(`revoked every session of ${values.user}\n`);
    }
  } finally {
    await audit.close();
    await storage.close();
  }
  return 0;
}
