/**
 * Validation of what the body and the transport claim together: a modern HTTP tools/call's Mcp-Param-* headers must
 * mirror the arguments its tool declares with x-mcp-header. (Schema validation of arguments and results joins this
 * stage with the policy work.)
 */
import { isObject } from '../../core/jsonrpc.js';
import { checkParamHeaders } from '../../endpoint/paramHeaders.js';
import type { NamedStage } from '../pipeline.js';

export const validate: NamedStage = {
  name: 'validate',
  run: async (ctx, next) => {
    const r = ctx.route;
    if (ctx.httpHeaders && r?.kind === 'forward' && r.method === 'tools/call' && typeof r.params.name === 'string') {
      const specs = await r.upstream.tools.specsFor(r.params.name, () => r.upstream.loadTools());
      if (specs.length) checkParamHeaders(specs, isObject(r.params.arguments) ? r.params.arguments : undefined, ctx.httpHeaders);
    }
    return next();
  },
};
