/**
 * Validation of what a use brings, before anything reaches an upstream:
 *
 *   - tools/call: each argument within limits.maxArgumentBytes, the arguments valid against the tool's inputSchema
 *     (JSON Schema 2020-12, compiled once per schema) and against the operator's stricter schema, if any. A failure
 *     is a tool error (`isError: true`, what MCP asks for input validation) with a precise message, so a model can
 *     correct its call; the upstream never sees it.
 *   - prompts/get: arguments within size, strings, the required ones present (PC_INVALID_PARAMS otherwise).
 *   - modern HTTP tools/call: the Mcp-Param-* headers mirror the arguments the tool declares with x-mcp-header.
 *
 * Resource URIs were normalised and checked against the server's declarations when the policy stage resolved them.
 */
import { GatewayError } from '../../core/errors.js';
import { isObject, type JsonObject } from '../../core/jsonrpc.js';
import { checkParamHeaders } from '../../endpoint/paramHeaders.js';
import { shapeForEra } from '../../endpoint/mapResult.js';
import type { LimitsConfig } from '../../config/types.js';
import { admitUpstreamProperties, describeErrors, type SchemaCache } from '../../validation/schemas.js';
import { oversizedArgument } from '../../validation/size.js';
import type { NamedStage } from '../pipeline.js';
import type { RequestContext } from '../context.js';

export interface ValidateStageDeps {
  limits: Pick<LimitsConfig, 'maxArgumentBytes'>;
  schemas: SchemaCache;
}

export function validateStage(deps: ValidateStageDeps): NamedStage {
  return {
    name: 'validate',
    run: (ctx, next) => {
      const r = ctx.route;
      const t = ctx.target;
      if (r?.kind !== 'forward' || !t) return next();
      if (t.tool) {
        const problem = toolArgumentsProblem(ctx, deps, r.params);
        if (problem) {
          ctx.log.info({ method: r.method, tool: t.tool.name, upstream: t.upstream.name, problem }, 'tool arguments refused');
          const result: JsonObject = { content: [{ type: 'text', text: `Invalid arguments for tool ${String(ctx.request.params?.name)}: ${problem}` }], isError: true };
          return Promise.resolve(shapeForEra(result, r.method, ctx.era, ctx.endpoint.name));
        }
        if (ctx.httpHeaders && t.tool.headers.length) checkParamHeaders(t.tool.headers, isObject(r.params.arguments) ? r.params.arguments : undefined, ctx.httpHeaders);
      } else if (t.prompt && r.method === 'prompts/get') {
        checkPromptArguments(t.prompt, r.params.arguments, deps.limits.maxArgumentBytes);
      }
      return next();
    },
  };
}

function toolArgumentsProblem(ctx: RequestContext, deps: ValidateStageDeps, params: JsonObject): string | undefined {
  const t = ctx.target!;
  const def = t.tool!.definition;
  const raw = params.arguments;
  if (raw !== undefined && !isObject(raw)) return 'arguments must be an object';
  const args = raw ?? {};
  const big = oversizedArgument(args, deps.limits.maxArgumentBytes);
  if (big) return big;
  const own = deps.schemas.get(def.inputSchema);
  if (own && !own.validate) return `the tool's input schema cannot be used to check them (${own.error})`;
  if (own?.validate && !own.validate(args)) return describeErrors(own.validate.errors, 'arguments');
  const tightening = ctx.rules?.toolOverride(t.upstream.name, t.tool!.name)?.inputSchema;
  if (tightening) {
    const c = deps.schemas.get(admitUpstreamProperties(tightening, def.inputSchema));
    if (c && !c.validate) return `the configured input schema cannot be used (${c.error})`;
    if (c?.validate && !c.validate(args)) return describeErrors(c.validate.errors, 'arguments');
  }
  return undefined;
}

function checkPromptArguments(prompt: JsonObject, raw: unknown, maxBytes: number): void {
  if (raw !== undefined && !isObject(raw)) throw new GatewayError('PC_INVALID_PARAMS', 'prompt arguments must be an object');
  const args = raw ?? {};
  const big = oversizedArgument(args, maxBytes);
  if (big) throw new GatewayError('PC_INVALID_PARAMS', big);
  for (const [k, v] of Object.entries(args)) {
    if (typeof v !== 'string') throw new GatewayError('PC_INVALID_PARAMS', `prompt argument '${k}' must be a string`);
  }
  const declared = Array.isArray(prompt.arguments) ? prompt.arguments : [];
  for (const a of declared) {
    if (isObject(a) && a.required === true && typeof a.name === 'string' && !(a.name in args)) {
      throw new GatewayError('PC_INVALID_PARAMS', `missing required prompt argument '${a.name}'`);
    }
  }
}
