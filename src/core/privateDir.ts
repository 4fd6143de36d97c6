/**
 * A folder only this user may enter (keys, databases), whose missing parents are created as ordinary folders:
 * `mkdir -p` with a mode would make every parent 0700 as well, and a parent that nobody else can traverse breaks
 * what must pass through it (a sandboxed server's own folder below the data folder, a config folder's neighbours).
 */
import { mkdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

export function ensurePrivateDir(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  mkdirSync(path, { recursive: true, mode: 0o700 });
}

export async function ensurePrivateDirAsync(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await mkdir(path, { recursive: true, mode: 0o700 });
}
