/**
 * Runs the guardrails that apply to a server and a direction: the built-in content guardrail with the server's
 * effective settings, then every custom guardrail. Each runs under a time limit and a signal; one that throws,
 * returns malformed findings or runs out of time either fails closed (a blocking `guardrail-failed` finding) or is
 * logged and skipped, as configured.
 */
import type { CancelSignal } from '../core/cancel.js';
import type { Logger } from '../core/log.js';
import type { UpstreamConfig } from '../config/types.js';
import type { GuardrailsConfig } from './config.js';
import { contentGuardrail } from './builtin.js';
import type { Direction, Guardrail, GuardrailInput, ReportedFinding } from './guardrail.js';
import { contentSettings, type ContentSettings } from './settings.js';
import type { TaintTracker } from './taint.js';

export const GUARDRAIL_FAILED = 'guardrail-failed';

interface Runner {
  guardrail: Guardrail;
  failClosed: boolean;
  timeoutMs: number;
}

export interface GuardrailsOptions {
  upstreams: Readonly<Record<string, UpstreamConfig>>;
  /** Loaded operator guardrails, in configuration order (src/guardrails/custom.ts). */
  custom?: readonly Guardrail[];
  log: Logger;
}

/**
 * The guardrails and the taint tracker of one configuration generation (the rule set in force, src/pipeline/
 * ruleSet.ts): a request uses one generation from start to end, so a reload never gives it half of each.
 */
export interface ContentGuards {
  readonly guardrails: Guardrails;
  readonly taint: TaintTracker;
}

/**
 * Immutable: a reload builds new Guardrails with the new settings around the same loaded custom guardrails (loading
 * a module is asynchronous and has side effects, so `custom` is read at start only).
 */
export class Guardrails {
  private readonly builtin = new Map<string, { settings: ContentSettings; runner: Runner }>();
  private readonly custom: readonly Runner[];
  private readonly log: Logger;

  constructor(readonly config: GuardrailsConfig, opts: GuardrailsOptions) {
    this.log = opts.log;
    for (const [name, up] of Object.entries(opts.upstreams)) {
      const settings = contentSettings(config, up.guardrails);
      this.builtin.set(name, { settings, runner: { guardrail: contentGuardrail(settings), failClosed: config.failClosed, timeoutMs: config.timeoutMs } });
    }
    this.custom = (opts.custom ?? []).map((g) => ({ guardrail: g, failClosed: g.failClosed ?? config.failClosed, timeoutMs: g.timeoutMs ?? config.timeoutMs }));
  }

  settings(server: string): ContentSettings | undefined {
    return this.builtin.get(server)?.settings;
  }

  /** Whether anything would look at this server's content in this direction (so the caller can skip the work). */
  active(server: string, direction: Direction): boolean {
    return (this.builtin.get(server)?.runner.guardrail.directions.has(direction) ?? false) || this.custom.some((r) => r.guardrail.directions.has(direction));
  }

  async inspect(input: Omit<GuardrailInput, 'signal'>, cancelled?: CancelSignal): Promise<ReportedFinding[]> {
    const runners: Runner[] = [];
    const b = this.builtin.get(input.server);
    if (b) runners.push(b.runner);
    runners.push(...this.custom);
    const found: ReportedFinding[] = [];
    for (const r of runners) {
      if (!r.guardrail.directions.has(input.direction)) continue;
      found.push(...(await this.run(r, input, cancelled)));
    }
    return found;
  }

  /** Closes the custom guardrails (shared by every generation: call once, when the gateway stops). */
  async close(): Promise<void> {
    await Promise.allSettled(this.custom.map((r) => r.guardrail.close?.()));
  }

  private async run(r: Runner, input: Omit<GuardrailInput, 'signal'>, cancelled: CancelSignal | undefined): Promise<ReportedFinding[]> {
    const name = r.guardrail.name;
    const controller = new AbortController();
    const onCancel = () => controller.abort(cancelled?.reason);
    cancelled?.addEventListener('abort', onCancel, { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      const pending = r.guardrail.inspect({ ...input, signal: controller.signal });
      // The built-in guardrail answers synchronously: no timer, no extra turn of the event loop.
      const findings = Array.isArray(pending) ? pending : await Promise.race([
        pending,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            controller.abort(new Error('timed out'));
            reject(new Error(`no answer within ${r.timeoutMs} ms`));
          }, r.timeoutMs);
        }),
      ]);
      return (findings as readonly ReportedFinding[]).map((f) => ({ ...f, guardrail: name }));
    } catch (e) {
      const why = (e as Error).message ?? String(e);
      if (!r.failClosed) {
        this.log.warn({ guardrail: name, server: input.server, item: input.item, direction: input.direction, err: why }, 'guardrail failed; content passed unchecked (failClosed: false)');
        return [];
      }
      this.log.warn({ guardrail: name, server: input.server, item: input.item, direction: input.direction, err: why }, 'guardrail failed; failing closed');
      return [{ guardrail: name, rule: GUARDRAIL_FAILED, severity: 'high', message: `guardrail ${name} failed (${why})`, path: '', action: 'block', category: 'other' }];
    } finally {
      if (timer) clearTimeout(timer);
      cancelled?.removeEventListener('abort', onCancel);
    }
  }
}
