/**
 * Validates a client's answer to an input request before the gateway hands it to an upstream, with the official
 * SDK's schemas for ElicitResult, CreateMessageResult and ListRootsResult (the SDK fits here: the gateway consumes
 * these values itself when it answers a 2025-era upstream's request on the client's behalf).
 */
import { CreateMessageResultSchema, CreateMessageResultWithToolsSchema, ElicitResultSchema, ListRootsResultSchema } from '@modelcontextprotocol/core';
import { GatewayError } from '../core/errors.js';

interface Schema { safeParse(v: unknown): { success: boolean; error?: { issues: Array<{ path: PropertyKey[]; message: string }> } } }

const SCHEMAS: Record<string, Schema[]> = {
  'elicitation/create': [ElicitResultSchema],
  'sampling/createMessage': [CreateMessageResultSchema, CreateMessageResultWithToolsSchema],
  'roots/list': [ListRootsResultSchema],
};

/** Throws PC_INVALID_PARAMS naming the key and the first problem when `value` is not a valid answer to `method`. */
export function checkInputResponse(key: string, method: string, value: unknown): void {
  const schemas = SCHEMAS[method];
  if (!schemas) return;
  let first: string | undefined;
  for (const s of schemas) {
    const r = s.safeParse(value);
    if (r.success) return;
    const issue = r.error?.issues[0];
    first ??= issue ? `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}` : 'invalid';
  }
  throw new GatewayError('PC_INVALID_PARAMS', `inputResponses["${key}"] is not a valid result for ${method} (${first})`);
}
