/**
 * Live updates of the approvals queue: one server-sent-events stream per open console page, told "changed" when a
 * call is parked or decided in this process. The page then re-reads the queue (the stream carries no approval
 * data, so it needs no authorisation beyond reading the queue); decisions made elsewhere (another replica, the CLI)
 * show at the page's periodic refresh.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Approvals } from '../approvals/approvals.js';

const HEARTBEAT_MS = 15_000;
/** Bounds the open streams (each is a socket and a timer). */
const MAX_STREAMS = 100;

export class ApprovalFeed {
  private readonly streams = new Set<ServerResponse>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(approvals: Approvals) {
    approvals.on({
      requested: (v) => this.send({ kind: 'requested', id: v.id }),
      decided: (v) => this.send({ kind: 'decided', id: v.id, status: v.status }),
    });
    this.heartbeat = setInterval(() => { for (const s of this.streams) s.write(': keep-alive\n\n'); }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  subscribe(req: IncomingMessage, res: ServerResponse): void {
    if (this.streams.size >= MAX_STREAMS) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '10' }).end(JSON.stringify({ error: 'too many live console streams' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    res.write('retry: 3000\n\n');
    this.streams.add(res);
    const done = () => this.streams.delete(res);
    req.once('close', done);
    res.once('close', done);
  }

  private send(data: Record<string, string>): void {
    const frame = `event: changed\ndata: ${JSON.stringify(data)}\n\n`;
    for (const s of this.streams) s.write(frame);
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const s of this.streams) s.end();
    this.streams.clear();
  }
}
