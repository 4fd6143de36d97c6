/**
 * A server's effective content settings: its own `upstreams.<name>.guardrails` over the top-level `guardrails`.
 */
import type { ArgumentGuardrailsConfig, GuardrailsConfig, ResultGuardrailsConfig, UpstreamGuardrailsConfig } from './config.js';
import { DETECTORS_OFF_BY_DEFAULT } from './config.js';

export interface ContentSettings {
  readonly results: Readonly<ResultGuardrailsConfig>;
  readonly arguments: Readonly<ArgumentGuardrailsConfig>;
  /** Detector id → on/off, defaults included. */
  readonly detectors: Readonly<Record<string, boolean>>;
  /** Every result of the server taints the session as untrusted. */
  readonly untrusted: boolean;
}

export function contentSettings(global: GuardrailsConfig, server: UpstreamGuardrailsConfig | undefined): ContentSettings {
  return {
    results: { ...global.results, ...server?.results },
    arguments: { ...global.arguments, ...server?.arguments },
    detectors: { ...DETECTORS_OFF_BY_DEFAULT, ...global.detectors, ...server?.detectors },
    untrusted: server?.untrusted ?? false,
  };
}
