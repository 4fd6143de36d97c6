#!/usr/bin/env node
// `npm test` on a fresh machine: install the official conformance suite (and the Node 22 it needs) into
// tools/conformance once, from its lockfile. Later runs find it installed and do nothing.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const marker = `${root}tools/conformance/node_modules/@modelcontextprotocol/conformance/package.json`;
if (!existsSync(marker)) {
  console.log('Installing the MCP conformance suite into tools/conformance …');
  const r = spawnSync('npm', ['ci', '--prefix', `${root}tools/conformance`, '--no-audit', '--no-fund'], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}
