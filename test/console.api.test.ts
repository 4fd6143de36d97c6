/**
 * The web console's HTTP surface without a browser, on a gateway without authentication (the local operator on
 * loopback): security headers and cookies on every response, CSRF (token and Origin) on every state-changing
 * request, GETs that change nothing, the approvals API deciding a real waiting call (and the audit record of it),
 * the servers review, sessions revoked through the API, the policy view, the metrics series; plus the units
 * (percentiles, role mapping).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { ROOT, modern, post, startTestGateway } from './support/gateway.js';
import { memoryServer, memoryWires } from './support/memoryUpstream.js';
import type { RunningGateway } from '../src/gateway.js';
import { CONSOLE_CSP, setConsoleHeaders } from '../src/console/http.js';
import { ConsoleApp } from '../src/console/console.js';
import { ConsoleMetrics, percentile } from '../src/console/metrics.js';
import { consoleRolesOf } from '../src/console/signin.js';
import { searchAudit } from '../src/console/auditQuery.js';

before(() => {
  // The bundle the gateway serves (npm run build does the same).
  const b = spawnSync(process.execPath, ['scripts/build-console.mjs'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
});

describe('console units', () => {
  it('takes nearest-rank percentiles and keeps one bucket per second', () => {
    assert.equal(percentile([], 0.5), null);
    assert.equal(percentile([1, 2, 3, 4], 0.5), 2);
    assert.equal(percentile([1, 2, 3, 4], 0.99), 4);
    let now = 1_000_000;
    const m = new ConsoleMetrics(() => now);
    m.record(10, { error: false, denied: false });
    m.record(30, { error: true, denied: true });
    now += 1000;
    m.record(5, { error: false, denied: false });
    const s = m.snapshot();
    assert.equal(s.points.length, 300);
    assert.deepEqual(s.totals, { calls: 3, errors: 1, denials: 1 });
    const [a, b] = s.points.slice(-2);
    assert.deepEqual([a!.calls, a!.p50, a!.p99, b!.calls, b!.p50], [2, 10, 30, 1, 5]);
    now += 301_000;
    assert.equal(m.snapshot().totals.calls, 0, 'old seconds fall out of the window');
  });

  it('sends HSTS over TLS only', () => {
    const headers = (encrypted: boolean) => {
      const set = new Map<string, string>();
      setConsoleHeaders({ socket: { encrypted } } as never, { setHeader: (k: string, v: string) => set.set(k, v) } as never);
      return set;
    };
    assert.equal(headers(true).get('strict-transport-security'), 'max-age=31536000');
    assert.equal(headers(false).has('strict-transport-security'), false);
    assert.equal(headers(false).get('content-security-policy'), CONSOLE_CSP);
  });

  it('maps token roles and groups to console roles', () => {
    const cfg = { enabled: true, path: '/console', sessionTtlSeconds: 60, roles: { admin: ['admin'], approver: ['approver', 'ops'], auditor: ['auditor'] } };
    assert.deepEqual(consoleRolesOf({ roles: [], groups: ['ops'] }, cfg), ['approver']);
    assert.deepEqual(consoleRolesOf({ roles: ['admin', 'auditor'], groups: [] }, cfg), ['admin', 'auditor']);
    assert.deepEqual(consoleRolesOf({ roles: ['user'], groups: ['users'] }, cfg), []);
  });
});

const TOOLS = [
  { name: 'delete', description: 'Deletes a file.', inputSchema: { type: 'object', properties: { path: { type: 'string' } } } },
  { name: 'read', description: 'Reads a file.', inputSchema: { type: 'object', properties: { path: { type: 'string' } } } },
];

describe('console over HTTP (auth.mode none: the local operator)', () => {
  const fs = memoryServer({ tools: TOOLS, call: (name, args) => ({ content: [{ type: 'text', text: `${name} ${String(args.path ?? '')} done` }] }) });
  let gw: RunningGateway;
  let cookie = '';
  let csrf = '';
  let origin = '';
  before(async () => {
    gw = await startTestGateway(`policy:
  rules:
    - { id: everyone, effect: allow }
    - { id: deletions, effect: approval, tools: ["fs/delete"] }
    - { id: no-reads-for-guests, effect: deny, tools: ["fs/read"], principals: { roles: [guest] } }
approvals: { waitSeconds: 1, fourEyes: false }
upstreams:
  fs: { transport: stdio, command: unused }
`, {}, { createWire: memoryWires({ fs }) });
    origin = gw.url;
    const page = await fetch(`${gw.url}/console/`);
    cookie = (page.headers.get('set-cookie') ?? '').split(';', 1)[0]!;
    const me = await (await api('GET', 'me')).json() as { csrf: string };
    csrf = me.csrf;
  });
  after(async () => { await gw?.close(); });

  const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => fetch(`${gw.url}/console/api/${path}`, {
    method,
    headers: { cookie, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(method === 'POST' ? { origin, 'x-csrf-token': csrf } : {}), ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });

  it('serves the app with strict security headers and a __Host- session cookie', async () => {
    const res = await fetch(`${gw.url}/console/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-security-policy'), CONSOLE_CSP);
    assert.match(CONSOLE_CSP, /default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('strict-transport-security'), null, 'no HSTS over plain http');
    assert.match(res.headers.get('set-cookie')!, /^__Host-portcullis\.console=[\w-]{43}; Path=\/; Secure; HttpOnly; SameSite=Strict; Max-Age=28800$/);
    const html = await res.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)/, 'no inline script');
    assert.doesNotMatch(html, /<style|style=/, 'no inline style');
    for (const asset of ['app.js', 'app.css']) {
      const a = await fetch(`${gw.url}/console/assets/${asset}`);
      assert.equal(a.status, 200);
      assert.equal(a.headers.get('content-security-policy'), CONSOLE_CSP);
      assert.match(a.headers.get('content-type')!, asset.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      const text = await a.text();
      assert.doesNotMatch(text, /https?:\/\/(?!www\.w3\.org)[a-z]/i, `${asset} loads nothing from elsewhere`);
    }
    const errorPage = await fetch(`${gw.url}/console/nowhere`);
    assert.equal(errorPage.status, 404);
    assert.equal(errorPage.headers.get('content-security-policy'), CONSOLE_CSP, 'error pages too');
  });

  it('answers only loopback callers without authentication', async () => {
    const app = ConsoleApp.create(gw.gateway)!;
    app.setBase(gw.url);
    const sent: { status?: number; body?: string } = {};
    const res = {
      headersSent: false, setHeader() {}, writeHead(status: number) { sent.status = status; return res; }, end(body: string) { sent.body = body; },
    };
    const req = { method: 'GET', url: '/console/api/me', headers: {}, socket: { remoteAddress: '10.1.2.3' } };
    await app.handle(req as never, res as never, '/console/api/me', gw.http.identity);
    assert.equal(sent.status, 403);
    assert.match(sent.body!, /loopback callers only/);
  });

  it('refuses the API without a session, and state changes without the CSRF token or from another origin', async () => {
    const anon = await fetch(`${gw.url}/console/api/me`);
    assert.equal(anon.status, 401);
    assert.match(((await anon.json()) as { error: string }).error, /not signed in/);
    const noToken = await api('POST', 'sessions/x/revoke', {}, { 'x-csrf-token': '' });
    assert.equal(noToken.status, 403);
    assert.match(((await noToken.json()) as { error: string }).error, /CSRF token/);
    const wrongToken = await api('POST', 'sessions/x/revoke', {}, { 'x-csrf-token': csrf.slice(0, -1) + (csrf.endsWith('A') ? 'B' : 'A') });
    assert.equal(wrongToken.status, 403);
    const otherOrigin = await api('POST', 'sessions/x/revoke', {}, { origin: 'http://127.0.0.1:1' });
    assert.equal(otherOrigin.status, 403);
    assert.match(((await otherOrigin.json()) as { error: string }).error, /cross-origin/);
    const noOrigin = await fetch(`${gw.url}/console/api/sessions/x/revoke`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf } });
    assert.equal(noOrigin.status, 403);
    // GET never changes anything: the action paths do not exist as GETs.
    const getAction = await api('GET', 'sessions/x/revoke');
    assert.equal(getAction.status, 404);
  });

  it('tells open pages at once when a call is parked or decided (server-sent events)', async () => {
    const ac = new AbortController();
    const events = await fetch(`${gw.url}/console/api/approvals/events`, { headers: { cookie }, signal: ac.signal });
    assert.equal(events.headers.get('content-type'), 'text/event-stream');
    const reader = events.body!.getReader();
    let text = '';
    const until = async (re: RegExp) => {
      while (!re.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended: ${text}`);
        text += new TextDecoder().decode(value);
      }
    };
    const m = modern('tools/call', { name: 'delete', arguments: { path: '/srv/live' } }, 21);
    const t0 = Date.now();
    const first = (await post(`${gw.url}/servers/fs/mcp`, m.body, m.headers)).json();
    const id = first.result._meta['dev.portcullis/approval'].id as string;
    await until(new RegExp(`event: changed\ndata: \\{"kind":"requested","id":"${id}"\\}`));
    await api('POST', `approvals/${id}/decide`, { decision: 'deny', reason: 'not now' });
    await until(new RegExp(`"kind":"decided","id":"${id}","status":"denied"`));
    assert.ok(Date.now() - t0 < 5000);
    ac.abort();
    await reader.cancel().catch(() => {});
  });

  it('decides a waiting call: the caller completes, the decision is audited', async () => {
    const m = modern('tools/call', { name: 'delete', arguments: { path: '/srv/<b>' } }, 11);
    const first = (await post(`${gw.url}/servers/fs/mcp`, m.body, m.headers)).json();
    assert.equal(first.result.resultType, 'input_required');
    const list = await (await api('GET', 'approvals')).json() as { approvals: Array<{ id: string; shownItem: string; arguments: unknown; status: string }> };
    const pending = list.approvals.find((a) => a.shownItem === 'delete')!;
    assert.deepEqual(pending.arguments, { path: '/srv/<b>' });
    const bad = await api('POST', `approvals/${pending.id}/decide`, { decision: 'maybe' });
    assert.equal(bad.status, 400);
    const decided = await api('POST', `approvals/${pending.id}/decide`, { decision: 'approve', reason: 'looks fine' });
    assert.equal(decided.status, 200, await decided.clone().text());
    assert.deepEqual(await decided.json(), { id: pending.id, status: 'approved' });
    const again = await api('POST', `approvals/${pending.id}/decide`, { decision: 'deny' });
    assert.equal(again.status, 409, 'decided once');
    const retry = modern('tools/call', { name: 'delete', arguments: { path: '/srv/<b>' }, requestState: first.result.requestState }, 12);
    assert.equal((await post(`${gw.url}/servers/fs/mcp`, retry.body, retry.headers)).json().result.content[0].text, 'delete /srv/<b> done');
    const found = await searchAudit(gw.gateway.audit!, { type: 'admin.console.*' });
    const rec = found.records.find((r) => r.type === 'admin.console.approvals.approve');
    assert.ok(rec, JSON.stringify(found.records.map((r) => r.type)));
    assert.equal(rec.principal, 'local');
    assert.equal(rec.outcome, 'ok');
    assert.deepEqual(rec.detail, { approval: pending.id, reason: 'looks fine' });
    assert.ok(found.records.some((r) => r.type === 'admin.console.approvals.deny' && r.outcome === 'decided'), 'a refused action is audited too');
    const search = await (await api('GET', `audit?type=request&text=${encodeURIComponent('delete')}`)).json() as { records: Array<{ type: string; outcome: string }> };
    assert.ok(search.records.length >= 2 && search.records.every((r) => r.type === 'request'));
    const chain = await (await api('GET', 'audit/verify')).json() as { ok: boolean; records: number };
    assert.equal(chain.ok, true);
    assert.ok(chain.records > 0);
  });

  it('lists and revokes a 2025 session; the client\'s next request gets 404', async () => {
    const url = `${gw.url}/servers/fs/mcp`;
    const init = await post(url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'legacy-client', version: '3' } } });
    const sid = init.headers.get('mcp-session-id')!;
    const h = { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
    await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, h);
    assert.equal((await post(url, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, h)).status, 200);
    const sessions = await (await api('GET', 'sessions')).json() as { sessions: Array<{ id: string; client: { name: string } }> };
    assert.equal(sessions.sessions.find((s) => s.id === sid)?.client.name, 'legacy-client');
    const revoked = await api('POST', `sessions/${sid}/revoke`);
    assert.equal(revoked.status, 200);
    assert.equal((await post(url, { jsonrpc: '2.0', id: 3, method: 'tools/list' }, h)).status, 404);
    const audit = await searchAudit(gw.gateway.audit!, { type: 'admin.console.sessions.revoke' });
    assert.deepEqual(audit.records[0]?.detail, { session: sid });
  });

  it('reviews servers and pins exactly what was reviewed', async () => {
    const review = await (await api('GET', 'servers')).json() as { servers: Array<{ name: string; approved: boolean; reviewDigest: string; items: Array<{ key: string; pin: string }> }> };
    const s = review.servers.find((x) => x.name === 'fs')!;
    assert.equal(s.approved, false);
    assert.deepEqual(s.items.map((i) => [i.key, i.pin]), [['delete', 'new'], ['read', 'new']]);
    const stale = await api('POST', 'servers/fs/approve', { digest: 'not-what-was-reviewed' });
    assert.equal(stale.status, 409);
    const ok = await api('POST', 'servers/fs/approve', { digest: s.reviewDigest });
    assert.equal(ok.status, 200);
    const after = await (await api('GET', 'servers')).json() as typeof review;
    assert.deepEqual(after.servers.find((x) => x.name === 'fs')!.items.map((i) => i.pin), ['pinned', 'pinned']);
  });

  it('answers "what can this user do?" with the deciding rules', async () => {
    const res = await (await api('GET', 'policy?subject=kim&roles=guest')).json() as { servers: Array<{ server: string; items: Array<{ name: string; outcome: string; visible: boolean; rules: Array<{ id: string }> }> }> };
    const items = Object.fromEntries(res.servers[0]!.items.map((i) => [i.name, i]));
    assert.equal(items.delete!.outcome, 'approval');
    assert.deepEqual(items.delete!.rules.map((r) => r.id), ['deletions', 'everyone']);
    assert.equal(items.read!.outcome, 'deny');
    assert.equal(items.read!.visible, false);
    const other = await (await api('GET', 'policy?subject=kim')).json() as typeof res;
    assert.equal(other.servers[0]!.items.find((i) => i.name === 'read')!.outcome, 'allow');
    assert.equal((await api('GET', 'policy')).status, 400);
  });

  it('lists no accounts when no upstream uses per-user credentials (without touching the vault)', async () => {
    const res = await api('GET', 'accounts');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { accounts: [] });
    assert.equal((await api('POST', 'accounts/fs/connect')).status, 404, 'fs is not used with each user\'s own account');
  });

  it('charts what went through the pipeline: requests, errors, denials, latency', async () => {
    const totals = async () => ((await (await api('GET', 'metrics')).json()) as { totals: { calls: number; errors: number; denials: number } }).totals;
    const before = await totals();
    const call = async (name: string, path: string, extra: Record<string, unknown> = {}, id = 1) => {
      const m = modern('tools/call', { name, arguments: { path }, ...extra }, id);
      return (await post(`${gw.url}/servers/fs/mcp`, m.body, m.headers)).json();
    };
    for (let i = 0; i < 3; i++) assert.equal((await call('read', `/m${i}`)).result.content[0].text, `read /m${i} done`);
    assert.ok((await call('nope', '/x')).error, 'an unknown tool is an error');
    const held = await call('delete', '/m');
    await gw.gateway.approvals.decide(held.result._meta['dev.portcullis/approval'].id, { key: 'k', subject: 'ops', roles: ['approver'] }, 'deny');
    assert.equal((await call('delete', '/m', { requestState: held.result.requestState }, 2)).error.code, -32011);
    const after = await totals();
    assert.deepEqual({ calls: after.calls - before.calls, errors: after.errors - before.errors, denials: after.denials - before.denials }, { calls: 6, errors: 2, denials: 1 });
    const snap = await (await api('GET', 'metrics')).json() as { points: Array<{ p50: number | null; p99: number | null }> };
    assert.ok(snap.points.some((p) => p.p50 !== null && p.p99! >= p.p50));
  });
});

describe('console availability', () => {
  it('is unavailable (503) when only external issuers sign in, and absent when disabled', async () => {
    const { startTestIssuer } = await import('./support/issuer.js');
    const iss = await startTestIssuer();
    const external = await startTestGateway(`auth:
  mode: oauth
  builtin: { enabled: false }
  issuers: [{ issuer: ${JSON.stringify(iss.issuer)}, allowPrivateNetworks: true }]
upstreams:
  fs: { transport: stdio, command: unused }
`, {}, { createWire: memoryWires({ fs: memoryServer({ tools: TOOLS }) }) });
    const off = await startTestGateway('console: { enabled: false }\nupstreams:\n  fs: { transport: stdio, command: unused }\n', {}, { createWire: memoryWires({ fs: memoryServer({ tools: TOOLS }) }) });
    try {
      const res = await fetch(`${external.url}/console/api/me`);
      assert.equal(res.status, 503);
      assert.match(((await res.json()) as { error: string }).error, /built-in authorization server/);
      assert.equal((await fetch(`${off.url}/console/`)).status, 404);
    } finally {
      await external.close();
      await off.close();
      await iss.close();
    }
    await assert.rejects(startTestGateway('console: { path: /oauth }\nupstreams:\n  fs: { transport: stdio, command: unused }\n', {}, { createWire: memoryWires({ fs: memoryServer({ tools: TOOLS }) }) }), /console.path \/oauth is taken by the gateway itself/);
  });
});
