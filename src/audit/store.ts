/**
 * Where audit records are kept. Every store appends a whole batch in one transaction that reads the chain's head
 * inside it (so writers in several processes, or several replicas, extend one chain), and decides the checkpoint
 * in the same transaction. Implementations: SQLite (file or in-memory), PostgreSQL.
 */
import type { Checkpoint } from './checkpoint.js';
import type { EncodedEvent } from './chain.js';
import type { AuditFilter, AuditRow, ChainHead } from './record.js';

/** Given the head a batch ends at and the last checkpoint, returns the checkpoint to store, if any. */
export type CheckpointRule = (head: ChainHead, last: Checkpoint | undefined) => Checkpoint | undefined;

export interface PruneResult {
  /** Records deleted. */
  pruned: number;
  /** The checkpoint the retained log now starts from. */
  anchor: Checkpoint | undefined;
}

export interface AuditStore {
  /** "sqlite", "memory" or "postgres". */
  readonly kind: string;
  /**
   * Appends may be issued before earlier ones settle: the store keeps them in order and groups what queues up
   * (the SQLite writer thread). Otherwise the log waits for each batch before sending the next.
   */
  readonly pipelined?: boolean;
  /** Appends the events in order, one transaction and one commit for the batch. */
  append(events: readonly EncodedEvent[], rule: CheckpointRule): Promise<void>;
  /** Applies the rule to the current head outside a batch (timed checkpoints); returns what it stored. */
  checkpoint(rule: CheckpointRule): Promise<Checkpoint | undefined>;
  /** The newest record; after pruning everything, the anchor; undefined for an empty log. */
  head(): Promise<ChainHead | undefined>;
  /** The checkpoint pruning left the log starting from (the record after it links to its hash). */
  anchor(): Promise<Checkpoint | undefined>;
  /** Rows after `afterSeq`, oldest first, at most `limit`, matching `filter`. */
  rows(afterSeq: number, limit: number, filter?: AuditFilter): Promise<AuditRow[]>;
  /** Every stored checkpoint, oldest first. */
  checkpoints(): Promise<Checkpoint[]>;
  /** The newest stored checkpoint. */
  lastCheckpoint(): Promise<Checkpoint | undefined>;
  /**
   * Deletes the records up to the newest checkpoint signed before `cutoff` (epoch ms), and the checkpoints before
   * it, and makes that checkpoint the anchor: the chain stays verifiable from there.
   */
  prune(cutoff: number): Promise<PruneResult>;
  close(): Promise<void>;
}

/** "admin.*" or "admin." matches every type with that prefix; anything else matches exactly. */
export function typePattern(type: string): { prefix: string } | { exact: string } {
  return type.endsWith('*') ? { prefix: type.slice(0, -1) } : { exact: type };
}
