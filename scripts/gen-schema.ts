/**
 * Writes portcullis.schema.json from src/config/schema.ts. With --check, writes nothing and exits 1 when the
 * file differs, so CI (and test/config.test.ts) catch a schema edit that was not regenerated.
 *   node --import tsx scripts/gen-schema.ts [--check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { schemaJson } from '../src/config/schema.js';

const target = fileURLToPath(new URL('../portcullis.schema.json', import.meta.url));
const wanted = schemaJson();
let current: string | undefined;
try {
  current = readFileSync(target, 'utf8');
} catch {
  current = undefined;
}

if (process.argv.includes('--check')) {
  if (current !== wanted) {
    console.error(`${target} is stale; regenerate it with: node --import tsx scripts/gen-schema.ts`);
    process.exit(1);
  }
  console.log(`${target} is up to date`);
} else if (current !== wanted) {
  writeFileSync(target, wanted);
  console.log(`wrote ${target}`);
}
