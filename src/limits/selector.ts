/**
 * What a limit or priority rule applies to, and the key it counts under. A request is described once (its
 * principal, client, server, item and action); a rule's selectors (principals, servers, tools, actions) are
 * compiled to plain tests, with the policy's own principal matcher and globs.
 */
import type { LimitAction, LimitDimension, LimitSelector } from '../config/types.js';
import { compilePrincipals } from '../policy/matchers.js';
import { nameGlob, splitTarget, type Glob } from '../policy/glob.js';
import type { PolicyPrincipal } from '../policy/types.js';

/** One request as limits see it. */
export interface LimitSubject {
  readonly principal: PolicyPrincipal & { readonly key?: string | undefined };
  readonly action: LimitAction;
  /** The upstream; undefined for a list merged over a virtual server. */
  readonly server: string | undefined;
  readonly kind: 'tool' | 'prompt' | 'resource' | 'template' | undefined;
  /** The tool or prompt name, or the resource URI (the upstream's own). */
  readonly name: string | undefined;
}

/** The uses limits count unless a rule names its actions: everything but lists. */
const DEFAULT_ACTIONS: ReadonlySet<LimitAction> = new Set(['call', 'read', 'get', 'complete', 'subscribe']);

export type Matcher = (s: LimitSubject) => boolean;

export function compileSelector(sel: LimitSelector): Matcher {
  const principals = compilePrincipals(sel.principals);
  const servers = sel.servers?.map(nameGlob);
  const tools = sel.tools?.flatMap((t) => {
    const parts = splitTarget(t);
    return parts ? [{ server: nameGlob(parts[0]), name: nameGlob(parts[1]) }] : [];
  });
  const actions: ReadonlySet<LimitAction> = sel.actions ? new Set(sel.actions) : DEFAULT_ACTIONS;
  return (s) => {
    if (!actions.has(s.action)) return false;
    if (principals && !principals.test(s.principal)) return false;
    if (servers && (s.server === undefined || !servers.some((g: Glob) => g.test(s.server!)))) return false;
    if (tools && (s.kind !== 'tool' || s.server === undefined || s.name === undefined || !tools.some((t) => t.server.test(s.server!) && t.name.test(s.name!)))) return false;
    return true;
  };
}

/** The counting key of a request for these dimensions; undefined when the request lacks one (no server on a merged list). */
export function keyOf(per: readonly LimitDimension[], s: LimitSubject): string | undefined {
  const parts: string[] = [];
  for (const d of per) {
    switch (d) {
      case 'principal':
        parts.push(s.principal.key ?? `${s.principal.issuer ?? ''} ${s.principal.subject}`);
        break;
      case 'client':
        parts.push(s.principal.clientId ?? '');
        break;
      case 'server':
        if (s.server === undefined) return undefined;
        parts.push(s.server);
        break;
      case 'tool':
        if (s.server === undefined || s.name === undefined) return undefined;
        parts.push(`${s.kind ?? ''}:${s.server}/${s.name}`);
        break;
    }
  }
  return JSON.stringify(parts);
}
