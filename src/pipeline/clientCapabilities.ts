/** What the client declared it can do, and log-level filtering. */
import type { JsonObject } from '../core/jsonrpc.js';
import { isObject } from '../core/jsonrpc.js';
import type { RequestContext } from './context.js';

const CAPABILITY_OF: Record<string, string> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

export function clientSupports(caps: JsonObject, method: string): boolean {
  const cap = CAPABILITY_OF[method];
  return cap !== undefined && isObject(caps[cap]);
}

const LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

/**
 * Modern era: no log messages unless the request carried a log level (spec: servers MUST NOT emit otherwise).
 * Legacy era: everything at or above the session's level (all when none was set).
 */
export function logAllowed(ctx: RequestContext, level: unknown): boolean {
  const wanted = ctx.logLevel;
  if (wanted === undefined) return ctx.era === 'legacy';
  const a = LEVELS.indexOf(String(level));
  const b = LEVELS.indexOf(wanted);
  return a < 0 || b < 0 || a >= b;
}
