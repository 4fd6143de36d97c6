/**
 * Benchmark targets run in their own process groups; if the runner dies without cleaning up (SIGKILL), a target
 * notices that it was re-parented and exits, so nothing is left running.
 */
export function exitWithParent(): void {
  const parent = process.ppid;
  setInterval(() => { if (process.ppid !== parent) process.exit(0); }, 1000).unref();
}
