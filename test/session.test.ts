/** LegacySession: server-to-client requests not tied to a call wait (briefly) for the standalone stream. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LegacySession } from '../src/transport/session.js';
import type { NotificationHub } from '../src/endpoint/notifications.js';
import type { Endpoint } from '../src/endpoint/endpoint.js';

const hub = { add: () => () => {} } as unknown as NotificationHub;
const ep = { key: 'server:x', name: 'x', kind: 'server', members: [], path: '/servers/x/mcp' } as Endpoint;

test('a request made before the GET stream opens is sent when it opens, and its answer resolves it', async () => {
  const s = new LegacySession('s1', ep, 'local', '2025-11-25', { roots: {} }, undefined, hub);
  const answer = s.request('roots/list', undefined, new AbortController().signal);
  const sent: any[] = [];
  s.standalone = (m) => { sent.push(m); return true; };
  s.flushBacklog();
  assert.equal(sent.length, 1);
  assert.equal(sent[0].method, 'roots/list');
  assert.equal(s.resolveResponse({ jsonrpc: '2.0', id: sent[0].id, result: { roots: [] } }), true);
  assert.deepEqual(await answer, { roots: [] });
  s.close();
});

test('a waiting request that is cancelled is not sent later', async () => {
  const s = new LegacySession('s2', ep, 'local', '2025-11-25', {}, undefined, hub);
  const ac = new AbortController();
  const answer = s.request('roots/list', undefined, ac.signal);
  ac.abort();
  await assert.rejects(answer);
  const sent: any[] = [];
  s.standalone = (m) => { sent.push(m); return true; };
  s.flushBacklog();
  assert.deepEqual(sent.filter((m) => m.method === 'roots/list'), []);
  s.close();
});
