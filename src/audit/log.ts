/**
 * The audit log other parts write to. `append` resolves once the record is committed: concurrent appends are
 * gathered into one batch (everything appended before the writer's next turn of the event loop), written in one
 * transaction with one commit, and each caller's promise settles with its batch (group commit). Checkpoints are
 * signed every `checkpointRecords` records inside the batch that reaches them, and every `checkpointSeconds` when
 * records were added; retention prunes whole prefixes up to a checkpoint.
 */
import type { KeyObject } from 'node:crypto';
import type { Logger } from '../core/log.js';
import { signCheckpoint, type Checkpoint } from './checkpoint.js';
import { boundEvent, CHAIN_FIELDS_BYTES, contentRenderer, type ContentMode, type ContentRenderer } from './content.js';
import type { AuditKeyStore } from './keys.js';
import { encodedBytes, encodeEvent, type EncodedEvent } from './chain.js';
import type { AuditEvent } from './record.js';
import type { AuditStore, CheckpointRule, PruneResult } from './store.js';

export interface AuditLogOptions {
  store: AuditStore;
  keys: AuditKeyStore;
  log: Logger;
  content?: ContentMode;
  maxRecordBytes?: number;
  checkpointRecords?: number;
  checkpointSeconds?: number;
  /** 0: keep everything. */
  retentionDays?: number;
}

/** Bounds one transaction (and the memory a stalled store can pin): the rest waits for the next batch. */
const MAX_BATCH = 5000;
const DAY_MS = 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;

interface Pending { event: EncodedEvent; resolve: () => void; reject: (e: unknown) => void }

export class AuditLog {
  readonly store: AuditStore;
  /** Renders arguments and results for a record, per audit.content. */
  readonly render: ContentRenderer;
  private readonly keys: AuditKeyStore;
  private readonly log: Logger;
  private readonly maxRecordBytes: number;
  private readonly everyRecords: number;
  private readonly retentionDays: number;
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  /** Batches sent to a pipelined store and not yet committed. */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly timers: NodeJS.Timeout[] = [];
  private closed = false;

  constructor(opts: AuditLogOptions) {
    this.store = opts.store;
    this.keys = opts.keys;
    this.log = opts.log;
    this.render = contentRenderer(opts.content ?? 'hashes');
    this.maxRecordBytes = opts.maxRecordBytes ?? 65_536;
    this.everyRecords = opts.checkpointRecords ?? 1000;
    this.retentionDays = opts.retentionDays ?? 0;
    // Fails now, not on the first checkpoint, when the key cannot be read or created.
    this.keys.signingKey();
    const seconds = opts.checkpointSeconds ?? 60;
    this.timers.push(setInterval(() => void this.checkpoint().catch((e) => this.failed('timed checkpoint', e)), seconds * 1000));
    if (this.retentionDays > 0) {
      const prune = () => void this.prune().catch((e) => this.failed('retention', e));
      this.timers.push(setInterval(prune, PRUNE_EVERY_MS), setTimeout(prune, 0));
    }
    for (const t of this.timers) t.unref();
  }

  /** Records the event; resolves once it is durable. Rejects when the store fails (the caller must not report success). */
  append(event: AuditEvent): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the audit log is closed'));
    let encoded: EncodedEvent;
    try {
      const timed = event.time === undefined ? { ...event, time: Date.now() } : event;
      encoded = encodeEvent(timed);
      // Serialised once; only an event that turns out too large is bounded and serialised again.
      if (encodedBytes(encoded, this.maxRecordBytes) > this.maxRecordBytes - CHAIN_FIELDS_BYTES) encoded = encodeEvent(boundEvent(timed, this.maxRecordBytes));
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ event: encoded, resolve, reject });
      this.flushing ??= new Promise<void>((done) => setImmediate(done)).then(() => this.drain());
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length) {
        const batch = this.pending.splice(0, MAX_BATCH);
        const written = this.store.append(batch.map((p) => p.event), this.batchRule).then(
          () => { for (const p of batch) p.resolve(); },
          (e: unknown) => {
            this.failed('append', e);
            for (const p of batch) p.reject(e);
          },
        );
        if (!this.store.pipelined) {
          await written;
          continue;
        }
        this.inFlight.add(written);
        void written.finally(() => this.inFlight.delete(written));
      }
    } finally {
      this.flushing = undefined;
    }
  }

  private readonly batchRule: CheckpointRule = (head, last) =>
    head.seq - (last?.seq ?? 0) >= this.everyRecords ? signCheckpoint(head, this.keys.signingKey()) : undefined;

  /** The public keys this log's checkpoints verify with (the console's chain status). */
  trustedKeys(): Map<string, KeyObject> {
    return this.keys.trustedKeys();
  }

  /** Signs a checkpoint of the head now when records were added since the last one. */
  checkpoint(): Promise<Checkpoint | undefined> {
    return this.store.checkpoint((head, last) => (head.seq > (last?.seq ?? 0) ? signCheckpoint(head, this.keys.signingKey()) : undefined));
  }

  /** Applies audit.retentionDays (a no-op when 0); records the pruning in the log itself. */
  async prune(now = Date.now()): Promise<PruneResult> {
    if (this.retentionDays <= 0) return { pruned: 0, anchor: await this.store.anchor() };
    const result = await this.store.prune(now - this.retentionDays * DAY_MS);
    if (result.pruned > 0 && result.anchor) {
      await this.append({ type: 'audit.prune', outcome: 'ok', detail: { pruned: result.pruned, anchorSeq: result.anchor.seq, retentionDays: this.retentionDays } });
    }
    return result;
  }

  /** Waits for everything appended so far, signs a final checkpoint, closes the store. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    while (this.flushing || this.inFlight.size) await (this.flushing ?? Promise.all(this.inFlight));
    try {
      await this.checkpoint();
    } catch (e) {
      this.failed('closing checkpoint', e);
    }
    await this.store.close();
  }

  private failed(what: string, e: unknown): void {
    this.log.error({ err: (e as Error).message }, `audit log: ${what} failed`);
  }
}
