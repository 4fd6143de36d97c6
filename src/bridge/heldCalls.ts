/**
 * Era bridge, modern client → legacy upstream. A legacy upstream asks for sampling, elicitation or roots
 * with a server-to-client request in the middle of a call; a modern client can only receive such requests
 * inside an input_required result. So the gateway holds the upstream call open, answers the client with
 * input_required, and when the client retries with inputResponses, answers the upstream's waiting requests
 * and carries on until the call completes or asks again.
 *
 * The live call is process-local (a pending upstream request cannot be serialised); its record lives in the
 * KeyValueStore so another replica can tell "unknown" from "held elsewhere" and expiry is shared.
 */
import { randomUUID } from 'node:crypto';
import type { JsonObject, JsonRpcNotification, JsonRpcRequest } from '../core/jsonrpc.js';
import { GatewayError, UpstreamRpcError } from '../core/errors.js';
import { ErrorCode } from '../core/protocol.js';
import type { KeyValueStore } from '../storage/types.js';
import { checkInputResponse } from './inputResponses.js';
import { Cancellation, type CancelSignal } from '../core/cancel.js';

const NAMESPACE = 'bridge';
/** How long a held call waits for the rest of a round of upstream requests before handing them to the client. */
const GATHER_MS = 20;

interface Waiting {
  key: string;
  request: JsonRpcRequest;
  resolve: (r: JsonObject) => void;
  reject: (e: Error) => void;
}

export type Step =
  | { kind: 'complete'; result: JsonObject }
  | { kind: 'input'; bridgeId: string; inputRequests: JsonObject };

export class HeldCall {
  readonly id = randomUUID();
  private readonly waiting = new Map<string, Waiting>();
  private seq = 0;
  private wake: (() => void) | undefined;
  private outcome: { ok: true; result: JsonObject } | { ok: false; error: unknown } | undefined;
  private missing: JsonObject | undefined;
  private gathering: NodeJS.Timeout | undefined;
  /** Where progress and log notifications of the call go: the latest client request's stream. */
  notify: (n: JsonRpcNotification) => void = () => {};
  /**
   * The guardrails over an upstream request before the client may see it (src/pipeline/serverRequests.ts), as the
   * latest client request reports them: the params to hand out, or a refusal that answers the upstream instead.
   */
  screen: (request: JsonRpcRequest, signal: CancelSignal) => Promise<JsonObject | undefined> = async (r) => r.params;
  /** Upstream requests still being screened: nothing is decided until they are in or refused. */
  private screening = 0;
  readonly abort = new Cancellation();
  expiry: NodeJS.Timeout | undefined;

  constructor(readonly upstream: string, readonly principal: string, private readonly supports: (method: string) => boolean) {}

  /** Binds to the upstream call's promise. */
  attach(call: Promise<JsonObject>): void {
    call.then((result) => { this.outcome = { ok: true, result }; this.wake?.(); },
      (error: unknown) => { this.outcome = { ok: false, error }; this.wake?.(); });
  }

  /** The upstream's server-to-client request handler for the held call. */
  readonly onServerRequest = (request: JsonRpcRequest, signal: CancelSignal): Promise<JsonObject> => {
    if (!this.supports(request.method)) {
      // The upstream (told at initialize that its client can do everything the gateway relays) asks for something
      // this client did not declare. It gets a refusal. If nothing else in the round can be asked of the client,
      // the call needs the capability: the client gets MissingRequiredClientCapability (2026-07-28 basic, _meta).
      this.missing = { ...(this.missing ?? {}), ...requiredCapability(request) };
      this.gather();
      return Promise.reject(new UpstreamRpcError({ code: ErrorCode.MethodNotFound, message: `Client does not support ${request.method}` }));
    }
    return this.screened(request, signal).then((params) => new Promise<JsonObject>((resolve, reject) => {
      if (signal.aborted) return reject(new GatewayError('PC_CANCELLED'));
      const key = `${request.method.replace(/\W+/g, '_')}_${++this.seq}`;
      this.waiting.set(key, { key, request: { ...request, params }, resolve, reject });
      signal.addEventListener('abort', () => { this.waiting.delete(key); reject(new GatewayError('PC_CANCELLED')); }, { once: true });
      this.gather();
    }));
  };

  private async screened(request: JsonRpcRequest, signal: CancelSignal): Promise<JsonObject | undefined> {
    this.screening++;
    try {
      return await this.screen(request, signal);
    } finally {
      this.screening--;
      this.gather(); // a refused request may have been the round's only one: look again
    }
  }

  /** Set while every open upstream request has been handed to the client and none has been answered since. */
  private handedOut = false;
  readonly isParked = (): boolean => this.handedOut && this.waiting.size > 0;

  /** Upstreams send one round's requests together; gather them briefly so the client gets the round whole. */
  private gather(): void {
    if (this.gathering) return;
    this.gathering = setTimeout(() => { this.gathering = undefined; this.wake?.(); }, GATHER_MS);
    this.gathering.unref();
  }

  /** Applies a retry's inputResponses to the requests they answer; unknown keys are ignored (MRTR: extra params). */
  answer(inputResponses: JsonObject | undefined): void {
    if (!inputResponses) { this.handedOut = false; return; }
    // Validate every answer first: a bad one rejects the retry and leaves the call exactly as it was.
    const matched: Array<[Waiting, JsonObject]> = [];
    for (const [key, value] of Object.entries(inputResponses)) {
      const w = this.waiting.get(key);
      if (!w) continue;
      checkInputResponse(key, w.request.method, value);
      matched.push([w, value as JsonObject]);
    }
    this.handedOut = false;
    for (const [w, value] of matched) {
      this.waiting.delete(w.key);
      w.resolve(value);
    }
  }

  /** Waits until the call completes or needs input the client has not given yet. */
  async next(signal: CancelSignal): Promise<Step> {
    for (;;) {
      // Nothing is decided while a round is still arriving.
      if (!this.gathering && this.screening === 0) {
        if (this.waiting.size > 0) {
          const inputRequests: JsonObject = {};
          for (const w of this.waiting.values()) inputRequests[w.key] = { method: w.request.method, params: w.request.params ?? {} };
          this.handedOut = true;
          this.missing = undefined; // refused legs of this round are the upstream's to handle
          return { kind: 'input', bridgeId: this.id, inputRequests };
        }
        if (this.missing) {
          // Everything the upstream asked for needs a capability the client lacks: the call cannot go on.
          throw new GatewayError('PC_MISSING_CAPABILITY', 'the server needs a capability the client did not declare', { data: { requiredCapabilities: this.missing } });
        }
        if (this.outcome) {
          if (this.outcome.ok) return { kind: 'complete', result: this.outcome.result };
          throw this.outcome.error;
        }
      }
      if (signal.aborted) throw new GatewayError('PC_CANCELLED');
      await new Promise<void>((resolve) => {
        const done = () => { signal.removeEventListener('abort', done); this.wake = undefined; resolve(); };
        this.wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  get finished(): boolean { return this.outcome !== undefined; }

  /** Abandoned by the client: fail the upstream's waiting requests and cancel the call. */
  cancel(): void {
    for (const w of this.waiting.values()) w.reject(new GatewayError('PC_CANCELLED', 'the client did not answer in time'));
    this.waiting.clear();
    this.abort.abort();
  }
}

function requiredCapability(request: JsonRpcRequest): JsonObject {
  switch (request.method) {
    case 'sampling/createMessage': return { sampling: {} };
    case 'roots/list': return { roots: {} };
    case 'elicitation/create': return { elicitation: request.params?.mode === 'url' ? { url: {} } : {} };
    default: return {};
  }
}

export class HeldCallRegistry {
  private readonly live = new Map<string, HeldCall>();

  constructor(private readonly kv: KeyValueStore, private readonly ttlMs: number = 10 * 60_000) {}

  async hold(call: HeldCall): Promise<void> {
    if (this.live.has(call.id)) return this.refresh(call);
    this.live.set(call.id, call);
    await this.kv.put(NAMESPACE, call.id, { upstream: call.upstream, principal: call.principal }, this.ttlMs);
    this.refresh(call);
  }

  private refresh(call: HeldCall): void {
    clearTimeout(call.expiry);
    call.expiry = setTimeout(() => void this.drop(call.id, true), this.ttlMs);
    call.expiry.unref();
  }

  async resume(id: string, principal: string): Promise<HeldCall> {
    const record = await this.kv.get(NAMESPACE, id);
    const call = this.live.get(id);
    if (!record || !call || record.principal !== principal) {
      throw new GatewayError('PC_REQUEST_STATE', record ? 'the held call is on another gateway instance or was lost in a restart; retry the original request without requestState' : 'the held call has ended or expired; retry the original request without requestState');
    }
    this.refresh(call);
    return call;
  }

  async drop(id: string, cancel = false): Promise<void> {
    const call = this.live.get(id);
    if (call) {
      clearTimeout(call.expiry);
      if (cancel) call.cancel();
      this.live.delete(id);
    }
    await this.kv.delete(NAMESPACE, id).catch(() => {});
  }

  get size(): number { return this.live.size; }

  async close(): Promise<void> {
    for (const id of [...this.live.keys()]) await this.drop(id, true);
  }
}
