/**
 * The policy test matrix over real upstreams and real OAuth principals: several users and roles × tools, prompts and
 * resources × argument cases, checked through the lists and through the calls, in both protocol eras.
 * server-filesystem (with path constraints on its arguments), server-everything (prompts, resources, templates,
 * an output schema) and a paginated fixture (lists filtered page by page), behind one virtual server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureArgs, modern, npmUpstream, post, startTestGateway } from './support/gateway.js';
import { startTestIssuer, type TestIssuer } from './support/issuer.js';
import type { RunningGateway } from '../src/gateway.js';

const ROOT = mkdtempSync(join(tmpdir(), 'pc-matrix-'));
mkdirSync(join(ROOT, 'reports', 'drafts'), { recursive: true });
mkdirSync(join(ROOT, 'secrets'));
writeFileSync(join(ROOT, 'reports', 'q1.txt'), 'quarterly numbers');
writeFileSync(join(ROOT, 'secrets', 'key.txt'), 'the key');

let iss: TestIssuer;
let gw: RunningGateway;

before(async () => {
  iss = await startTestIssuer();
  // The policy's decisions are what is tested: an approval outcome is refused at once instead of waiting.
  gw = await startTestGateway(`approvals: { enabled: false }
auth:
  mode: oauth
  builtin: { enabled: false }
  issuers:
    - { issuer: ${iss.issuer}, allowPrivateNetworks: true }
upstreams:
${npmUpstream('fs', '@modelcontextprotocol/server-filesystem', [ROOT])}
${npmUpstream('everything', '@modelcontextprotocol/server-everything', ['stdio'])}
  paged: { transport: stdio, command: ${JSON.stringify(process.execPath)}, args: ${fixtureArgs('fixtures/paged-server.ts')} }
virtualServers:
  default: { upstreams: [fs, everything, paged] }
policy:
  roles:
    analyst:
      allow:
        - id: analyst-reads
          tools: [fs/read_text_file, fs/list_directory, fs/get_file_info]
          args: { path: { under: ${JSON.stringify(join(ROOT, 'reports'))} } }
        - id: analyst-drafts
          tools: [fs/write_file]
          args: { path: { under: ${JSON.stringify(join(ROOT, 'reports', 'drafts'))} } }
        - id: analyst-prompts
          prompts: [everything/simple-prompt, everything/args-prompt]
        - id: analyst-paged
          tools: [paged/tool_1, paged/tool_7]
          resources: ["paged/paged://r/1*"]
    auditor:
      readOnly: true
      allow:
        - servers: [fs, everything]
    ops:
      allow:
        - servers: [fs, everything, paged]
      approval:
        - id: ops-destructive
          description: destructive tools wait for a second pair of eyes
          destructive: true
  rules:
    - id: no-secrets
      effect: deny
      description: nothing under secrets, whoever asks
      tools: ["fs/*"]
      args: { path: { under: ${JSON.stringify(join(ROOT, 'secrets'))} } }
    - id: docs-only
      effect: allow
      principals: { groups: [readers] }
      resources: ["everything/demo://resource/static/**"]
`);
});

after(async () => {
  await gw?.close();
  await iss?.close();
  rmSync(ROOT, { recursive: true, force: true });
});

const USERS = {
  alice: { roles: ['analyst'] },
  aaron: { roles: ['auditor'] },
  olga: { roles: ['ops'] },
  rita: { groups: ['readers'] },
  eve: {},
} as const;
type User = keyof typeof USERS;

const ENDPOINT = '/virtual/default/mcp';
const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'matrix', version: '1' } } };

interface Client { request(method: string, params?: Record<string, unknown>, path?: string): Promise<any>; }

/** A client of one user in one era: a 2025-11-25 session, or stateless 2026-07-28 requests. */
async function client(user: User, era: 'legacy' | 'modern'): Promise<Client> {
  const tokens = new Map<string, string>();
  const auth = async (path: string) => {
    let t = tokens.get(path);
    if (!t) tokens.set(path, (t = await iss.sign({ sub: user, scope: 'mcp', ...USERS[user] }, { aud: `${gw.url}${path}` })));
    return { authorization: `Bearer ${t}` };
  };
  const sessions = new Map<string, string>();
  let id = 1;
  return {
    async request(method, params = {}, path = ENDPOINT) {
      if (era === 'modern') {
        const m = modern(method, params, id++);
        const r = await post(`${gw.url}${path}`, m.body, { ...m.headers, ...(await auth(path)) });
        return r.json();
      }
      let sid = sessions.get(path);
      if (!sid) {
        const r = await post(`${gw.url}${path}`, INIT, await auth(path));
        assert.equal(r.status, 200, r.text);
        sessions.set(path, (sid = r.headers.get('mcp-session-id')!));
        await post(`${gw.url}${path}`, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': sid, ...(await auth(path)) });
      }
      const r = await post(`${gw.url}${path}`, { jsonrpc: '2.0', id: id++, method, params }, { 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25', ...(await auth(path)) });
      return r.json();
    },
  };
}

/** Every item of a list, following the cursor; also checks that no page of a filtered list repeats an item. */
async function listAll(c: Client, method: string, key: string, path = ENDPOINT): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) {
    const r = await c.request(method, cursor === undefined ? {} : { cursor }, path);
    assert.ok(r.result, JSON.stringify(r));
    names.push(...(r.result[key] as Array<Record<string, string>>).map((x) => (key === 'resources' ? x.uri : key === 'resourceTemplates' ? x.uriTemplate : x.name)!));
    cursor = r.result.nextCursor;
    if (cursor === undefined) break;
  }
  assert.equal(new Set(names).size, names.length, `no item twice: ${names.join(', ')}`);
  return names.sort();
}

type Expect = 'ok' | 'denied' | 'approval' | 'unknown' | 'invalid';
function outcome(r: any): Expect | string {
  if (r.result) return r.result.isError ? `tool error: ${JSON.stringify(r.result.content)}` : 'ok';
  switch (r.error?.code) {
    case -32011: return 'denied';
    case -32012: return 'approval';
    case -32602: return /^Unknown tool|^Unknown prompt|^Resource not found/.test(r.error.message) ? 'unknown' : 'invalid';
    default: return JSON.stringify(r.error);
  }
}

const FS_READ_ONLY = ['read_file', 'read_text_file', 'read_media_file', 'read_multiple_files', 'list_directory', 'list_directory_with_sizes', 'directory_tree', 'search_files', 'get_file_info', 'list_allowed_directories'];
const FS_ALL = [...FS_READ_ONLY, 'write_file', 'edit_file', 'create_directory', 'move_file'];
const q = (server: string, names: readonly string[]) => names.map((n) => `${server}__${n}`);

for (const era of ['legacy', 'modern'] as const) {
  describe(`policy matrix (${era} era)`, () => {
    test('tools/list shows each principal exactly what it may use, page by page', async () => {
      const everything = await listAll(await client('olga', era), 'tools/list', 'tools');
      const everythingTools = everything.filter((n) => n.startsWith('everything__'));
      assert.ok(everythingTools.length > 10, 'ops sees every tool of server-everything');
      const ro = await client('aaron', era);
      const roEverything = (await ro.request('tools/list', {}, '/servers/everything/mcp')).result.tools as Array<{ name: string; annotations?: { readOnlyHint?: boolean } }>;
      assert.ok(roEverything.every((t) => t.annotations?.readOnlyHint === true), 'an auditor sees only read-only tools');
      assert.deepEqual(await listAll(ro, 'tools/list', 'tools'), [...q('fs', FS_READ_ONLY), ...q('everything', roEverything.map((t) => t.name))].sort());
      assert.deepEqual(await listAll(await client('alice', era), 'tools/list', 'tools'), [
        'fs__get_file_info', 'fs__list_directory', 'fs__read_text_file', 'fs__write_file', 'paged__tool_1', 'paged__tool_7',
      ]);
      assert.deepEqual(everything, [...q('fs', FS_ALL), ...everythingTools, ...q('paged', Array.from({ length: 10 }, (_, i) => `tool_${i}`))].sort());
      assert.deepEqual(await listAll(await client('eve', era), 'tools/list', 'tools'), []);
      assert.deepEqual(await listAll(await client('rita', era), 'tools/list', 'tools'), []);
    });

    test('a paginated upstream: the gateway cursor and the upstream cursor both stay valid, pages only shorter', async () => {
      const alice = await client('alice', era);
      // Single-server endpoint: the upstream's own cursors (4 per page), hidden items filtered from each page.
      assert.deepEqual(await listAll(alice, 'tools/list', 'tools', '/servers/paged/mcp'), ['tool_1', 'tool_7']);
      const resources = await listAll(alice, 'resources/list', 'resources', '/servers/paged/mcp');
      assert.deepEqual(resources, ['paged://r/1', ...Array.from({ length: 10 }, (_, i) => `paged://r/1${i}`)].sort());
      const first = await alice.request('resources/list', {}, '/servers/paged/mcp');
      assert.ok(first.result.resources.length <= 4 && first.result.resources.length > 0, 'a page is never longer, and not empty while more may come');
      assert.deepEqual(await listAll(alice, 'resources/list', 'resources'), resources.map((u) => `portcullis://paged/${u}`).sort());
    });

    test('calls: the same decisions as the lists, argument constraints enforced, hidden tools unknown', async () => {
      const r = (p: string) => join(ROOT, p);
      const cases: Array<[string, Record<string, unknown>, Record<User, Expect>]> = [
        ['fs__read_text_file', { path: r('reports/q1.txt') }, { alice: 'ok', aaron: 'ok', olga: 'ok', rita: 'unknown', eve: 'unknown' }],
        ['fs__read_text_file', { path: r('secrets/key.txt') }, { alice: 'denied', aaron: 'denied', olga: 'denied', rita: 'unknown', eve: 'unknown' }],
        ['fs__read_text_file', { path: `${r('reports')}/../secrets/key.txt` }, { alice: 'denied', aaron: 'denied', olga: 'denied', rita: 'unknown', eve: 'unknown' }],
        ['fs__read_text_file', { path: `${r('reports')}/%2e%2e/secrets/key.txt` }, { alice: 'denied', aaron: 'denied', olga: 'denied', rita: 'unknown', eve: 'unknown' }],
        ['fs__read_text_file', { path: `${r('reports')}/q1.txt\u0000.png` }, { alice: 'denied', aaron: 'denied', olga: 'denied', rita: 'unknown', eve: 'unknown' }],
        ['fs__write_file', { path: r(`reports/drafts/${era}.txt`), content: 'draft' }, { alice: 'ok', aaron: 'unknown', olga: 'approval', rita: 'unknown', eve: 'unknown' }],
        ['fs__write_file', { path: r(`reports/q9-${era}.txt`), content: 'no' }, { alice: 'denied', aaron: 'unknown', olga: 'approval', rita: 'unknown', eve: 'unknown' }],
        ['fs__list_allowed_directories', {}, { alice: 'unknown', aaron: 'ok', olga: 'ok', rita: 'unknown', eve: 'unknown' }],
        ['fs__no_such_tool', {}, { alice: 'unknown', aaron: 'unknown', olga: 'unknown', rita: 'unknown', eve: 'unknown' }],
        ['paged__tool_1', {}, { alice: 'ok', aaron: 'unknown', olga: 'approval', rita: 'unknown', eve: 'unknown' }],
        ['paged__tool_2', {}, { alice: 'unknown', aaron: 'unknown', olga: 'approval', rita: 'unknown', eve: 'unknown' }],
        ['everything__echo', { message: 'hi' }, { alice: 'unknown', aaron: 'ok', olga: 'ok', rita: 'unknown', eve: 'unknown' }],
        ['everything__get-structured-content', { location: 'New York' }, { alice: 'unknown', aaron: 'ok', olga: 'ok', rita: 'unknown', eve: 'unknown' }],
      ];
      for (const user of Object.keys(USERS) as User[]) {
        const c = await client(user, era);
        for (const [name, args, expect] of cases) {
          const res = await c.request('tools/call', { name, arguments: args });
          assert.equal(outcome(res), expect[user], `${user} ${name} ${JSON.stringify(args)}: ${JSON.stringify(res).slice(0, 300)}`);
          if (expect[user] === 'unknown') assert.equal(res.error.message, `Unknown tool: ${name}`, 'hidden and nonexistent tools get the same error');
        }
      }
      assert.equal(readFileSync(join(ROOT, 'reports', 'drafts', `${era}.txt`), 'utf8'), 'draft');
      assert.equal(existsSync(join(ROOT, 'reports', `q9-${era}.txt`)), false, 'a denied or unapproved write never reached the server');
    });

    test('prompts and resources: lists and uses agree; URIs are normalised and traversal refused', async () => {
      assert.deepEqual(await listAll(await client('alice', era), 'prompts/list', 'prompts'), ['everything__args-prompt', 'everything__simple-prompt']);
      assert.equal((await listAll(await client('aaron', era), 'prompts/list', 'prompts')).length, 4);
      assert.deepEqual(await listAll(await client('eve', era), 'prompts/list', 'prompts'), []);
      const alice = await client('alice', era);
      assert.equal(outcome(await alice.request('prompts/get', { name: 'everything__simple-prompt' })), 'ok');
      assert.equal(outcome(await alice.request('prompts/get', { name: 'everything__completable-prompt', arguments: { department: 'x', name: 'y' } })), 'unknown');
      const missing = await alice.request('prompts/get', { name: 'everything__args-prompt', arguments: {} });
      assert.equal(missing.error?.code, -32602);
      assert.match(missing.error.message, /missing required prompt argument 'city'/);

      const rita = await client('rita', era);
      const docs = await listAll(rita, 'resources/list', 'resources');
      assert.ok(docs.length > 0 && docs.every((u) => u.startsWith('portcullis://everything/demo://resource/static/')), docs.join(', '));
      assert.deepEqual(await listAll(rita, 'resources/templates/list', 'resourceTemplates'), [], 'a template no allowed URI can match is hidden');
      const doc = docs[0]!;
      assert.equal(outcome(await rita.request('resources/read', { uri: doc })), 'ok');
      const dynamic = 'portcullis://everything/demo://resource/dynamic/text/1';
      assert.equal(outcome(await rita.request('resources/read', { uri: dynamic })), 'unknown');
      assert.equal(outcome(await (await client('aaron', era)).request('resources/read', { uri: dynamic })), 'ok', 'a URI a template declares');
      // (A NUL cannot travel in the 2026 era's Mcp-Name header as written; the legacy era sends it in the body only.)
      for (const bad of [`${doc}/../x`, doc.replace('/static/', '/static/%2e%2e/'), ...(era === 'legacy' ? [`${doc}\u0000`] : [])]) {
        const res = await rita.request('resources/read', { uri: bad });
        assert.equal(res.error?.code, -32602, bad);
        assert.match(res.error.message, /dot segment|encoded|NUL/);
      }
      assert.equal(outcome(await rita.request('resources/read', { uri: 'portcullis://everything/demo://resource/static/document/nope.md' })), 'unknown');
      assert.equal(outcome(await rita.request('resources/read', { uri: doc.replace('/static/document/', '/static//document/') })), 'ok', 'repeated slashes are normalised');
      if (era === 'legacy') {
        assert.equal((await rita.request('resources/subscribe', { uri: dynamic })).error?.message, `Resource not found: ${dynamic}`);
        assert.deepEqual((await rita.request('resources/subscribe', { uri: doc })).result, {});
      }
    });

    if (era === 'modern') {
      test('subscriptions/listen acknowledges only the resources the principal may subscribe to', async () => {
        const token = await iss.sign({ sub: 'rita', scope: 'mcp', groups: ['readers'] }, { aud: `${gw.url}${ENDPOINT}` });
        const doc = 'portcullis://everything/demo://resource/static/document/architecture.md';
        const m = modern('subscriptions/listen', { notifications: { toolsListChanged: true, resourceSubscriptions: [doc, 'portcullis://everything/demo://resource/dynamic/text/1', `${doc}/../x`] } }, 'l1');
        const ac = new AbortController();
        const res = await fetch(`${gw.url}${ENDPOINT}`, { method: 'POST', signal: ac.signal, body: JSON.stringify(m.body), headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}`, ...m.headers } });
        const reader = res.body!.getReader();
        let text = '';
        while (!text.includes('acknowledged')) text += new TextDecoder().decode((await reader.read()).value);
        ac.abort();
        const ack = JSON.parse(/data: (.*acknowledged.*)/.exec(text)![1]!);
        assert.deepEqual(ack.params.notifications.resourceSubscriptions, [doc]);
      });
    }
  });
}
