/**
 * Resource limits as a `prlimit` prefix. Node cannot setrlimit a child, so the limits are set by util-linux's
 * prlimit, which sets them on itself and execs the server (same process, no shell, no quoting). Inside bubblewrap
 * it runs after the namespaces exist, so the process count is the sandbox's own (RLIMIT_NPROC is counted per user
 * namespace) and bubblewrap's own setup is not limited.
 *
 * Memory is RLIMIT_DATA, not RLIMIT_AS: V8 reserves gigabytes of address space it never touches, so an address
 * space limit small enough to matter stops Node from starting, while RLIMIT_DATA counts the private writable memory
 * (heap, stacks, anonymous maps) that a runaway server actually consumes.
 */
import type { SandboxLimits } from '../../config/types.js';

const MIB = 1024 * 1024;

/**
 * `prlimit --data=… --cpu=… --nproc=… --nofile=… --`: soft and hard limits alike, so the server cannot raise them.
 * Without a user namespace of its own (unsandboxed) RLIMIT_NPROC would count every process of the gateway's user,
 * so the process limit is left out there (and said so).
 */
export function prlimitArgs(limits: SandboxLimits, ownUserNamespace: boolean): string[] {
  return [
    `--data=${limits.memoryMb * MIB}`,
    `--cpu=${limits.cpuSeconds}`,
    ...(ownUserNamespace ? [`--nproc=${limits.processes}`] : []),
    `--nofile=${limits.openFiles}`,
    '--',
  ];
}
