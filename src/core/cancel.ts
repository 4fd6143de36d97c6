/**
 * A cancellation signal for the hot path. Node's AbortController costs several microseconds to create and weighs on
 * the garbage collector (it is an EventTarget, tracked for AbortSignal.any); a request needs only "has it been
 * cancelled, and tell me when". `Cancellation` offers exactly the part of AbortSignal the gateway uses, so a real
 * AbortSignal fits wherever a CancelSignal is expected, and undici accepts a Cancellation as a request's signal.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export class Cancellation implements CancelSignal {
  aborted = false;
  reason: unknown = undefined;
  private listeners: Array<() => void> | undefined;

  /** The signal side, for symmetry with AbortController. */
  get signal(): CancelSignal { return this; }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (this.aborted) return; // like AbortSignal: listeners added after abort are not called
    (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const l = this.listeners;
    if (!l) return;
    const i = l.indexOf(listener);
    if (i >= 0) l.splice(i, 1);
  }

  abort(reason: unknown = new Error('This operation was aborted')): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const l = this.listeners;
    this.listeners = undefined;
    if (l) for (const fn of l) fn(); // each listener runs once: the list is dropped before calling
  }
}

/** A signal that never fires, for requests nothing can cancel. */
export const NEVER: CancelSignal = Object.freeze({
  aborted: false,
  addEventListener() {},
  removeEventListener() {},
});
