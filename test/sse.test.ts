/** SseStream: frames, and backpressure with a bounded buffer (a reader too slow to keep up is cut off). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { SseStream } from '../src/transport/http/sse.js';

class FakeResponse extends EventEmitter {
  chunks: string[] = [];
  full = false;
  destroyed = false;
  ended = false;
  writeHead() { return this; }
  flushHeaders() {}
  write(chunk: string) { this.chunks.push(chunk); return !this.full; }
  end() { this.ended = true; this.emit('close'); }
  destroy() { this.destroyed = true; this.emit('close'); }
}

test('events are framed with ids, multi-line data and a retry hint', () => {
  const res = new FakeResponse();
  const s = new SseStream(res as unknown as ServerResponse, { maxBufferedBytes: 1024 });
  s.prime('p1', 500);
  s.send('{"a":1}\n{"b":2}', 'e1');
  assert.deepEqual(res.chunks, ['retry: 500\nid: p1\ndata: \n\n', 'id: e1\nevent: message\ndata: {"a":1}\ndata: {"b":2}\n\n']);
});

test('while the socket is full, frames queue up to the budget, then the stream is destroyed', () => {
  const res = new FakeResponse();
  let closed = 0;
  const s = new SseStream(res as unknown as ServerResponse, { maxBufferedBytes: 200, onClose: () => { closed++; } });
  res.full = true;
  assert.equal(s.send('x'.repeat(50)), true); // written; the socket reports full
  for (let i = 0; i < 2; i++) assert.equal(s.send('y'.repeat(50)), true); // queued (within budget)
  assert.equal(res.chunks.length, 1);
  assert.equal(s.send('z'.repeat(150)), false); // over budget: cut off
  assert.equal(res.destroyed, true);
  assert.equal(s.closed, true);
  assert.equal(closed, 1);
  assert.equal(s.send('after'), false);
});

test('a drain releases queued frames in order', () => {
  const res = new FakeResponse();
  const s = new SseStream(res as unknown as ServerResponse, { maxBufferedBytes: 10_000 });
  res.full = true;
  s.send('1');
  s.send('2');
  s.send('3');
  res.full = false;
  res.emit('drain');
  assert.deepEqual(res.chunks.map((c) => /data: (\d)/.exec(c)![1]), ['1', '2', '3']);
});
