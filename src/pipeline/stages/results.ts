/**
 * What comes back is checked before it is passed on: a result larger than limits.maxResultBytes, or a tool result
 * that does not conform to the tool's declared outputSchema, is replaced by an error and logged, never passed on.
 * For tools/call the error is a tool error (`isError: true`); for reads and prompts it is PC_RESULT_REJECTED.
 * Sits where the guardrails will: between the upstream and everything before it.
 */
import { GatewayError } from '../../core/errors.js';
import { isObject, type JsonObject } from '../../core/jsonrpc.js';
import { shapeForEra } from '../../endpoint/mapResult.js';
import type { LimitsConfig } from '../../config/types.js';
import { describeErrors, type SchemaCache } from '../../validation/schemas.js';
import { jsonSize } from '../../validation/size.js';
import type { NamedStage } from '../pipeline.js';
import type { RequestContext } from '../context.js';

export interface ResultsStageDeps {
  limits: Pick<LimitsConfig, 'maxResultBytes'>;
  schemas: SchemaCache;
}

export function resultsStage(deps: ResultsStageDeps): NamedStage {
  const max = deps.limits.maxResultBytes;
  return {
    name: 'results',
    run: (ctx, next) => (ctx.target ? next().then((result) => check(ctx, deps, max, result)) : next()),
  };
}

function check(ctx: RequestContext, deps: ResultsStageDeps, max: number, result: JsonObject): JsonObject {
  const t = ctx.target!;
  if (result.resultType === 'input_required') return result;
  if (jsonSize(result, max) > max) return reject(ctx, result, `the result is larger than limits.maxResultBytes (${max} bytes)`);
  const schema = t.tool?.definition.outputSchema;
  if (t.tool && isObject(schema) && result.isError !== true) {
    const c = deps.schemas.get(schema);
    if (c && !c.validate) return reject(ctx, result, `the tool's outputSchema cannot be used (${c.error})`);
    if (!isObject(result.structuredContent)) return reject(ctx, result, 'the tool declares an outputSchema but returned no structuredContent');
    if (c?.validate && !c.validate(result.structuredContent)) return reject(ctx, result, `structuredContent does not conform to the tool's outputSchema: ${describeErrors(c.validate.errors, 'structuredContent')}`);
  }
  return result;
}

function reject(ctx: RequestContext, result: JsonObject, why: string): JsonObject {
  const t = ctx.target!;
  const what = t.item.name ?? t.item.uri ?? '';
  ctx.log.warn({ method: ctx.request.method, upstream: t.upstream.name, item: what, why, bytes: Math.min(jsonSize(result, 1e9), 1e9) }, 'upstream result rejected');
  if (!t.tool) throw new GatewayError('PC_RESULT_REJECTED', `${t.upstream.name}: ${why}`);
  const error: JsonObject = { content: [{ type: 'text', text: `The result of tool ${String(ctx.request.params?.name)} was withheld: ${why}.` }], isError: true };
  return shapeForEra(error, ctx.request.method, ctx.era, ctx.endpoint.name);
}
