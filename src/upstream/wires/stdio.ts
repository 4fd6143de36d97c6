/**
 * stdio upstream: one child process, newline-delimited JSON-RPC on stdin/stdout, stderr lines logged.
 * The child gets a minimal environment so the gateway's secrets never reach it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Writable } from 'node:stream';
import { classify, type JsonRpcMessage } from '../../core/jsonrpc.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { SendOptions, UpstreamWire, WireContext } from '../wire.js';

export interface StdioWireOptions {
  command: string;
  args?: readonly string[];
  /** Added to PATH and HOME (the only variables inherited from the gateway). */
  env?: Readonly<Record<string, string | undefined>>;
  cwd?: string;
  logger?: Logger;
  /** Upstream name, for logs and error messages. */
  name?: string;
  /** Longest accepted stdout line in bytes (default 16 MiB); longer lines are dropped with onerror. */
  maxLineBytes?: number;
  /** stderr lines are truncated to this many bytes (default 8 KiB). */
  maxStderrLineBytes?: number;
  /** close(): SIGTERM this long after stdin was ended (default 2000 ms). */
  termAfterMs?: number;
  /** close(): SIGKILL this long after stdin was ended (default 5000 ms). */
  killAfterMs?: number;
  /**
   * How to start the process, decided at each start (the sandbox: src/upstream/sandbox). Replaces command, args,
   * env and cwd above, which then only name the server in messages.
   */
  launch?: () => Promise<LaunchSpec>;
}

/** The exact process to start: env is its whole environment (nothing is inherited). */
export interface LaunchSpec {
  command: string;
  args: readonly string[];
  env: Record<string, string>;
  cwd?: string;
}

/** Variables a child needs to resolve commands; everything else of the gateway's environment stays out. */
const INHERITED = process.platform === 'win32'
  ? ['PATH', 'Path', 'HOME', 'USERPROFILE', 'SystemRoot', 'PATHEXT', 'TEMP', 'TMP']
  : ['PATH', 'HOME'];

export function childEnv(extra: Readonly<Record<string, string | undefined>> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of INHERITED) {
    const v = process.env[key];
    if (v !== undefined) env[key] = v;
  }
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

/**
 * Splits a byte stream into lines without decoding partial ones; a line over `max` bytes is reported once
 * through `onOverflow` (with its first `headBytes`) and skipped up to its newline.
 */
class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private skipping = false;

  constructor(
    private readonly max: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly onOverflow: (head: Buffer) => void,
    private readonly headBytes = 64,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.skipping) {
        this.skipping = false;
        continue;
      }
      if (this.size + piece.length > this.max) {
        this.overflow(piece);
        this.skipping = false;
        continue;
      }
      const line = this.size === 0 ? piece : Buffer.concat([...this.parts, piece]);
      this.parts = [];
      this.size = 0;
      this.onLine(line);
    }
    if (start < chunk.length && !this.skipping) {
      const rest = chunk.subarray(start);
      if (this.size + rest.length > this.max) {
        this.overflow(rest);
        this.skipping = true;
      } else {
        this.parts.push(rest);
        this.size += rest.length;
      }
    }
  }

  private overflow(piece: Buffer): void {
    const head = Buffer.concat([...this.parts, piece.subarray(0, this.headBytes)]).subarray(0, this.headBytes);
    this.parts = [];
    this.size = 0;
    this.onOverflow(head);
  }
}

export class StdioWire implements UpstreamWire {
  readonly kind = 'stdio' as const;
  onmessage?: (message: JsonRpcMessage, ctx: WireContext) => void;
  onclose?: (reason?: Error) => void;
  onerror?: (err: Error) => void;

  private child?: ChildProcessWithoutNullStreams;
  private closing = false;
  private exited?: Promise<void>;
  /** One shared wait, so many concurrent senders do not each add drain listeners. */
  private drain?: Promise<void>;
  private readonly name: string;
  private readonly log: Logger;

  constructor(private readonly opts: StdioWireOptions) {
    this.name = opts.name ?? opts.command;
    this.log = (opts.logger ?? silentLogger).child({ upstream: this.name });
  }

  /** The child's pid while it runs (for diagnostics and tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.child) throw new Error(`Upstream "${this.name}" already started`);
    const spec: LaunchSpec = this.opts.launch
      ? await this.opts.launch()
      : { command: this.opts.command, args: this.opts.args ?? [], env: childEnv(this.opts.env), ...(this.opts.cwd ? { cwd: this.opts.cwd } : {}) };
    if (this.child) throw new Error(`Upstream "${this.name}" already started`);
    const child = spawn(spec.command, [...spec.args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: spec.env,
      cwd: spec.cwd,
      shell: false,
      windowsHide: true,
    });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      const onSpawn = (): void => { child.off('error', onError); resolve(); };
      const onError = (err: NodeJS.ErrnoException): void => {
        child.off('spawn', onSpawn);
        reject(new Error(`Cannot start upstream "${this.name}": spawn ${this.opts.command} failed (${err.code ?? err.message})`, { cause: err }));
      };
      child.once('spawn', onSpawn);
      child.once('error', onError);
    });
    this.wire(child);
  }

  private wire(child: ChildProcessWithoutNullStreams): void {
    const stdout = new LineSplitter(
      this.opts.maxLineBytes ?? 16 * 1024 * 1024,
      (line) => this.onLine(line),
      (head) => this.onerror?.(new Error(`Upstream "${this.name}" sent an overlong line (dropped): ${head.toString('utf8')}…`)),
    );
    const stderrMax = this.opts.maxStderrLineBytes ?? 8 * 1024;
    const stderr = new LineSplitter(
      stderrMax,
      (line) => this.logStderr(line, false),
      (head) => this.logStderr(head, true),
      stderrMax,
    );
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => stderr.push(c));
    // EPIPE and friends after the child died surface through 'exit'; they must not crash the gateway.
    child.stdin.on('error', (err) => { if (!this.closing) this.onerror?.(err); });
    child.on('error', (err) => this.onerror?.(err));

    this.exited = new Promise<void>((resolve) => {
      let done = false;
      let grace: NodeJS.Timeout | undefined;
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (done) return;
        done = true;
        if (grace) clearTimeout(grace);
        // A grandchild may still hold the pipes open; we are done with them either way.
        child.stdin.destroy();
        child.stdout.destroy();
        child.stderr.destroy();
        child.removeAllListeners();
        child.stdout.removeAllListeners();
        child.stderr.removeAllListeners();
        child.stdin.removeAllListeners();
        child.stdin.on('error', () => {}); // late EPIPE from a destroyed pipe
        resolve();
        if (!this.closing) {
          const how = signal ? `signal ${signal}` : `code ${code}`;
          this.onclose?.(new Error(`Upstream "${this.name}" exited unexpectedly with ${how}`));
        }
      };
      // 'close' waits for stdout to drain (last messages); 'exit' plus a grace period covers inherited pipes.
      child.once('close', finish);
      child.once('exit', (code, signal) => {
        grace = setTimeout(() => finish(code, signal), 200);
      });
    });
  }

  private onLine(raw: Buffer): void {
    const end = raw.length > 0 && raw[raw.length - 1] === 0x0d ? raw.length - 1 : raw.length;
    if (end === 0) return;
    const text = raw.toString('utf8', 0, end);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.onerror?.(new Error(`Upstream "${this.name}" wrote a non-JSON line: ${text.slice(0, 200)}`));
      return;
    }
    for (const msg of Array.isArray(parsed) ? parsed : [parsed]) {
      if (classify(msg) === 'invalid') {
        this.onerror?.(new Error(`Upstream "${this.name}" wrote an invalid JSON-RPC message: ${text.slice(0, 200)}`));
        continue;
      }
      try {
        this.onmessage?.(msg as JsonRpcMessage, {});
      } catch (err) {
        this.onerror?.(err as Error);
      }
    }
  }

  private logStderr(line: Buffer, truncated: boolean): void {
    const end = !truncated && line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
    if (end === 0) return;
    this.log.info({ stderr: line.toString('utf8', 0, end), ...(truncated ? { truncated } : {}) }, 'upstream stderr');
  }

  async send(message: JsonRpcMessage, _opts?: SendOptions): Promise<void> {
    const child = this.child;
    if (!child || this.closing || child.exitCode !== null || child.signalCode !== null || !child.stdin.writable) {
      throw new Error(`Upstream "${this.name}" is not running`);
    }
    if (!child.stdin.write(`${JSON.stringify(message)}\n`)) {
      this.drain ??= drained(child.stdin).finally(() => { this.drain = undefined; });
      await this.drain;
    }
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child || !this.exited) return;
    if (this.closing) return this.exited;
    this.closing = true;
    if (child.exitCode !== null || child.signalCode !== null) return this.exited;
    child.stdin.end();
    const term = setTimeout(() => child.kill('SIGTERM'), this.opts.termAfterMs ?? 2000);
    const kill = setTimeout(() => child.kill('SIGKILL'), this.opts.killAfterMs ?? 5000);
    try {
      await this.exited;
    } finally {
      clearTimeout(term);
      clearTimeout(kill);
    }
  }
}

/** Resolves on 'drain', or when the stream can no longer drain (closed / errored: the exit path reports it). */
function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}
