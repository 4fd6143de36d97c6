/**
 * Watches files for replacement. Polling stat (fs.watchFile) rather than fs.watch: it sees in-place writes, an
 * editor's or certbot's rename-over, and the symlink swap of a Kubernetes secret volume alike, where an inotify
 * watch on the old file would go quiet after the first rename.
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs';

export interface WatchOptions {
  /** How often each file is stat'ed (default 1000 ms). */
  intervalMs?: number;
  /** Quiet period after the last change before onChange runs, so a cert and key written together load once. */
  debounceMs?: number;
}

/** Calls `onChange` after any of `paths` changed; returns the function that stops watching. */
export function watchFiles(paths: readonly string[], onChange: () => void, opts: WatchOptions = {}): () => void {
  const interval = opts.intervalMs ?? 1000;
  const debounce = opts.debounceMs ?? 250;
  let timer: NodeJS.Timeout | undefined;
  const listener = (curr: Stats, prev: Stats): void => {
    if (curr.mtimeMs === prev.mtimeMs && curr.ctimeMs === prev.ctimeMs && curr.ino === prev.ino && curr.size === prev.size) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, debounce);
    timer.unref();
  };
  const unique = [...new Set(paths)];
  for (const p of unique) watchFile(p, { interval, persistent: false }, listener);
  return () => {
    clearTimeout(timer);
    for (const p of unique) unwatchFile(p, listener);
  };
}
