/**
 * The audit log against every store: group commit, checkpoints, and `verify` naming the first bad record for each
 * way of tampering with the database (edit, column edit, delete, reorder, insert, truncate, re-hash, full rewrite
 * with another key), and retention that keeps the chain verifiable.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '../src/core/log.js';
import { AuditLog } from '../src/audit/log.js';
import { hashBody, chainRow } from '../src/audit/chain.js';
import { memoryKeyStore, type AuditKeyStore } from '../src/audit/keys.js';
import { exportCheckpoints, readExportedCheckpoints } from '../src/audit/export.js';
import { verifyLog } from '../src/audit/verify.js';
import type { AuditStore } from '../src/audit/store.js';
import type { AuditEvent } from '../src/audit/record.js';
import { AUDIT_BACKENDS, reachable, type AuditLocation } from './support/auditBackends.js';

const silent = createLogger('silent');

const event = (i: number): AuditEvent => ({
  type: 'request', principal: i % 2 ? 'alice' : 'bob', upstream: 'files', method: 'tools/call', outcome: 'ok',
  item: { kind: 'tool', name: 'read_file', action: 'call' }, arguments: { sha256: `arg-${i}` }, latencyMs: i,
});

/** A store that counts its batches. */
function counting(store: AuditStore): AuditStore & { batches: number[] } {
  const batches: number[] = [];
  return Object.assign(Object.create(store) as AuditStore, {
    batches,
    append: (events: Parameters<AuditStore['append']>[0], rule: Parameters<AuditStore['append']>[1]) => { batches.push(events.length); return store.append(events, rule); },
  });
}

/** 20 records written in four batches of five; checkpoints every 10 records (so at 10 and 20). */
async function twentyRecords(loc: AuditLocation, keys: AuditKeyStore): Promise<void> {
  const log = new AuditLog({ store: await loc.open(), keys, log: silent, checkpointRecords: 10, checkpointSeconds: 3600 });
  for (let b = 0; b < 4; b++) await Promise.all([1, 2, 3, 4, 5].map((i) => log.append(event(b * 5 + i))));
  await log.close();
}

async function verify(loc: AuditLocation, keys: AuditKeyStore, exportFile?: string) {
  const store = await loc.open();
  try {
    return await verifyLog(store, keys.trustedKeys(), exportFile ? readExportedCheckpoints(exportFile) : undefined);
  } finally {
    await store.close();
  }
}

for (const backend of AUDIT_BACKENDS) {
  test(`audit log on ${backend.name}`, async (t) => {
    if (!(await reachable(backend, t))) return;
    const locations: AuditLocation[] = [];
    const fresh = () => { const l = backend.location(); locations.push(l); return l; };
    t.after(async () => { for (const l of locations) await l.remove(); });

    await t.test('concurrent appends share one commit, and each resolves after it', async () => {
      const loc = fresh();
      const store = counting(await loc.open());
      const log = new AuditLog({ store, keys: memoryKeyStore(), log: silent, checkpointRecords: 1000 });
      await Promise.all(Array.from({ length: 500 }, (_, i) => log.append(event(i + 1))));
      assert.equal(store.batches.length, 1, `500 appends in one turn of the event loop: one batch (got ${store.batches.join(', ')})`);
      const rows = await store.rows(0, 1000);
      assert.deepEqual(rows.map((r) => r.seq), Array.from({ length: 500 }, (_, i) => i + 1));
      assert.deepEqual(rows.map((r) => JSON.parse(r.body).latencyMs), Array.from({ length: 500 }, (_, i) => i + 1), 'in the order appended');
      await log.append(event(501));
      assert.deepEqual(store.batches, [500, 1]);
      await log.close();
    });

    await t.test('an intact log verifies; checkpoints come every N records and at close', async () => {
      const loc = fresh();
      const keys = memoryKeyStore();
      await twentyRecords(loc, keys);
      const r = await verify(loc, keys);
      assert.equal(r.problem, undefined);
      assert.equal(r.ok, true);
      assert.deepEqual([r.firstSeq, r.lastSeq, r.records, r.checkpoints, r.unsigned], [1, 20, 20, 2, 0]);
    });

    const tampering: Array<[string, string, (loc: AuditLocation) => Promise<void>, { kind: string; seq: number; message: RegExp }]> = [
      ['an edited record', 'edited', (l) => l.sql(`UPDATE T(audit_records) SET body = replace(body, '"latencyMs":7', '"latencyMs":70') WHERE seq = 7`), { kind: 'edited', seq: 7, message: /content does not match its hash/ }],
      ['an edited column', 'edited', (l) => l.sql(`UPDATE T(audit_records) SET principal = 'mallory' WHERE seq = 7`), { kind: 'edited', seq: 7, message: /principal column says "mallory"/ }],
      ['a deleted record', 'deleted', (l) => l.sql('DELETE FROM T(audit_records) WHERE seq = 7'), { kind: 'missing', seq: 8, message: /record 7 is missing: record 8 follows record 6/ }],
      ['reordered records', 'reordered', async (l) => {
        // Swap the contents of rows 7 and 8 (every column but seq).
        await l.sql('UPDATE T(audit_records) SET seq = 1000 WHERE seq = 7');
        await l.sql('UPDATE T(audit_records) SET seq = 7 WHERE seq = 8');
        await l.sql('UPDATE T(audit_records) SET seq = 8 WHERE seq = 1000');
      }, { kind: 'relinked', seq: 7, message: /seq 7 holds record 8/ }],
      ['an inserted record', 'inserted', async (l) => {
        // Renumber 7… up by one, then insert a self-consistent record at 7 that links to 6.
        await l.sql('UPDATE T(audit_records) SET seq = -seq - 1 WHERE seq >= 7');
        await l.sql('UPDATE T(audit_records) SET seq = -seq WHERE seq < 0');
        const store = await l.open();
        const six = (await store.rows(5, 1))[0]!;
        await store.close();
        const forged = chainRow({ ...event(99), principal: 'mallory' }, 7, six.hash);
        await l.sql('INSERT INTO T(audit_records) (seq, time, type, principal, upstream, outcome, body, prev, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)',
          [forged.seq, forged.time, forged.type, forged.principal, forged.upstream, forged.outcome, forged.body, forged.prev, forged.hash]);
      }, { kind: 'relinked', seq: 7, message: /record 7 is not the original: the original record 7 now sits at seq 8/ }],
      ['a record re-linked after an edit', 'relinked', async (l) => {
        // Edit record 7 and give it a valid hash: record 8 no longer links to it.
        const store = await l.open();
        const seven = (await store.rows(6, 1))[0]!;
        await store.close();
        const body = seven.body.replace('"latencyMs":7', '"latencyMs":70');
        await l.sql('UPDATE T(audit_records) SET body = $1, hash = $2 WHERE seq = 7', [body, hashBody(body)]);
      }, { kind: 'relinked', seq: 8, message: /record 8 does not link to record 7/ }],
      ['a truncated tail', 'truncated', (l) => l.sql('DELETE FROM T(audit_records) WHERE seq > 17'), { kind: 'truncated', seq: 18, message: /ends at record 17, but a checkpoint was signed at seq 20/ }],
      ['a re-hashed chain', 'rewritten', async (l) => {
        // Edit record 3 and recompute every hash after it: the chain is consistent again, the signed checkpoint is not.
        const store = await l.open();
        const rows = await store.rows(0, 100);
        await store.close();
        let prev = rows[1]!.hash;
        for (const row of rows.slice(2)) {
          const record = JSON.parse(row.body);
          if (row.seq === 3) record.principal = 'mallory';
          const next = chainRow({ ...record, seq: undefined, prev: undefined }, row.seq, prev);
          await l.sql('UPDATE T(audit_records) SET body = $1, hash = $2, prev = $3, principal = $4 WHERE seq = $5', [next.body, next.hash, next.prev, next.principal, row.seq]);
          prev = next.hash;
        }
      }, { kind: 'checkpoint', seq: 10, message: /records 1–10 were rewritten/ }],
    ];
    for (const [name, , tamper, expected] of tampering) {
      await t.test(`verify names the first bad record: ${name}`, async () => {
        const loc = fresh();
        const keys = memoryKeyStore();
        await twentyRecords(loc, keys);
        await tamper(loc);
        const r = await verify(loc, keys);
        assert.equal(r.ok, false, 'tampering detected');
        assert.equal(r.problem?.kind, expected.kind, r.problem?.message);
        assert.equal(r.problem?.seq, expected.seq, r.problem?.message);
        assert.match(r.problem!.message, expected.message);
      });
    }

    await t.test('exported checkpoints catch a tail cut together with its checkpoints, and a log rewritten with another key', async () => {
      const loc = fresh();
      const keys = memoryKeyStore();
      await twentyRecords(loc, keys);
      const dir = mkdtempSync(join(tmpdir(), 'pc-audit-export-'));
      const store = await loc.open();
      const first = await exportCheckpoints(store, keys, dir);
      await store.close();
      assert.deepEqual([first.total, first.added], [2, 2]);
      assert.equal((await verify(loc, keys, first.file)).ok, true);

      // Cut the tail and the checkpoint that covered it: the log alone still looks fine…
      await loc.sql('DELETE FROM T(audit_records) WHERE seq > 15');
      await loc.sql('DELETE FROM T(audit_checkpoints) WHERE seq > 10');
      assert.equal((await verify(loc, keys)).ok, true, 'without the export, a cut after the last remaining checkpoint is invisible');
      const cut = await verify(loc, keys, first.file);
      assert.equal(cut.problem?.kind, 'truncated');
      assert.equal(cut.problem?.seq, 16);

      // A whole log forged without the key (same records but one, re-signed with the forger's own key).
      const forged = fresh();
      const forger = memoryKeyStore();
      const log = new AuditLog({ store: await forged.open(), keys: forger, log: silent, checkpointRecords: 10, checkpointSeconds: 3600 });
      for (let i = 1; i <= 20; i++) await log.append(i === 4 ? { ...event(i), principal: 'mallory' } : event(i));
      await log.close();
      assert.equal((await verify(forged, forger)).ok, true, 'consistent with its own key');
      const against = await verify(forged, forger, first.file);
      assert.equal(against.problem?.kind, 'checkpoint');
      assert.equal(against.problem?.seq, 10);

      // Merging the forged log's checkpoints into the export is refused.
      const fstore = await forged.open();
      await assert.rejects(exportCheckpoints(fstore, forger, first.file), /differs from the one already exported/);
      await fstore.close();
    });

    await t.test('retention prunes a prefix up to a checkpoint, which stays as the anchor', async () => {
      const loc = fresh();
      const keys = memoryKeyStore();
      await twentyRecords(loc, keys);
      const dir = mkdtempSync(join(tmpdir(), 'pc-audit-export-'));
      let store = await loc.open();
      const exported = await exportCheckpoints(store, keys, dir);
      const result = await store.prune(Date.now() + 1000);
      assert.deepEqual([result.pruned, result.anchor?.seq], [20, 20], 'up to the newest checkpoint before the cutoff');
      await store.close();
      const log = new AuditLog({ store: await loc.open(), keys, log: silent, checkpointRecords: 10, checkpointSeconds: 3600 });
      await Promise.all([21, 22, 23].map((i) => log.append(event(i))));
      await log.close();
      const r = await verify(loc, keys, exported.file);
      assert.equal(r.problem, undefined);
      assert.deepEqual([r.anchorSeq, r.firstSeq, r.lastSeq, r.exportedBeforeAnchor], [20, 21, 23, 1]);

      // The first retained record must still link to the anchor.
      await loc.sql('DELETE FROM T(audit_records) WHERE seq = 21');
      store = await loc.open();
      const bad = await verifyLog(store, keys.trustedKeys());
      await store.close();
      assert.equal(bad.problem?.kind, 'missing');
      assert.equal(bad.problem?.seq, 22);
    });

    await t.test('AuditLog.prune applies retentionDays and records the pruning in the log', async () => {
      const loc = fresh();
      const keys = memoryKeyStore();
      await twentyRecords(loc, keys);
      const log = new AuditLog({ store: await loc.open(), keys, log: silent, checkpointRecords: 10, checkpointSeconds: 3600, retentionDays: 30 });
      assert.equal((await log.prune()).pruned, 0, 'nothing is 30 days old');
      const result = await log.prune(Date.now() + 31 * 86_400_000);
      assert.deepEqual([result.pruned, result.anchor?.seq], [20, 20]);
      await log.close();
      const store = await loc.open();
      const rows = await store.rows(0, 100);
      const r = await verifyLog(store, keys.trustedKeys());
      await store.close();
      assert.deepEqual(rows.map((x) => [x.seq, x.type]), [[21, 'audit.prune']]);
      assert.deepEqual(JSON.parse(rows[0]!.body).detail, { pruned: 20, anchorSeq: 20, retentionDays: 30 });
      assert.equal(r.ok, true, r.problem?.message);
    });

    await t.test('timed checkpoints sign the head only when records were added', async () => {
      const loc = fresh();
      const keys = memoryKeyStore();
      const log = new AuditLog({ store: await loc.open(), keys, log: silent, checkpointRecords: 1000, checkpointSeconds: 3600 });
      assert.equal(await log.checkpoint(), undefined, 'empty log: nothing to sign');
      await log.append(event(1));
      assert.equal((await log.checkpoint())?.seq, 1);
      assert.equal(await log.checkpoint(), undefined, 'no new records');
      await log.close();
    });
  });
}
