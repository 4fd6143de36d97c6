/**
 * Audit log search for the console, over the audit store's contract (`rows` filters by time, principal, type,
 * upstream and outcome; free text is matched here against the record's canonical JSON). Newest first; the scan is
 * bounded so a search of a huge log answers quickly and says it stopped early.
 */
import type { AuditLog } from '../audit/log.js';
import type { AuditFilter, AuditRecord } from '../audit/record.js';
import { verifyLog, type VerifyReport } from '../audit/verify.js';

export interface AuditSearch extends AuditFilter {
  /** Case-insensitive text anywhere in the record. */
  text?: string | undefined;
  /** At most this many records (newest). */
  limit?: number | undefined;
}

export interface AuditSearchResult {
  records: AuditRecord[];
  /** Records looked at. */
  scanned: number;
  /** True when older records were not looked at (the scan bound); narrow by time to reach them. */
  truncated: boolean;
}

const PAGE = 1000;
/** The newest this many records are searched when no time range narrows the search. */
export const SCAN_BOUND = 50_000;

export async function searchAudit(audit: AuditLog, q: AuditSearch): Promise<AuditSearchResult> {
  const limit = Math.max(1, Math.min(q.limit ?? 100, 500));
  const head = await audit.store.head();
  if (!head) return { records: [], scanned: 0, truncated: false };
  const start = Math.max(0, head.seq - SCAN_BOUND);
  const text = q.text?.toLowerCase();
  const filter: AuditFilter = { since: q.since, until: q.until, principal: q.principal, type: q.type, upstream: q.upstream, outcome: q.outcome };
  // Oldest first from the store; the newest `limit` matches are kept.
  const kept: AuditRecord[] = [];
  let scanned = 0;
  for (let after = start; ;) {
    const rows = await audit.store.rows(after, PAGE, filter);
    for (const row of rows) {
      scanned++;
      if (text && !row.body.toLowerCase().includes(text)) continue;
      kept.push({ ...(JSON.parse(row.body) as AuditRecord), hash: row.hash });
      if (kept.length > limit) kept.shift();
    }
    if (rows.length < PAGE) break;
    after = rows[rows.length - 1]!.seq;
  }
  return { records: kept.reverse(), scanned, truncated: start > 0 };
}

/** The whole chain checked against the log's signed checkpoints (src/audit/verify.ts). */
export function chainStatus(audit: AuditLog): Promise<VerifyReport> {
  return verifyLog(audit.store, audit.trustedKeys());
}
