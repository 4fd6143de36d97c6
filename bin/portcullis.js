#!/usr/bin/env node
// Launcher: prefer the build (dist/), else run the TypeScript source through tsx (a devDependency).
// PORTCULLIS_FROM_SOURCE=1 forces the source, so tests never exercise a stale build.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = new URL('../dist/src/cli/main.js', import.meta.url);
let entry = built;
if (process.env.PORTCULLIS_FROM_SOURCE === '1' || !existsSync(fileURLToPath(built))) {
  const { register } = await import('tsx/esm/api');
  register();
  entry = new URL('../src/cli/main.ts', import.meta.url);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
