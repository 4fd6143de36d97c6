/**
 * The console's built bundle (scripts/build-console.mjs writes dist/console/app.js and app.css), read once and
 * served from memory. The same folder is found from the TypeScript source (src/console) and from the build
 * (dist/src/console).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ConsoleAsset {
  type: string;
  body: Buffer;
  etag: string;
}

export type ConsoleAssets = ReadonlyMap<string, ConsoleAsset>;

const FILES: Record<string, string> = { 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8' };

/** dist/console beside the source tree, or beside the build. */
export function assetsDir(): string {
  const candidates = ['../../dist/console/', '../../console/'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const found = candidates.find((d) => existsSync(`${d}app.js`));
  if (!found) throw new Error(`the console bundle is missing (looked in ${candidates.join(', ')}): run "npm run build"`);
  return found;
}

export function loadAssets(): ConsoleAssets {
  const dir = assetsDir();
  const out = new Map<string, ConsoleAsset>();
  for (const [name, type] of Object.entries(FILES)) {
    const body = readFileSync(`${dir}${name}`);
    out.set(name, { type, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` });
  }
  return out;
}
