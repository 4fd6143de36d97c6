/**
 * The credentials stage: a request to an upstream with per-user credentials goes on only when its principal has an
 * account connected there (src/credentials). It sits right after routing, before policy, because the policy stage
 * already reads the upstream's catalogue over that principal's own connection.
 *
 *   not connected, 2026-07-28 client that declared elicitation.url   input_required with one URL-mode
 *                                                                    `elicitation/create` (the connect URL); the
 *                                                                    retry after connecting goes through
 *   not connected, any other client                                  PC_CREDENTIALS_REQUIRED (-32042, the URL in
 *                                                                    the message and in data.elicitations)
 *
 * A list at a single server's endpoint gets the error too (lists cannot answer input_required). Lists over several
 * members are not stopped here: a member the user has not connected is skipped and named as degraded, like an
 * unreachable one.
 */
import { isGatewayError } from '../../core/errors.js';
import { isObject, type JsonObject } from '../../core/jsonrpc.js';
import { MRTR_METHODS } from '../../core/protocol.js';
import type { Credentials } from '../../credentials/credentials.js';
import type { NamedStage } from '../pipeline.js';
import type { RequestContext } from '../context.js';

/** The key of the connect request in input_required (and of its answer in the retry's inputResponses). */
export const CONNECT_INPUT = 'dev.portcullis/connect';

export function credentialsStage(deps: { credentials: Credentials }): NamedStage {
  return {
    name: 'credentials',
    run: async (ctx, next) => {
      const r = ctx.route;
      const only = ctx.endpoint.kind === 'server' ? ctx.endpoint.members[0] : undefined;
      if (r?.kind === 'list' && only && deps.credentials.isPerUser(only.name)) {
        await deps.credentials.ensure(only.name, ctx.principal?.key ?? 'local');
        return next();
      }
      if (r?.kind !== 'forward' || !deps.credentials.isPerUser(r.upstream.name)) return next();
      // Our own input request was answered: it asked for nothing the upstream should see.
      if (isObject(r.params.inputResponses) && CONNECT_INPUT in r.params.inputResponses) {
        const { [CONNECT_INPUT]: _c, ...rest } = r.params.inputResponses;
        const { inputResponses: _i, ...params } = r.params;
        ctx.route = { ...r, params: Object.keys(rest).length ? { ...params, inputResponses: rest } : params };
      }
      try {
        await deps.credentials.ensure(r.upstream.name, ctx.principal?.key ?? 'local');
      } catch (e) {
        if (!isGatewayError(e) || e.code !== 'PC_CREDENTIALS_REQUIRED' || !MRTR_METHODS.has(r.method) || !wantsUrlElicitation(ctx)) throw e;
        const data = e.data as { connectUrl: string };
        ctx.log.info({ upstream: r.upstream.name }, 'user account not connected: asked to connect');
        return {
          resultType: 'input_required',
          inputRequests: {
            [CONNECT_INPUT]: {
              method: 'elicitation/create',
              params: { mode: 'url', url: data.connectUrl, message: `Connect your ${r.upstream.name} account: the gateway uses it for your calls only.` },
            },
          },
        };
      }
      return next();
    },
  };
}

function wantsUrlElicitation(ctx: RequestContext): boolean {
  const e = ctx.clientCapabilities.elicitation;
  return ctx.era === 'modern' && isObject(e) && isObject((e as JsonObject).url);
}
