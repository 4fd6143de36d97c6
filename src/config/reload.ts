/**
 * What a running gateway can take from a changed configuration without a restart: the policy, rate limits, quotas,
 * priorities, the content guardrails (`guardrails`: actions, detectors, taint, failClosed, timeoutMs) and what
 * configuration says about upstreams' items and content (upstreams.<name>.tags, .tools, .prompts, .guardrails).
 * Everything else (listeners, storage, authentication, the upstreams themselves) is fixed at start, and so is
 * `guardrails.custom`: its modules are loaded (asynchronously, with whatever side effects they have) once, at start.
 */
import { canonicalJson } from '../core/canonical.js';
import type { GatewayConfig } from './types.js';

const RELOADABLE_SECTIONS = ['policy', 'rateLimits', 'quotas', 'priorities', 'guardrails'] as const;
const RELOADABLE_UPSTREAM_KEYS = ['tags', 'tools', 'prompts', 'guardrails'] as const;
const RESTART_ONLY_GUARDRAILS = 'custom';

/** The paths whose changes need a restart (empty: the new configuration can be applied whole). */
export function restartNeeded(running: GatewayConfig, next: GatewayConfig): string[] {
  const out: string[] = [];
  const a = running as unknown as Record<string, unknown>;
  const b = next as unknown as Record<string, unknown>;
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (k === 'guardrails') {
      if (canonicalJson(running.guardrails.custom) !== canonicalJson(next.guardrails.custom)) out.push(`guardrails.${RESTART_ONLY_GUARDRAILS}`);
    } else if ((RELOADABLE_SECTIONS as readonly string[]).includes(k)) continue;
    else if (k === 'upstreams') {
      for (const name of new Set([...Object.keys(running.upstreams), ...Object.keys(next.upstreams)])) {
        if (fixed(running.upstreams[name]) !== fixed(next.upstreams[name])) out.push(`upstreams.${name}`);
      }
    } else if (canonicalJson(a[k]) !== canonicalJson(b[k])) out.push(k);
  }
  return out;
}

/** `next` with the custom guardrails of the running configuration: what a reload can apply of its guardrails. */
export function withStartupCustom(next: GatewayConfig, running: GatewayConfig): GatewayConfig {
  if (canonicalJson(next.guardrails.custom) === canonicalJson(running.guardrails.custom)) return next;
  return { ...next, guardrails: { ...next.guardrails, custom: running.guardrails.custom } };
}

/** The reloadable settings that differ: sections ("policy", "guardrails") and "upstreams.<name>.<key>". */
export function reloadableChanges(running: GatewayConfig, next: GatewayConfig): string[] {
  const out: string[] = [];
  const section = (c: GatewayConfig, k: (typeof RELOADABLE_SECTIONS)[number]) => canonicalJson(k === 'guardrails' ? reloadableGuardrails(c) : c[k] ?? null);
  for (const k of RELOADABLE_SECTIONS) if (section(running, k) !== section(next, k)) out.push(k);
  for (const name of new Set([...Object.keys(running.upstreams), ...Object.keys(next.upstreams)])) {
    for (const k of RELOADABLE_UPSTREAM_KEYS) {
      if (canonicalJson(running.upstreams[name]?.[k] ?? null) !== canonicalJson(next.upstreams[name]?.[k] ?? null)) out.push(`upstreams.${name}.${k}`);
    }
  }
  return out;
}

/** Whether anything reloadable differs. */
export function reloadableChanged(running: GatewayConfig, next: GatewayConfig): boolean {
  return reloadableChanges(running, next).length > 0;
}

/** Whether clients' lists may differ after these changes: guardrails decide what content passes, never what is listed. */
export function listsMayChange(changes: readonly string[]): boolean {
  return changes.some((c) => c !== 'guardrails' && !c.endsWith('.guardrails'));
}

function reloadableGuardrails(c: GatewayConfig): object {
  const { [RESTART_ONLY_GUARDRAILS]: _custom, ...rest } = c.guardrails;
  return rest;
}

function fixed(u: object | undefined): string {
  if (u === undefined) return 'absent';
  return canonicalJson(Object.fromEntries(Object.entries(u).filter(([k]) => !(RELOADABLE_UPSTREAM_KEYS as readonly string[]).includes(k))));
}
