/**
 * The gateway on each storage driver, configured the way an operator would: a legacy session's record is written
 * on initialize and removed on DELETE, and a held call's record lives in the key-value store. PostgreSQL and Redis
 * run on 127.0.0.1 on developer machines and CI; without them these cases skip with a notice, except under CI=true.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseConfig } from '../src/config/load.js';
import { startGateway } from '../src/gateway.js';
import { createLogger } from '../src/core/log.js';
import { fixtureArgs, post } from './support/gateway.js';

const reachable = (port: number) => new Promise<boolean>((resolve) => {
  const s = createConnection({ host: '127.0.0.1', port });
  s.once('connect', () => { s.destroy(); resolve(true); });
  s.once('error', () => resolve(false));
});

const suffix = randomBytes(4).toString('hex');
const drivers = [
  { name: 'sqlite', port: 0, yaml: (dir: string) => `storage: { driver: sqlite, sqlite: { path: ${JSON.stringify(join(dir, 'p.db'))} } }` },
  { name: 'postgres', port: 5432, yaml: () => `storage: { driver: postgres, postgres: { connectionString: "postgres://postgres@127.0.0.1:5432/test", schema: pc_gw_${suffix} } }` },
  // Redis cannot hold the audit log (docs/audit.md): the operator chooses where it goes.
  { name: 'redis', port: 6379, yaml: () => `storage: { driver: redis, redis: { url: "redis://127.0.0.1:6379", prefix: "pc-gw-${suffix}:" } }\naudit: { driver: sqlite }` },
];

describe('gateway on each storage driver', () => {
  for (const d of drivers) {
    test(d.name, async (t) => {
      if (d.port && !(await reachable(d.port))) {
        if (process.env.CI === 'true') assert.fail(`${d.name} is not reachable on 127.0.0.1:${d.port} (required under CI=true)`);
        t.skip(`${d.name} not reachable on 127.0.0.1:${d.port}`);
        return;
      }
      const dir = mkdtempSync(join(tmpdir(), `pc-${d.name}-`));
      const config = parseConfig(`
server: { port: 0, dataDir: ${JSON.stringify(dir)} }
auth: { mode: none }
${d.yaml(dir)}
policy: { rules: [{ effect: allow, principals: { methods: [local] } }] }
upstreams:
  chaos: { transport: stdio, command: ${JSON.stringify(process.execPath)}, args: ${fixtureArgs('fixtures/chaos-server.ts')}, integrity: { unapproved: warn } }
`, { source: 'test' });
      const gw = await startGateway(config, { logger: createLogger('silent') });
      try {
        assert.equal(gw.gateway.storage.driver, d.name);
        const url = `${gw.url}/servers/chaos/mcp`;
        const r = await post(url, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
        const sid = r.headers.get('mcp-session-id')!;
        const rec = await gw.gateway.storage.sessions.get(sid);
        assert.equal(rec?.endpoint, 'server:chaos');
        assert.equal(rec?.principal, 'local');
        const call = await post(url, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: d.name } } }, { 'mcp-session-id': sid });
        assert.deepEqual(call.json().result.content, [{ type: 'text', text: d.name }]);
        const audited = (await gw.gateway.audit!.store.rows(0, 100, { type: 'request' })).map((row) => JSON.parse(row.body));
        assert.ok(audited.some((a) => a.method === 'tools/call' && a.requestId === 2 && a.outcome === 'ok'), 'the call is in the audit log');
        assert.equal((await fetch(url, { method: 'DELETE', headers: { 'mcp-session-id': sid } })).status, 200);
        assert.equal(await gw.gateway.storage.sessions.get(sid), undefined);
      } finally {
        await gw.close();
      }
      if (d.name === 'postgres') {
        const pg = await import('pg');
        const c = new pg.default.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS pc_gw_${suffix} CASCADE`);
        await c.end();
      }
      if (d.name === 'redis') {
        // Leave nothing behind: every key this run wrote carries its unique prefix.
        const { Redis } = await import('ioredis');
        const r = new Redis('redis://127.0.0.1:6379');
        const keys = await r.keys(`pc-gw-${suffix}:*`);
        if (keys.length) await r.del(...keys);
        assert.deepEqual(await r.keys(`pc-gw-${suffix}:*`), []);
        r.disconnect();
      }
    });
  }
});
