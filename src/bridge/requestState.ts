/**
 * The gateway's requestState: AES-256-GCM sealed, so a client can neither read nor alter it. Every state is
 * bound to the principal, the method and a digest of the original request's parameters, and expires; the
 * spec (MRTR, server requirements) asks for all three. A state presented by another principal, on another
 * request, after expiry, or altered by one bit is rejected.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { JsonObject } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';
import { digest } from '../core/canonical.js';
import { GatewayError } from '../core/errors.js';

const VERSION = 'pc1';

export interface StateBinding {
  principal: string;
  method: string;
  params: JsonObject;
}

export interface SealedPayload extends JsonObject {
  /**
   * What the state continues: an upstream's own state ("pass"), a call the gateway holds open ("bridge"), or a call
   * waiting for a human approval ("approval").
   */
  kind: 'pass' | 'bridge' | 'approval';
  upstream: string;
  /** pass: the upstream's requestState, if it sent one. */
  upstreamState?: string;
  /** bridge: the id of the held call. */
  bridgeId?: string;
  /** approval: the id of the pending approval. */
  approvalId?: string;
}

export class RequestStateCodec {
  constructor(private readonly key: Buffer, private readonly ttlMs: number = 10 * 60_000) {
    if (key.length !== 32) throw new Error('requestState key must be 32 bytes');
  }

  seal(payload: SealedPayload, binding: StateBinding, now = Date.now()): string {
    const body = JSON.stringify({ ...payload, p: binding.principal, m: binding.method, d: bindingDigest(binding.params), exp: now + this.ttlMs });
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(VERSION));
    const ct = Buffer.concat([c.update(body, 'utf8'), c.final()]);
    return `${VERSION}.${Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64url')}`;
  }

  open(state: string, binding: StateBinding, now = Date.now()): SealedPayload {
    const fail = (why: string) => new GatewayError('PC_REQUEST_STATE', why);
    if (typeof state !== 'string' || !state.startsWith(`${VERSION}.`) || state.length > 65_536) throw fail('unrecognised requestState');
    const raw = Buffer.from(state.slice(VERSION.length + 1), 'base64url');
    if (raw.length < 29) throw fail('unrecognised requestState');
    let parsed: unknown;
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
      d.setAAD(Buffer.from(VERSION));
      d.setAuthTag(raw.subarray(12, 28));
      parsed = JSON.parse(Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8'));
    } catch {
      throw fail('requestState failed verification');
    }
    if (!isObject(parsed)) throw fail('requestState failed verification');
    if (parsed.p !== binding.principal) throw fail('requestState belongs to another principal');
    if (parsed.m !== binding.method || parsed.d !== bindingDigest(binding.params)) throw fail('requestState belongs to another request');
    if (typeof parsed.exp !== 'number' || parsed.exp < now) throw fail('requestState expired');
    const { p: _p, m: _m, d: _d, exp: _e, ...payload } = parsed;
    return payload as SealedPayload;
  }
}

/** The salient parameters: everything but the retry's own fields and transport metadata. */
function bindingDigest(params: JsonObject): string {
  const { _meta: _x, inputResponses: _y, requestState: _z, ...salient } = params;
  return digest(salient);
}

export function generateStateKey(): Buffer {
  return randomBytes(32);
}
