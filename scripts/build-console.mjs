#!/usr/bin/env node
// Builds the web console (src/console/web) into dist/console/app.js and app.css with esbuild: one minified ES
// module with Preact inside, no source maps, nothing loaded from elsewhere at run time. Files are replaced by
// rename, so a gateway reading them while another build runs (tests run in parallel) never sees half a file.
// --size prints the sizes (raw and gzipped).
import { build } from 'esbuild';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { gzipSync } from 'node:zlib';

const root = new URL('..', import.meta.url).pathname;
const outdir = `${root}dist/console`;
const result = await build({
  // main.tsx imports app.css, so esbuild emits app.css beside app.js.
  entryPoints: { app: `${root}src/console/web/main.tsx` },
  outdir,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'none',
  logLevel: 'warning',
  tsconfig: `${root}src/console/web/tsconfig.json`,
  write: false,
});
mkdirSync(outdir, { recursive: true });
for (const f of result.outputFiles) {
  const tmp = `${f.path}.${process.pid}.tmp`;
  writeFileSync(tmp, f.contents);
  renameSync(tmp, f.path);
  if (process.argv.includes('--size')) process.stdout.write(`${basename(f.path)}: ${f.contents.length} bytes, ${gzipSync(f.contents).length} gzipped\n`);
}
