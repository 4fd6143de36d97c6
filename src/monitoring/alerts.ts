/**
 * Where an anomaly alert goes: a warn log line always, an `anomaly.<kind>` event in the audit log when there is one,
 * and a JSON POST to the configured webhook (through the SSRF-safe fetcher, signed like the approvals webhook).
 * None of them holds up a request: the audit append and the webhook run in the background, failures are logged.
 */
import type { Logger } from '../core/log.js';
import type { AuditLog } from '../audit/log.js';
import { postWebhook } from '../egress/webhook.js';
import type { Alert } from './anomaly.js';
import type { AlertWebhookConfig } from './config.js';

export interface AlertSinkDeps {
  log: Logger;
  audit: () => AuditLog | undefined;
  webhook?: AlertWebhookConfig | undefined;
}

export class AlertSink {
  private readonly listeners: ((a: Alert) => void)[] = [];
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly deps: AlertSinkDeps) {}

  /** Also tells `listener` (metrics; tests). */
  on(listener: (a: Alert) => void): void {
    this.listeners.push(listener);
  }

  raise(alert: Alert): void {
    this.deps.log.warn({ anomaly: alert.kind, principal: alert.principal, tool: alert.tool, detail: alert.detail }, `anomaly: ${alert.message}`);
    for (const l of this.listeners) l(alert);
    const audit = this.deps.audit();
    if (audit) {
      this.track(audit.append({
        type: `anomaly.${alert.kind}`, time: alert.at, principal: alert.principal, outcome: 'alert',
        detail: { message: alert.message, ...(alert.tool ? { tool: alert.tool } : {}), ...alert.detail },
      }).catch((e: Error) => this.deps.log.error({ anomaly: alert.kind, err: e.message }, 'anomaly alert not recorded in the audit log')));
    }
    if (this.deps.webhook) this.track(this.post(this.deps.webhook, alert));
  }

  /** Resolves when the appends and webhook posts started so far are done (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  private post(hook: AlertWebhookConfig, alert: Alert): Promise<void> {
    const payload = {
      type: `anomaly.${alert.kind}`, at: new Date(alert.at).toISOString(), principal: alert.principal, tool: alert.tool,
      message: alert.message, detail: alert.detail,
    };
    return postWebhook(hook, payload, this.deps.log, 'anomaly webhook', { anomaly: alert.kind });
  }

  private track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }
}
