/**
 * The SQLite audit store the gateway uses for a database file: appends go to a writer thread (sqliteWorker.ts) and
 * resolve after its commit; reads, pruning and the checkpoint decision use a connection on this thread (WAL readers
 * never wait for the writer). The checkpoint a batch earns is decided here and written by the writer right after
 * the batch, in its own transaction.
 */
import { Worker } from 'node:worker_threads';
import type { Checkpoint } from './checkpoint.js';
import type { EncodedEvent } from './chain.js';
import { createSqliteAuditStore, type AuditDurability } from './sqlite.js';
import type { AuditStore, CheckpointRule } from './store.js';
import type { WriterReply, WriterRequest } from './sqliteWorker.js';

type Pending = { resolve: (r: WriterReply) => void; reject: (e: Error) => void };
type Request = WriterRequest extends infer R ? (R extends WriterRequest ? Omit<R, 'id'> : never) : never;

export async function createThreadedSqliteAuditStore(path: string, durability: AuditDurability = 'power-loss'): Promise<AuditStore> {
  // Opened here first: migrations run and errors surface before the writer starts.
  const reader = createSqliteAuditStore(path, durability);
  const worker = startWriter(path, durability);
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let dead: Error | undefined;
  worker.on('message', (r: WriterReply) => {
    const p = pending.get(r.id);
    pending.delete(r.id);
    if (!p) return;
    if (r.error !== undefined) p.reject(new Error(r.error));
    else p.resolve(r);
  });
  const fail = (e: Error) => {
    dead ??= e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`the audit writer thread exited (${code})`)));
  const call = (req: Request): Promise<WriterReply> => {
    if (dead) return Promise.reject(dead);
    const id = ++nextId;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...req, id });
    });
  };
  await new Promise<void>((resolve, reject) => {
    worker.once('online', resolve);
    worker.once('error', reject);
  });

  // Replies to appends written in one transaction carry the same head: sign it once.
  let signedUpTo = 0;
  const write = async (cp: Checkpoint | undefined): Promise<Checkpoint | undefined> => {
    if (!cp || cp.seq <= signedUpTo) return undefined;
    signedUpTo = cp.seq;
    await call({ op: 'checkpoint', checkpoint: cp });
    return cp;
  };

  return {
    kind: 'sqlite',
    pipelined: true,
    async append(events: readonly EncodedEvent[], rule: CheckpointRule) {
      if (!events.length) return;
      const r = await call({ op: 'append', events: events as EncodedEvent[] });
      await write(rule(r.head!, r.last));
    },
    async checkpoint(rule) {
      const head = await reader.head();
      if (!head) return undefined;
      return write(rule(head, await reader.lastCheckpoint()));
    },
    head: () => reader.head(),
    anchor: () => reader.anchor(),
    rows: (after, limit, filter) => reader.rows(after, limit, filter),
    checkpoints: () => reader.checkpoints(),
    lastCheckpoint: () => reader.lastCheckpoint(),
    prune: (cutoff) => reader.prune(cutoff),
    async close() {
      if (!dead) {
        await call({ op: 'close' }).catch(() => {});
        await worker.terminate();
      }
      await reader.close();
    },
  };
}

function startWriter(path: string, durability: AuditDurability): Worker {
  const workerData = { path, durability };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./sqliteWorker.js', import.meta.url), { workerData });
  // Running from the TypeScript source: the thread registers tsx itself (loader hooks are not inherited on Node 20).
  const entry = new URL('./sqliteWorker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
