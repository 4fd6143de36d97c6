/**
 * Hot reload for `portcullis serve`: when the configuration file changes (or on SIGHUP), it is loaded and validated
 * like at start (policy included); a valid one replaces the running rule set (policy, limits, guardrails) at once,
 * an invalid one is rejected with its reasons and the previous one stays in force. Reloads run one at a time.
 */
import { loadConfigFile, type ConfigOverride } from '../config/load.js';
import { isConfigError } from '../config/error.js';
import type { Logger } from '../core/log.js';
import type { Gateway, ReloadOutcome } from '../gateway.js';
import type { CompiledPolicy } from '../policy/index.js';
import { watchFiles } from '../identity/tls/watchFiles.js';
import { LOCAL_PRINCIPAL } from '../pipeline/stages/authenticate.js';

export interface ReloadOptions {
  overrides?: readonly ConfigOverride[];
  /** How often the file is looked at (default 1000 ms). */
  intervalMs?: number;
  /** Told about every reload attempt (tests). */
  onReload?: (outcome: ReloadOutcome | Error) => void;
}

/** Reloads `path` into `gw` on change and on SIGHUP; returns the function that stops watching. */
export function reloadOnChange(path: string, gw: Gateway, log: Logger, opts: ReloadOptions = {}): () => void {
  let chain: Promise<void> = Promise.resolve();
  const reload = (trigger: string) => {
    chain = chain.then(async () => {
      let outcome: ReloadOutcome | Error;
      try {
        const next = await loadConfigFile(path, { overrides: opts.overrides ?? [] });
        // Secret references are read from the vault again: a missing one rejects the reload like any invalid file.
        await gw.refreshSecrets(next);
        outcome = gw.reload(next);
        if (outcome.changed) log.info({ trigger, generation: outcome.generation, applied: outcome.applied }, 'configuration reloaded: the changed settings are in force');
        else log.info({ trigger }, 'configuration reloaded: no reloadable setting changed');
        if (outcome.restartNeeded.length) log.warn({ settings: outcome.restartNeeded }, 'these changed settings take effect only after a restart');
        if (gw.rules.allowsNothing) log.warn('the policy allows nothing: every list is empty and every call is refused (docs/policy.md)');
      } catch (e) {
        outcome = e as Error;
        const reason = isConfigError(e) ? e.format() : (e as Error).message;
        log.error({ trigger, reason }, 'configuration reload rejected; the previous configuration stays in force');
      }
      opts.onReload?.(outcome);
    });
  };
  const onHup = () => reload('SIGHUP');
  process.on('SIGHUP', onHup);
  const stop = watchFiles([path], () => reload('file changed'), { intervalMs: opts.intervalMs ?? 1000 });
  return () => {
    process.off('SIGHUP', onHup);
    stop();
  };
}

/**
 * What `serve` (and `stdio`) print when the policy in force lets nobody, or (without authentication) the local
 * principal, use anything. `localOnly`: every caller is the local principal (auth.mode "none", or stdio).
 */
export function policyWarning(policy: CompiledPolicy, servers: readonly string[], localOnly: boolean): string | undefined {
  if (!policy.rules.some((r) => r.effect === 'allow')) {
    return 'Warning: the policy allows nothing (no "policy:" section, or no allow rule), so every list is empty and every '
      + 'call is refused. Everything not allowed is denied: see docs/policy.md ("portcullis init" writes a starter policy).\n';
  }
  if (!localOnly) return undefined;
  const ctx = { time: new Date(), era: 'modern' as const, endpoint: 'default' };
  if (servers.some((server) => policy.decide(LOCAL_PRINCIPAL, 'list', { kind: 'server', server }, ctx).outcome !== 'deny')) return undefined;
  return 'Warning: every caller is the local principal here (no authentication), and the policy allows it nothing, so every '
    + 'list is empty and every call is refused. Grant it with a rule whose principals are { methods: [local] } (docs/policy.md).\n';
}
