/**
 * The resumable event log of one legacy SSE stream: every event is stored with an id before it is written, so a
 * client that lost the stream can reconnect with Last-Event-ID, get what it missed, and receive the rest there.
 */
import type { EventStore } from '../../storage/types.js';
import type { SseStream } from './sse.js';

export class StreamLog {
  private resumed: SseStream | undefined;

  constructor(private readonly store: EventStore, private readonly sessionId: string, readonly streamId: string) {}

  append(data: string): Promise<string> {
    return this.store.append(this.sessionId, this.streamId, data);
  }

  /** A reconnected stream picks up this stream's later events. */
  attach(sse: SseStream): void {
    this.resumed = sse;
  }

  deliverResumed(data: string, id: string): void {
    if (this.resumed && !this.resumed.closed) this.resumed.send(data, id);
  }

  endResumed(): void {
    this.resumed?.end();
  }
}
