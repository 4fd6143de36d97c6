import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cancellation } from '../src/core/cancel.js';

test('Cancellation calls each listener once, skips removed ones and late ones', () => {
  const c = new Cancellation();
  const calls: string[] = [];
  const a = () => calls.push('a');
  const b = () => calls.push('b');
  c.addEventListener('abort', a);
  c.addEventListener('abort', b);
  c.removeEventListener('abort', b);
  c.abort(new Error('why'));
  c.abort();
  c.addEventListener('abort', () => calls.push('late'));
  assert.deepEqual(calls, ['a']);
  assert.equal(c.aborted, true);
  assert.equal((c.reason as Error).message, 'why');
});
