/** Docs that cannot rot: the error catalogue and docs/errors.md list the same codes with the same numbers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS } from '../src/core/errors.js';
import { ROOT } from './support/gateway.js';

test('docs/errors.md documents exactly the catalogue, with its statuses and codes', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
  const rows = new Map<string, { http: number; rpc: number }>();
  for (const m of doc.matchAll(/^\| `(PC_[A-Z_]+)` \| (\d+) \| (-\d+) \|/gm)) rows.set(m[1]!, { http: Number(m[2]), rpc: Number(m[3]) });
  assert.deepEqual([...rows.keys()].sort(), Object.keys(ERRORS).sort());
  for (const [code, spec] of Object.entries(ERRORS)) assert.deepEqual(rows.get(code), { http: spec.http, rpc: spec.rpc }, code);
});
