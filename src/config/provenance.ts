/**
 * Where a loaded configuration's values came from, for consumers that must tell the file's own text from what the
 * environment supplied (the attestation measurement excludes interpolated values, which are often secrets, and
 * measures paths as written rather than as resolved on this machine). Kept beside the frozen config, not in it, so
 * the config's shape stays exactly what the schema describes.
 */
import type { GatewayConfig } from './types.js';

export interface ConfigProvenance {
  /** JSON Pointers of the values that came from ${VAR} interpolation. */
  substituted: ReadonlySet<string>;
  /** The effective configuration (defaults applied) before relative paths were resolved against the file's folder. */
  asWritten: unknown;
}

const provenance = new WeakMap<GatewayConfig, ConfigProvenance>();

export function recordProvenance(config: GatewayConfig, p: ConfigProvenance): void {
  provenance.set(config, p);
}

/** Undefined for a configuration built in code rather than loaded from text. */
export function provenanceOf(config: GatewayConfig): ConfigProvenance | undefined {
  return provenance.get(config);
}
