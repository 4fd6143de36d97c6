/**
 * Docs that cannot rot: the configuration examples of docs/policy.md (item attributes, rate limits, quotas,
 * priorities) are valid portcullis.yaml, together with the servers the page's policies name.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../src/config/load.js';

const DOC = readFileSync(new URL('../docs/policy.md', import.meta.url), 'utf8');

test('every configuration example in docs/policy.md is a valid configuration', () => {
  const blocks = [...DOC.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!).filter((b) => !b.startsWith('policy:') && !b.startsWith('# policy-tests') && !b.startsWith('principals:'));
  assert.ok(blocks.length >= 2, `found ${blocks.length} examples`);
  const upstreams: Record<string, unknown> = {
    filesystem: { transport: 'stdio', command: 'unused' },
    memory: { transport: 'stdio', command: 'unused' },
    crm: { transport: 'stdio', command: 'unused' },
  };
  for (const b of blocks) Object.assign(upstreams, (parseYaml(b) as { upstreams?: Record<string, unknown> }).upstreams ?? {});
  for (const b of blocks) {
    const doc = { auth: { mode: 'none' }, ...(parseYaml(b) as Record<string, unknown>), upstreams };
    assert.doesNotThrow(() => parseConfig(JSON.stringify(doc), { source: 'docs/policy.md', env: {} }), b);
  }
});
