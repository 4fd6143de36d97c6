import { Pool } from 'undici';
const url = 'http://127.0.0.1:/mcp';
const N = 20000, C = 64;
async function run(name: string, one: (i: number) => Promise<void>) {
  let next = 0; const t0 = performance.now();
  await Promise.all(Array.from({ length: C }, async () => { while (next < N) await one(next++); }));
  console.log(name, Math.round(N / (performance.now() - t0) * 1000), 'req/s');
}
const pool = new Pool(new URL(url).origin, { connections: null });
const h = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const body = (i: number) => JSON.stringify({ jsonrpc: '2.0', id: i, method: 'tools/list' });
for (let k = 0; k < 3; k++) {
await run('raw json()', async i => { const r = await pool.request({ path: '/mcp', method: 'POST', headers: h, body: body(i) }); await r.body.json(); });
await run('raw + signal', async i => { const c = new AbortController(); const r = await pool.request({ path: '/mcp', method: 'POST', headers: h, body: body(i), signal: c.signal }); await r.body.json(); });
await run('raw + for-await', async i => { const r = await pool.request({ path: '/mcp', method: 'POST', headers: h, body: body(i) }); const cs: Buffer[] = []; for await (const c of r.body) cs.push(c as Buffer); JSON.parse(Buffer.concat(cs).toString()); });
await run('raw + text()', async i => { const r = await pool.request({ path: '/mcp', method: 'POST', headers: h, body: body(i) }); JSON.parse(await r.body.text()); });
}
await pool.destroy();
