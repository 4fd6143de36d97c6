/**
 * The SQLite audit writer's thread (started by sqliteThread.ts). Hashing, inserting and above all the fsync of each
 * commit happen here, so the gateway's event loop keeps serving requests, and sending further batches, while a
 * batch is made durable. Appends that queue up while a commit runs are written together in the next transaction
 * (group commit on this side too); each is answered only after that commit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Checkpoint } from './checkpoint.js';
import type { EncodedEvent } from './chain.js';
import type { ChainHead } from './record.js';
import { createSqliteAuditStore, type AuditDurability } from './sqlite.js';

export type WriterRequest =
  | { id: number; op: 'append'; events: EncodedEvent[] }
  | { id: number; op: 'checkpoint'; checkpoint: Checkpoint }
  | { id: number; op: 'close' };

export type WriterReply = { id: number; head?: ChainHead; last?: Checkpoint; error?: string };

const port = parentPort!;
const { path, durability } = workerData as { path: string; durability: AuditDurability };
const store = createSqliteAuditStore(path, durability);
const waiting: WriterRequest[] = [];
let scheduled = false;

port.on('message', (msg: WriterRequest) => {
  waiting.push(msg);
  if (!scheduled) {
    scheduled = true;
    setImmediate(() => void work());
  }
});

async function work(): Promise<void> {
  while (waiting.length) {
    const first = waiting[0]!;
    if (first.op !== 'append') {
      waiting.shift();
      await handle(first);
      continue;
    }
    // Every append queued in a row goes into one transaction.
    let n = 1;
    while (n < waiting.length && waiting[n]!.op === 'append') n++;
    const group = waiting.splice(0, n) as Array<Extract<WriterRequest, { op: 'append' }>>;
    const ending: Omit<WriterReply, 'id'> = {};
    try {
      await store.append(group.flatMap((g) => g.events), (head, last) => {
        ending.head = head;
        if (last) ending.last = last;
        return undefined;
      });
    } catch (e) {
      ending.error = (e as Error).message;
    }
    for (const g of group) port.postMessage({ ...ending, id: g.id });
  }
  scheduled = false;
}

async function handle(msg: Exclude<WriterRequest, { op: 'append' }>): Promise<void> {
  const reply: WriterReply = { id: msg.id };
  try {
    if (msg.op === 'checkpoint') {
      const cp = msg.checkpoint;
      await store.checkpoint(() => cp);
    } else {
      await store.close();
    }
  } catch (e) {
    reply.error = (e as Error).message;
  }
  port.postMessage(reply);
  if (msg.op === 'close') port.close();
}
