/**
 * One id per HTTP request, echoed in `X-Request-Id` and bound into every log line of the request (ctx.log), so an
 * operator can go from a client's report to the gateway's lines. A client's own id is kept when it is plain and short
 * (it ends up in logs: no control characters, no room for log forging); anything else is replaced.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

const SANE = /^[A-Za-z0-9._:-]{1,128}$/;
const REQUEST_ID = Symbol('portcullis.requestId');
type WithRequestId = IncomingMessage & { [REQUEST_ID]?: string };

export const REQUEST_ID_HEADER = 'X-Request-Id';

/** The client's X-Request-Id when `accept` and it is sane, else a new UUID. */
export function chooseRequestId(incoming: string | string[] | undefined, accept: boolean): string {
  return accept && typeof incoming === 'string' && SANE.test(incoming) ? incoming : randomUUID();
}

export function setRequestId(req: IncomingMessage, id: string): void {
  (req as WithRequestId)[REQUEST_ID] = id;
}

/** The id the HTTP edge gave this request (undefined only for requests that did not pass through it). */
export function requestIdOf(req: IncomingMessage): string | undefined {
  return (req as WithRequestId)[REQUEST_ID];
}
