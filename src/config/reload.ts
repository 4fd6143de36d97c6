/**
 * What a running gateway can take from a changed configuration without a restart: the policy, rate limits, quotas,
 * priorities, and what configuration says about items (upstreams.<name>.tags, .tools, .prompts). Everything else
 * (listeners, storage, authentication, the upstreams themselves) is fixed at start.
 */
import { canonicalJson } from '../core/canonical.js';
import type { GatewayConfig } from './types.js';

const RELOADABLE_SECTIONS = new Set(['policy', 'rateLimits', 'quotas', 'priorities']);
const RELOADABLE_UPSTREAM_KEYS = new Set(['tags', 'tools', 'prompts']);

/** The paths whose changes need a restart (empty: the new configuration can be applied whole). */
export function restartNeeded(running: GatewayConfig, next: GatewayConfig): string[] {
  const out: string[] = [];
  const a = running as unknown as Record<string, unknown>;
  const b = next as unknown as Record<string, unknown>;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (RELOADABLE_SECTIONS.has(k)) continue;
    if (k === 'upstreams') {
      for (const name of new Set([...Object.keys(running.upstreams), ...Object.keys(next.upstreams)])) {
        if (fixed(running.upstreams[name]) !== fixed(next.upstreams[name])) out.push(`upstreams.${name}`);
      }
    } else if (canonicalJson(a[k]) !== canonicalJson(b[k])) out.push(k);
  }
  return out;
}

/** Whether anything reloadable differs (so clients' visible lists may have changed). */
export function reloadableChanged(running: GatewayConfig, next: GatewayConfig): boolean {
  const pick = (c: GatewayConfig) => ({
    policy: c.policy ?? null,
    rateLimits: c.rateLimits,
    quotas: c.quotas,
    priorities: c.priorities,
    items: Object.fromEntries(Object.entries(c.upstreams).map(([n, u]) => [n, { tags: u.tags, tools: u.tools, prompts: u.prompts }])),
  });
  return canonicalJson(pick(running)) !== canonicalJson(pick(next));
}

function fixed(u: object | undefined): string {
  if (u === undefined) return 'absent';
  return canonicalJson(Object.fromEntries(Object.entries(u).filter(([k]) => !RELOADABLE_UPSTREAM_KEYS.has(k))));
}
