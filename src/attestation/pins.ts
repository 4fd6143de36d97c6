/**
 * The pins measurement: the operator-approved definitions (src/integrity/pins.ts) of the configured upstreams,
 * sha256(canonicalJson({ "<server>": [["<kind>", "<key>", "<hash>"], …] })) with items sorted; a server without pins
 * is absent. Pins live in storage, not in the file, so they are measured on their own.
 */
import { canonicalJson } from '../core/canonical.js';
import type { ServerPins } from '../integrity/pins.js';
import { sha256Hex } from './code.js';

export function measurePins(pins: ReadonlyMap<string, ServerPins>, servers: readonly string[]): string {
  const out: Record<string, string[][]> = {};
  for (const s of [...servers].sort()) {
    const p = pins.get(s);
    if (!p) continue;
    out[s] = [...p.items.values()].map((i) => [i.kind, i.key, i.hash]).sort((a, b) => (a.join('\u0000') < b.join('\u0000') ? -1 : 1));
  }
  return sha256Hex(canonicalJson(out));
}
