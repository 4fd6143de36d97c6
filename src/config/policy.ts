/**
 * The `policy:` section compiled against the rest of the configuration (its server names and tags). The config
 * loader compiles it to report problems with their lines; the gateway reuses that compilation (cached by the
 * policy object, which the loaded config freezes), so a policy is compiled once per load or reload.
 */
import { compilePolicy, type CompiledPolicy, type CompileOptions } from '../policy/index.js';
import type { GatewayConfig } from './types.js';

const compiled = new WeakMap<object, CompiledPolicy>();
const EMPTY = {};

/** What compilePolicy needs to know about the configuration: server names, and every tag it defines. */
export function policyOptions(cfg: Pick<GatewayConfig, 'upstreams'>): CompileOptions {
  const tags = new Set<string>();
  for (const up of Object.values(cfg.upstreams)) {
    for (const t of up.tags ?? []) tags.add(t);
    for (const o of Object.values(up.tools ?? {})) for (const t of o.tags ?? []) tags.add(t);
    for (const o of Object.values(up.prompts ?? {})) for (const t of o.tags ?? []) tags.add(t);
  }
  return { servers: Object.keys(cfg.upstreams), tags: [...tags] };
}

/** The compiled policy of a configuration (throws PolicyError). No `policy:` section compiles to "deny everything". */
export function configPolicy(cfg: Pick<GatewayConfig, 'upstreams' | 'policy'>): CompiledPolicy {
  const doc = cfg.policy ?? EMPTY;
  let p = compiled.get(doc);
  if (!p) {
    p = compilePolicy(doc, policyOptions(cfg));
    if (doc !== EMPTY) compiled.set(doc, p);
  }
  return p;
}
