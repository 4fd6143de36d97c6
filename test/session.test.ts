/**
 * LegacySession: server-to-client requests not tied to a call wait (briefly) for the standalone stream.
 * SessionManager: what an idle sweep ends, and what it keeps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LegacySession, SessionManager } from '../src/transport/session.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { createLogger } from '../src/core/log.js';
import { Cancellation } from '../src/core/cancel.js';
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

test('a session busy past the idle timeout keeps its stored record and event log (a lost stream can still resume)', async () => {
  const storage = createMemoryStorage();
  const sessions = new SessionManager({ idleTimeoutSeconds: 1, max: 10, replayEvents: 256 }, storage, hub, createLogger('silent'), async () => {});
  try {
    const busy = await sessions.create(ep, 'local', '2025-11-25', {}, undefined);
    const idle = await sessions.create(ep, 'local', '2025-11-25', {}, undefined);
    const primed = await storage.events.append(busy.id, 's1', '');
    busy.inflight.set('42', new Cancellation()); // a call still running
    // Two sweeps (one per second) after the idle timeout has passed for both.
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(sessions.size, 1, 'the idle session ended, the busy one did not');
    assert.deepEqual(await storage.events.replayAfter(busy.id, primed), { streamId: 's1', events: [] });
    assert.ok(await storage.sessions.get(busy.id), 'the busy session is still in storage');
    assert.equal(await storage.sessions.get(idle.id), undefined);
  } finally {
    await sessions.close();
  }
});
