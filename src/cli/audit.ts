/**
 * portcullis audit verify | export | checkpoints export | prune: reading and checking the audit log from outside
 * the gateway (docs/audit.md). Works while the gateway runs: SQLite readers never block its writer.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import type { GatewayConfig } from '../config/types.js';
import { auditDriver, auditKeys, openAuditStore } from '../audit/open.js';
import { existingTrustedKeys } from '../audit/keys.js';
import { exportCheckpoints, exportRecords, readExportedCheckpoints } from '../audit/export.js';
import { verifyLog, type VerifyReport } from '../audit/verify.js';
import { AuditLog } from '../audit/log.js';
import type { AuditFilter } from '../audit/record.js';
import type { AuditStore } from '../audit/store.js';
import { cliLogger, loadCliConfig } from './config.js';
import { UsageError } from './usage.js';

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      checkpoints: { type: 'string' },
      to: { type: 'string' },
      out: { type: 'string', short: 'o' },
      since: { type: 'string' },
      until: { type: 'string' },
      principal: { type: 'string' },
      type: { type: 'string' },
      upstream: { type: 'string' },
      outcome: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [action, sub, ...rest] = positionals;
  const known = action === 'verify' || action === 'export' || action === 'prune' || (action === 'checkpoints' && sub === 'export');
  if (!known) throw new UsageError(action === undefined ? 'missing action (verify, export, checkpoints export, prune)' : `unknown action "${positionals.join(' ')}" (expected verify, export, checkpoints export or prune)`);
  if (rest.length || (action !== 'checkpoints' && sub !== undefined)) throw new UsageError(`unexpected argument "${rest[0] ?? sub}"`);
  if (action === 'checkpoints' && values.to === undefined) throw new UsageError('checkpoints export needs --to FILE|DIR');
  const filter: AuditFilter = {
    since: time(values.since, '--since'), until: time(values.until, '--until'),
    principal: values.principal, type: values.type, upstream: values.upstream, outcome: values.outcome,
  };

  const config = await loadCliConfig(values.config);
  const driver = auditDriver(config);
  if (driver === 'memory') throw new Error('the audit log is kept in memory (storage.driver "memory"): it lives only inside the running gateway');
  const store = await openAuditStore(config, driver);
  try {
    switch (action) {
      case 'verify':
        return await verify(config, store, values.checkpoints);
      case 'export':
        return await exportTo(store, filter, values.out);
      case 'checkpoints': {
        const r = await exportCheckpoints(store, auditKeys(config, driver), values.to!);
        process.stdout.write(`${r.file}: ${r.total} checkpoints (${r.added} new)\n`);
        return 0;
      }
      default: {
        const log = new AuditLog({ store, keys: auditKeys(config, driver), log: cliLogger(config), retentionDays: config.audit.retentionDays });
        const r = await log.prune();
        await log.close();
        process.stdout.write(config.audit.retentionDays === 0 ? 'audit.retentionDays is 0: nothing is pruned\n' : `pruned ${r.pruned} records; the log starts after checkpoint ${r.anchor?.seq ?? '(none)'}\n`);
        return 0;
      }
    }
  } finally {
    await store.close();
  }
}

async function verify(config: GatewayConfig, store: AuditStore, checkpointsFile: string | undefined): Promise<number> {
  const exported = checkpointsFile === undefined ? undefined : readExportedCheckpoints(checkpointsFile);
  const report = await verifyLog(store, existingTrustedKeys(config.server.dataDir), exported);
  process.stdout.write(formatReport(report));
  return report.ok ? 0 : 1;
}

export function formatReport(r: VerifyReport): string {
  if (r.problem) return `FAILED at record ${r.problem.seq} (${r.problem.kind}): ${r.problem.message}\n`;
  const range = r.records ? `records ${r.firstSeq}–${r.lastSeq}` : 'no records';
  const anchored = r.anchorSeq !== undefined ? `, starting after checkpoint ${r.anchorSeq} (older records pruned)` : '';
  const exported = r.exported !== undefined ? `, ${r.exported} exported checkpoints matched${r.exportedBeforeAnchor ? ` (${r.exportedBeforeAnchor} predate the retained log)` : ''}` : '';
  return `ok: ${range}${anchored}: chain intact, ${r.checkpoints} stored checkpoints verified${exported}; ${r.unsigned} records after the last checkpoint\n`;
}

async function exportTo(store: AuditStore, filter: AuditFilter, out: string | undefined): Promise<number> {
  const stream: WriteStream | NodeJS.WriteStream = out === undefined ? process.stdout : createWriteStream(out, { mode: 0o600 });
  const n = await exportRecords(store, filter, async (line) => {
    if (!stream.write(line)) await once(stream, 'drain');
  });
  if (out !== undefined) {
    await new Promise<void>((resolve, reject) => (stream as WriteStream).end((e?: Error | null) => (e ? reject(e) : resolve())));
    process.stderr.write(`${n} records written to ${out}\n`);
  }
  return 0;
}

/** An ISO 8601 time, or a duration ago: 30m, 24h, 7d. */
function time(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const ago = /^(\d+)([smhd])$/.exec(value);
  if (ago) return Date.now() - Number(ago[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[ago[2] as 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`${flag}: expected an ISO 8601 time (2026-01-31T12:00:00Z) or a duration ago (30m, 24h, 7d), got "${value}"`);
  return t;
}
