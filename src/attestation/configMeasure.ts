/**
 * The configuration measurement: SHA-256 of the canonical JSON (src/core/canonical.ts) of the effective
 * configuration (defaults applied, paths as written in the file), with secret values replaced by SECRET_MARKER.
 * The rule, applied in this order to every value:
 *
 *   1. a string that came from ${VAR} interpolation (the environment, where secrets usually live);
 *   2. the value of any key whose name looks like a secret: secret, password, passphrase, token, credential, cookie,
 *      authorization, apiKey/api_key, privateKey, clientSecret, or a key named "key" or ending in "Key";
 *   3. every value of an upstream's `env` and `headers` maps (their names stay measured).
 *
 * Replacing rather than dropping keeps the shape measured: adding or removing a secret changes the measurement,
 * rotating its value does not. What must be measured exactly belongs literally in the file.
 */
import { canonicalJson } from '../core/canonical.js';
import { provenanceOf } from '../config/provenance.js';
import type { GatewayConfig } from '../config/types.js';
import { sha256Hex } from './code.js';

export const SECRET_MARKER = '<secret>';

const SECRET_NAME = /secret|password|passphrase|token|credential|cookie|authorization|api[-_]?key|private[-_]?key/i;

function secretName(key: string): boolean {
  return SECRET_NAME.test(key) || key === 'key' || /[a-z]Key$/.test(key);
}

/** The configuration as it is measured (also printed by `portcullis measure --show-config`). */
export function measuredConfig(config: GatewayConfig): unknown {
  const p = provenanceOf(config);
  const source = p?.asWritten ?? config;
  const substituted = p?.substituted ?? new Set<string>();
  const walk = (value: unknown, pointer: string, inMap: boolean): unknown => {
    if (substituted.has(pointer) || inMap) return SECRET_MARKER;
    if (Array.isArray(value)) return value.map((v, i) => walk(v, `${pointer}/${i}`, false));
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      const child = `${pointer}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (secretName(k)) out[k] = SECRET_MARKER;
      else if (isUpstreamMap(pointer, k)) out[k] = walkMap(v, child);
      else out[k] = walk(v, child, false);
    }
    return out;
  };
  const walkMap = (v: unknown, pointer: string): unknown => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return walk(v, pointer, false);
    return Object.fromEntries(Object.keys(v).map((k) => [k, SECRET_MARKER]));
  };
  return walk(source, '', false);
}

/** `/upstreams/NAME` + env|headers. */
function isUpstreamMap(pointer: string, key: string): boolean {
  return (key === 'env' || key === 'headers') && /^\/upstreams\/[^/]+$/.test(pointer);
}

export function measureConfig(config: GatewayConfig): string {
  return sha256Hex(canonicalJson(measuredConfig(config)));
}
