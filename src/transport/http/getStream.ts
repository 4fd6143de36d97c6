/**
 * GET on a legacy (2025-era) session: the standalone stream for messages not tied to a request, or, with
 * Last-Event-ID, the resumption of a stream the client lost: what it missed is replayed from the EventStore and the
 * rest of that stream continues here.
 */
import type { ServerResponse } from 'node:http';
import type { JsonRpcMessage } from '../../core/jsonrpc.js';
import { failure } from '../../core/jsonrpc.js';
import { GatewayError } from '../../core/errors.js';
import { ErrorCode } from '../../core/protocol.js';
import type { Gateway } from '../../gateway.js';
import type { LegacySession } from '../session.js';
import { SseStream } from './sse.js';
import type { StreamLog } from './streamLog.js';

const STANDALONE = 'standalone';
const KEEP_ALIVE_MS = 15_000;

export async function serveGet(gw: Gateway, logs: ReadonlyMap<string, StreamLog>, session: LegacySession, res: ServerResponse, lastEventId: string | undefined): Promise<void> {
  const maxBufferedBytes = gw.config.limits.sseBufferBytes;
  if (lastEventId !== undefined) {
    const replay = await gw.storage.events.replayAfter(session.id, lastEventId);
    if (!replay) throw new GatewayError('PC_NOT_FOUND', 'unknown or expired Last-Event-ID');
    const stream = new SseStream(res, { maxBufferedBytes, keepAliveMs: KEEP_ALIVE_MS }, { 'Mcp-Session-Id': session.id });
    for (const e of replay.events) if (e.data) stream.send(e.data, e.eventId);
    if (replay.streamId === STANDALONE) return attachStandalone(gw, session, stream);
    const live = logs.get(replay.streamId);
    if (live) live.attach(stream);
    else stream.end(); // that stream already finished: everything it had was replayed
    return;
  }
  if (session.standalone) {
    res.writeHead(409, { 'Content-Type': 'application/json' })
      .end(JSON.stringify(failure(null, ErrorCode.InvalidRequest, 'Conflict: only one standalone SSE stream is allowed per session')));
    return;
  }
  await attachStandalone(gw, session, new SseStream(res, { maxBufferedBytes, keepAliveMs: KEEP_ALIVE_MS }, { 'Mcp-Session-Id': session.id }));
}

/** Makes the stream the session's standalone stream; its events are stored, so it too can be resumed. */
async function attachStandalone(gw: Gateway, session: LegacySession, stream: SseStream): Promise<void> {
  const store = gw.storage.events;
  // The priming event's id is a stored one, so a client that reconnects at once can resume from it.
  stream.prime(await store.append(session.id, STANDALONE, ''));
  let chain = Promise.resolve();
  const sink = (m: JsonRpcMessage): boolean => {
    if (stream.closed) return false;
    const data = JSON.stringify(m);
    chain = chain.then(async () => { const id = await store.append(session.id, STANDALONE, data); stream.send(data, id); }).catch(() => {});
    return true;
  };
  session.standalone = sink;
  stream.onClosed(() => { if (session.standalone === sink) session.standalone = undefined; });
  session.flushBacklog();
}
