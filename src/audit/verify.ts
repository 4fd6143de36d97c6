/**
 * `audit verify`: walks the chain from its start (the anchor after pruning) and stops at the first record that
 * is wrong, naming it:
 *
 *   edited      the record's hash does not match its content, or its columns disagree with its content
 *   missing     a sequence number is skipped (a record was deleted)
 *   relinked    the record does not link to the one before it (inserted, reordered or re-hashed records)
 *   checkpoint  a signed checkpoint disagrees with the record at its seq (the log was rewritten)
 *   truncated   the log ends before a signed checkpoint (records were cut from the end)
 *
 * Checkpoints stored in the log are checked with the local key; exported ones with the keys in their file, so a
 * log rewritten and re-signed with a new key still fails against checkpoints exported before.
 */
import type { KeyObject } from 'node:crypto';
import { GENESIS, hashBody } from './chain.js';
import { checkpointSigned, type Checkpoint } from './checkpoint.js';
import type { ExportedCheckpoints } from './export.js';
import type { AuditRecord, AuditRow } from './record.js';
import type { AuditStore } from './store.js';

export type ProblemKind = 'edited' | 'missing' | 'relinked' | 'checkpoint' | 'truncated' | 'signature';

export interface VerifyProblem {
  kind: ProblemKind;
  /** The first bad record (for truncation: the first record that is gone). */
  seq: number;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  records: number;
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  /** The checkpoint the retained log starts from, after pruning. */
  anchorSeq: number | undefined;
  checkpoints: number;
  exported: number | undefined;
  /** Exported checkpoints older than the retained log (pruned records): nothing left to compare them with. */
  exportedBeforeAnchor: number;
  /** Records after the newest checkpoint: protected by the chain only until the next one is signed. */
  unsigned: number;
  problem: VerifyProblem | undefined;
}

const PAGE = 2000;

export async function verifyLog(store: AuditStore, trusted: ReadonlyMap<string, KeyObject>, exported?: ExportedCheckpoints): Promise<VerifyReport> {
  const anchor = await store.anchor();
  const stored = await store.checkpoints();
  const report: VerifyReport = {
    ok: false, records: 0, firstSeq: undefined, lastSeq: undefined, anchorSeq: anchor?.seq, checkpoints: stored.length,
    exported: exported?.checkpoints.length, exportedBeforeAnchor: 0, unsigned: 0, problem: undefined,
  };
  const fail = (kind: ProblemKind, seq: number, message: string): VerifyReport => ({ ...report, problem: { kind, seq, message } });

  // Every checkpoint that pins a record: seq → [what it says, where it came from].
  const pins = new Map<number, Array<{ cp: Checkpoint; from: string }>>();
  const pin = (cp: Checkpoint, from: string) => pins.set(cp.seq, [...(pins.get(cp.seq) ?? []), { cp, from }]);
  for (const cp of stored) {
    if (!checkpointSigned(cp, trusted)) return fail('signature', cp.seq, `the stored checkpoint at seq ${cp.seq} is not signed by a trusted key (key ${cp.keyId})`);
    pin(cp, 'the stored checkpoint');
  }
  for (const cp of exported?.checkpoints ?? []) {
    if (!checkpointSigned(cp, exported!.keys)) return fail('signature', cp.seq, `the exported checkpoint at seq ${cp.seq} is not signed by a key in the export file`);
    if (anchor && cp.seq < anchor.seq) { report.exportedBeforeAnchor++; continue; }
    pin(cp, 'the exported checkpoint');
  }

  let expected = 1;
  let prev = GENESIS;
  if (anchor) {
    if (!checkpointSigned(anchor, trusted)) return fail('signature', anchor.seq, `the anchor (checkpoint at seq ${anchor.seq}, where the pruned log starts) is not signed by a trusted key`);
    for (const { cp, from } of pins.get(anchor.seq) ?? []) {
      if (cp.hash !== anchor.hash) return fail('checkpoint', anchor.seq, `${from} at seq ${anchor.seq} disagrees with the anchor the pruned log starts from`);
    }
    expected = anchor.seq + 1;
    prev = anchor.hash;
  }

  let lastPinned = expected - 1;
  for (let after = expected - 1; ;) {
    const rows = await store.rows(after, PAGE);
    for (const row of rows) {
      const bad = checkRow(row, expected, prev);
      if (bad) return fail(bad.kind, bad.seq, bad.message);
      for (const { cp, from } of pins.get(row.seq) ?? []) {
        if (cp.hash !== row.hash) {
          return fail('checkpoint', row.seq, `record ${row.seq} differs from ${from} signed for it: records ${lastPinned + 1}–${row.seq} were rewritten (and re-hashed)`);
        }
      }
      if (pins.has(row.seq)) lastPinned = row.seq;
      report.firstSeq ??= row.seq;
      report.lastSeq = row.seq;
      report.records++;
      expected = row.seq + 1;
      prev = row.hash;
    }
    if (rows.length < PAGE) break;
    after = rows[rows.length - 1]!.seq;
  }

  const end = expected - 1;
  const furthest = Math.max(0, ...pins.keys());
  if (furthest > end) {
    return fail('truncated', end + 1, `the log ends at record ${end}, but a checkpoint was signed at seq ${furthest}: records ${end + 1}–${furthest} were removed from the end`);
  }
  report.unsigned = end - Math.max(anchor?.seq ?? 0, furthest);
  return { ...report, ok: true };
}

function checkRow(row: AuditRow, expected: number, prev: string): VerifyProblem | undefined {
  if (row.seq > expected) {
    const gap = row.seq - expected === 1 ? `record ${expected} is missing` : `records ${expected}–${row.seq - 1} are missing`;
    return { kind: 'missing', seq: row.seq, message: `${gap}: record ${row.seq} follows record ${expected - 1}` };
  }
  let body: AuditRecord;
  try {
    body = JSON.parse(row.body) as AuditRecord;
  } catch {
    return { kind: 'edited', seq: row.seq, message: `record ${row.seq} is not valid JSON` };
  }
  if (hashBody(row.body) !== row.hash) return { kind: 'edited', seq: row.seq, message: `record ${row.seq} was edited: its content does not match its hash` };
  const columns: Array<[string, unknown, unknown]> = [
    ['prev', row.prev, body.prev], ['time', row.time, body.time], ['type', row.type, body.type],
    ['principal', row.principal, body.principal ?? null], ['upstream', row.upstream, body.upstream ?? null], ['outcome', row.outcome, body.outcome ?? null],
  ];
  if (body.seq !== row.seq) {
    // A record found under another seq: renumbered around an insertion, a deletion or a swap.
    const held = Number(body.seq);
    return held < row.seq
      ? { kind: 'relinked', seq: held, message: `record ${held} is not the original: the original record ${held} now sits at seq ${row.seq} (a record was inserted at ${held})` }
      : { kind: 'relinked', seq: row.seq, message: `record ${row.seq} is not the original: seq ${row.seq} holds record ${held} (records were deleted or reordered here)` };
  }
  for (const [name, stored, hashed] of columns) {
    if (stored !== hashed) {
      return { kind: 'edited', seq: row.seq, message: `record ${row.seq} was edited: its ${name} column says ${JSON.stringify(stored)}, its hashed content ${JSON.stringify(hashed)}` };
    }
  }
  if (row.prev !== prev) {
    return { kind: 'relinked', seq: row.seq, message: `record ${row.seq} does not link to record ${expected - 1}: a record was inserted, removed or reordered before it` };
  }
  return undefined;
}
