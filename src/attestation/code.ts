/**
 * The code measurement: SHA-256 over a manifest of the shipped files, one line per file in byte order of its path,
 * `<sha256 hex>  <path>\n` (the format of `sha256sum`), so an auditor can rebuild from source and reproduce it with
 * coreutils alone:
 *
 *   (cd ROOT && { find dist -type f; echo package-lock.json; } | LC_ALL=C sort | xargs sha256sum) | sha256sum
 *
 * The files are the tree the process runs from (`dist/**` for a build, `src/**` when run from source through tsx:
 * then the document says "src", never pretending to be a build) and the lockfile, which pins every dependency.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export type CodeTree = 'dist' | 'src';

export interface CodeMeasurement {
  tree: CodeTree;
  /** Number of files measured (the lockfile included). */
  files: number;
  /** Whether package-lock.json was there to pin the dependencies (an npm-installed copy has none). */
  lockfile: boolean;
  /** SHA-256 (hex) of the manifest. */
  sha256: string;
}

/** The package root and the tree this module was loaded from. */
export function runningCode(): { root: string; tree: CodeTree } {
  const here = dirname(fileURLToPath(import.meta.url));
  // dist/src/attestation/code.js or src/attestation/code.ts
  const parts = here.split(sep);
  const i = parts.lastIndexOf('dist');
  if (i >= 0 && parts[i + 1] === 'src') return { root: parts.slice(0, i).join(sep) || sep, tree: 'dist' };
  return { root: join(here, '..', '..'), tree: 'src' };
}

export function measureCode(root: string, tree: CodeTree): CodeMeasurement {
  const files = listFiles(join(root, tree)).map((f) => relative(root, f).split(sep).join('/'));
  // Without the lockfile the dependencies are not pinned by the measurement; the document then says so.
  const lockfile = existsSync(join(root, 'package-lock.json'));
  if (lockfile) files.push('package-lock.json');
  files.sort(byteOrder);
  const manifest = files.map((f) => `${sha256Hex(readFileSync(join(root, f)))}  ${f}\n`).join('');
  return { tree, files: files.length, lockfile, sha256: sha256Hex(manifest) };
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) throw new Error(`cannot measure the code: ${dir} does not exist`);
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** LC_ALL=C sort order: by UTF-8 bytes. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
