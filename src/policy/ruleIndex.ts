/**
 * Rules indexed by kind, server and name, so a decision looks at the few rules that can apply rather than all of
 * them. A rule lands in a bucket for each of its target patterns: by exact server and exact name when the pattern
 * has no wildcard there, else in the server's (or the kind's) pattern bucket. Buckets keep the rules split by
 * effect, so the engine evaluates deny rules first and stops early.
 */
import { FAMILY, ITEM_KINDS, type ItemKind, type Rule } from './rule.js';
import type { Effect, PolicyResource } from './types.js';

export type Tiers = Readonly<Record<Effect, readonly Rule[]>>;

interface MutableTiers {
  deny: Rule[];
  approval: Rule[];
  allow: Rule[];
}

interface ServerBuckets {
  names: Map<string, MutableTiers>;
  patterned: MutableTiers;
}

interface KindBuckets {
  servers: Map<string, ServerBuckets>;
  /** Rules whose server pattern has a wildcard: looked at for every server. */
  wild: MutableTiers;
}

const tiers = (): MutableTiers => ({ deny: [], approval: [], allow: [] });

function add(t: MutableTiers, rule: Rule): void {
  const list = t[rule.effect];
  if (list[list.length - 1] !== rule) list.push(rule);
}

export class RuleIndex {
  private readonly kinds = new Map<ItemKind, KindBuckets>();
  /** For decisions about a whole server (may this server be shown?). */
  private readonly servers = new Map<string, MutableTiers>();
  private readonly anyServer: MutableTiers = tiers();
  readonly size: number;

  constructor(rules: readonly Rule[]) {
    for (const k of ITEM_KINDS) this.kinds.set(k, { servers: new Map(), wild: tiers() });
    for (const rule of rules) this.insert(rule);
    this.size = rules.length;
  }

  private insert(rule: Rule): void {
    const { entries, kinds } = rule.target;
    if (entries.length === 0) {
      add(this.anyServer, rule);
      for (const k of kinds) add(this.kind(k).wild, rule);
      return;
    }
    for (const e of entries) {
      const server = e.server.literal;
      if (server === undefined) add(this.anyServer, rule);
      else add(this.serverTiers(server), rule);
      for (const k of kinds) {
        if (e.family !== '*' && e.family !== FAMILY[k]) continue;
        const kb = this.kind(k);
        if (server === undefined) {
          add(kb.wild, rule);
          continue;
        }
        let sb = kb.servers.get(server);
        if (!sb) kb.servers.set(server, (sb = { names: new Map(), patterned: tiers() }));
        // A template's URI is a template, never compared with a literal: such rules are looked at for every template.
        const name = e.family === '*' || k === 'template' ? undefined : e.name.literal;
        if (name === undefined) add(sb.patterned, rule);
        else {
          let nb = sb.names.get(name);
          if (!nb) sb.names.set(name, (nb = tiers()));
          add(nb, rule);
        }
      }
    }
  }

  private kind(k: ItemKind): KindBuckets {
    return this.kinds.get(k) as KindBuckets;
  }

  private serverTiers(server: string): MutableTiers {
    let t = this.servers.get(server);
    if (!t) this.servers.set(server, (t = tiers()));
    return t;
  }

  /** The buckets that may hold rules for this item (a rule may sit in more than one). */
  lookup(r: PolicyResource): Tiers[] {
    if (r.kind === 'server') {
      const own = this.servers.get(r.server);
      return own ? [own, this.anyServer] : [this.anyServer];
    }
    const kb = this.kind(r.kind);
    const out: Tiers[] = [];
    const sb = kb.servers.get(r.server);
    if (sb) {
      const key = r.kind === 'resource' ? r.uri : r.kind === 'template' ? undefined : r.name;
      const nb = key === undefined ? undefined : sb.names.get(key);
      if (nb) out.push(nb);
      out.push(sb.patterned);
    }
    out.push(kb.wild);
    return out;
  }
}
