/**
 * Reads a request body with the size cap enforced while streaming (a lying or absent Content-Length cannot
 * get past it), parses it, and checks the JSON's shape limits before anything else looks at it.
 */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../../core/errors.js';
import type { LimitsConfig } from '../../config/types.js';

export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume(); // drain so the connection can be reused or closed cleanly
    return Promise.reject(new GatewayError('PC_BODY_TOO_LARGE', `limit is ${maxBytes} bytes`));
  }
  // Event listeners rather than `for await`: async iteration costs several promises per chunk on the hot path.
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.resume();
        reject(new GatewayError('PC_BODY_TOO_LARGE', `limit is ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.once('error', reject);
    // A client that disconnects mid-body: settle rather than leave the request hanging.
    req.once('close', () => { if (!req.complete) reject(new GatewayError('PC_INVALID_REQUEST', 'the request body was cut off')); });
  });
}

export function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new GatewayError('PC_PARSE', (e as Error).message);
  }
}

/** Iterative walk (no recursion: a deep document must not overflow the stack while being checked). */
export function checkLimits(value: unknown, limits: LimitsConfig): void {
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 0 }];
  while (stack.length) {
    const { v, depth } = stack.pop()!;
    if (typeof v === 'string') {
      if (v.length > limits.maxStringLength) throw new GatewayError('PC_LIMIT', `a string is longer than ${limits.maxStringLength} characters`);
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= limits.maxDepth) throw new GatewayError('PC_LIMIT', `nesting deeper than ${limits.maxDepth}`);
    if (Array.isArray(v)) {
      if (v.length > limits.maxArrayLength) throw new GatewayError('PC_LIMIT', `an array has more than ${limits.maxArrayLength} items`);
      for (const x of v) stack.push({ v: x, depth: depth + 1 });
    } else {
      for (const k in v) {
        if (k.length > limits.maxStringLength) throw new GatewayError('PC_LIMIT', 'an object key is too long');
        stack.push({ v: (v as Record<string, unknown>)[k], depth: depth + 1 });
      }
    }
  }
  const id = (value as { id?: unknown } | null)?.id;
  if (typeof id === 'string' && id.length > limits.maxIdLength) throw new GatewayError('PC_LIMIT', `id longer than ${limits.maxIdLength} characters`);
}
