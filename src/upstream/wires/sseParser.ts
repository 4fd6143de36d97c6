/**
 * Incremental Server-Sent Events parser following the WHATWG "event stream interpretation" rules:
 * CRLF / CR / LF line endings (also split across chunks), `data:` lines joined with LF, `id:` persisting across
 * events (and ignored when it contains NUL), `event:`, `retry:` (digits only), comments, one optional leading
 * space after the colon, a leading BOM, and an unterminated event at end of stream being discarded.
 */

export interface SseEvent {
  /** The `event:` field, or 'message' when absent. */
  type: string;
  data: string;
  /** The last event ID in effect when this event was dispatched ('' when none was ever set). */
  id: string;
}

import { StringDecoder } from 'node:string_decoder';

export interface SseParserOptions {
  onEvent: (event: SseEvent) => void;
  /** A valid `retry:` field (milliseconds). */
  onRetry?: (ms: number) => void;
  /** An event (or line) grew beyond maxEventChars; it is dropped up to the next blank line. */
  onError?: (err: Error) => void;
  /** Bound on one event's accumulated data plus its pending line, in UTF-16 units. Default 16 MiB. */
  maxEventChars?: number;
}

export class SseParser {
  /** Persistent across events, as the spec's "last event ID buffer" is. */
  lastEventId = '';
  /** StringDecoder, not TextDecoder: creating a TextDecoder looks up an ICU converter, and there is one parser per answer. */
  private readonly decoder = new StringDecoder('utf8');
  private readonly max: number;
  private partial = '';
  private pendingCR = false;
  private started = false;
  private data = '';
  private hasData = false;
  private type = '';
  /** Dropping the rest of an oversized event, up to its blank line. */
  private discarding = false;
  /** Dropping the rest of an oversized line, up to its terminator. */
  private skipLine = false;
  private readonly lineEnd = /\r\n|\r|\n/g;

  constructor(private readonly opts: SseParserOptions) {
    this.max = opts.maxEventChars ?? 16 * 1024 * 1024;
  }

  push(chunk: Uint8Array | string): void {
    let text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk as Buffer);
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.pendingCR && text.length > 0) {
      // A CR ended the previous chunk: a leading LF here belongs to the same line terminator.
      this.pendingCR = false;
      if (text.charCodeAt(0) === 0x0a) text = text.slice(1);
    }
    let pos = 0;
    const re = this.lineEnd;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const line = this.partial + text.slice(pos, m.index);
      this.partial = '';
      pos = m.index + m[0].length;
      if (m[0] === '\r' && pos === text.length) this.pendingCR = true;
      if (this.skipLine) this.skipLine = false;
      else this.line(line);
    }
    if (pos < text.length && !this.skipLine) {
      this.partial += text.slice(pos);
      if (this.partial.length + this.data.length > this.max) {
        this.overflow();
        this.skipLine = true;
      }
    }
  }

  /**
   * End of stream: flushes the decoder; a trailing event without its blank line is discarded, per the spec.
   * The parser can then take a new stream (a reconnection); lastEventId carries over.
   */
  end(): void {
    const rest = this.decoder.end();
    if (rest) this.push(rest);
    this.started = false;
    this.pendingCR = false;
    this.partial = '';
    this.resetEvent();
    this.discarding = false;
    this.skipLine = false;
  }

  private overflow(): void {
    this.partial = '';
    this.resetEvent();
    this.discarding = true;
    this.opts.onError?.(new Error(`SSE event exceeds ${this.max} characters; dropped`));
  }

  private resetEvent(): void {
    this.data = '';
    this.hasData = false;
    this.type = '';
  }

  private line(line: string): void {
    if (line.length === 0) {
      if (this.discarding) {
        this.discarding = false;
        return;
      }
      this.dispatch();
      return;
    }
    if (this.discarding || line.charCodeAt(0) === 0x3a /* ':' comment */) return;
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === 0x20 ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    switch (field) {
      case 'data':
        this.data = this.hasData ? `${this.data}\n${value}` : value;
        this.hasData = true;
        if (this.data.length > this.max) this.overflow();
        break;
      case 'event':
        this.type = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.opts.onRetry?.(Number(value));
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(): void {
    if (!this.hasData) {
      // An event without data (e.g. an id-only priming event) only updates lastEventId.
      this.type = '';
      return;
    }
    const event: SseEvent = { type: this.type || 'message', data: this.data, id: this.lastEventId };
    this.resetEvent();
    this.opts.onEvent(event);
  }
}
