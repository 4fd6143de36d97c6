/** A complete guardrails configuration for unit tests: the defaults a gateway would use, with overrides. */
import type { GuardrailsConfig } from '../../src/guardrails/config.js';

export function guardrailsConfig(over: Partial<GuardrailsConfig> = {}): GuardrailsConfig {
  return {
    results: { secrets: 'redact', personalData: 'redact', injection: 'flag' },
    arguments: { secrets: 'block', personalData: 'warn' },
    detectors: {},
    taint: { action: 'approval', sinks: [], sinkTags: [], untrustedSources: [], openWorld: true, destructive: true, ttlSeconds: 60 },
    custom: [],
    failClosed: true,
    timeoutMs: 200,
    ...over,
  };
}
