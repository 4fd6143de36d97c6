/**
 * The integrity stage (after policy, before validation): what the model sees and what the gateway forwards are only
 * definitions checked against the operator's pins (src/integrity/admission.ts).
 *
 *   - lists: every item of every page is judged before the policy filter sees it; refused items are not listed;
 *   - tools/call: the tool's definition as the gateway holds it for this connection is judged; a tool list older
 *     than `integrity.recheckMs` is fetched again first, so a definition changed without tools/list_changed is
 *     caught before the call is forwarded (and the call is validated against the fresh definition);
 *   - prompts/get, resources/read and subscribe, completion: the prompt, resource or template is judged;
 *   - any request to an unapproved server under `unapproved: block` is refused.
 *
 * A refused item named in a request is answered with PC_QUARANTINED and the reason, not as unknown: the operator and
 * the user need to know why a tool they saw yesterday is gone. Items the policy hides are still unknown (the policy
 * stage runs first).
 */
import { GatewayError } from '../../core/errors.js';
import { isObject, type JsonObject } from '../../core/jsonrpc.js';
import type { Admission, ItemVerdict } from '../../integrity/admission.js';
import type { DefinitionKind } from '../../integrity/definitions.js';
import type { NamedStage } from '../pipeline.js';
import type { ListMethod, RequestContext } from '../context.js';
import { connectionFor, unknownItem } from '../targets.js';
import type { Upstream } from '../../upstream/upstream.js';

export interface IntegrityStageDeps {
  admission: Admission;
}

const KIND: Record<ListMethod, DefinitionKind> = {
  'tools/list': 'tool',
  'prompts/list': 'prompt',
  'resources/list': 'resource',
  'resources/templates/list': 'resourceTemplate',
};

export function integrityStage(deps: IntegrityStageDeps): NamedStage {
  const adm = deps.admission;
  return {
    name: 'integrity',
    run: async (ctx, next) => {
      await adm.ready();
      const r = ctx.route;
      const inner = ctx.listFilter;
      if (inner) {
        ctx.listFilter = (server, method, items) => inner(server, method, items.filter((it) => isObject(it) && adm.judge(server, KIND[method], it).ok));
        return next();
      }
      if (r?.kind !== 'forward' && r?.kind !== 'subscription') return next();
      const up = ctx.target?.upstream ?? (r.kind === 'forward' ? r.upstream : undefined);
      if (up) refuse(adm.serverVerdict(up.name));
      const t = ctx.target;
      if (!t) return next();
      if (t.tool) {
        const tool = await freshTool(ctx, t.upstream, t.tool.name);
        if (!tool) throw unknownItem('tool', String(ctx.request.params?.name ?? t.tool.name));
        refuse(adm.judge(t.upstream.name, 'tool', tool.definition));
        if (tool !== t.tool) ctx.target = { ...t, tool };
      } else if (t.prompt) {
        refuse(adm.judge(t.upstream.name, 'prompt', t.prompt));
      } else if (t.item.kind === 'resource' || t.item.kind === 'template') {
        const def = await resourceDefinition(ctx, t.upstream, t.item.kind, t.item.uri);
        if (def) refuse(adm.judge(t.upstream.name, def.kind, def.definition));
      }
      return next();
    },
  };
}

function refuse(v: ItemVerdict): void {
  if (!v.ok) throw new GatewayError('PC_QUARANTINED', v.reason, { data: { reason: v.reason } });
}

/** The tool's definition from a tool list no older than the upstream's integrity.recheckMs. */
async function freshTool(ctx: RequestContext, up: Upstream, name: string) {
  const conn = up.connected(ctx.session?.id, ctx.clientCapabilities, ctx.principal?.key) ?? (await connectionFor(ctx, up));
  const cat = up.catalog(conn);
  const recheck = up.config.integrity?.recheckMs ?? 0;
  // recheckMs 0: the definition comes from a tools/list fetched after this call arrived (shared by concurrent calls).
  if (recheck === 0) await cat.refreshTools(ctx.startedAt);
  else if (Date.now() - cat.tools.fetchedAt >= recheck) await cat.refreshTools(-Infinity);
  return cat.tools.peek(name);
}

async function resourceDefinition(ctx: RequestContext, up: Upstream, kind: 'resource' | 'template', key: string | undefined): Promise<{ kind: DefinitionKind; definition: JsonObject } | undefined> {
  if (key === undefined) return undefined;
  const conn = up.connected(ctx.session?.id, ctx.clientCapabilities, ctx.principal?.key) ?? (await connectionFor(ctx, up));
  const cat = up.catalog(conn);
  const def = kind === 'resource' ? await cat.resources.get(key) : await cat.templates.get(key);
  return def ? { kind: kind === 'resource' ? 'resource' : 'resourceTemplate', definition: def } : undefined;
}
