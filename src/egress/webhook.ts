/**
 * Webhooks (approval requests, anomaly alerts): one config shape and one way to send — a JSON POST through the egress
 * path (purpose `webhook`), signed with HMAC-SHA256 when a secret is set. Delivery is best effort: a failure is
 * logged, never thrown, so no request waits on it.
 */
import { createHmac } from 'node:crypto';
import type { SchemaNode } from '../config/schema.js';
import type { Logger } from '../core/log.js';
import { safeFetch } from './fetch.js';

export interface WebhookConfig {
  url: string;
  /** Signs the body: X-Portcullis-Signature: sha256=<hex HMAC-SHA256>. */
  secret?: string;
  /** Development only: allow a loopback or private address. */
  allowPrivateNetworks: boolean;
}

export function webhookSchema(description: string): SchemaNode {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['url'],
    description,
    properties: {
      url: { type: 'string', format: 'uri', pattern: '^https?://', description: 'https, or http only to a loopback address with allowPrivateNetworks.' },
      secret: { type: 'string', minLength: 16, description: 'HMAC-SHA256 key for the X-Portcullis-Signature header.' },
      allowPrivateNetworks: { type: 'boolean', default: false, description: 'Development only: allow loopback and private addresses.' },
    },
  };
}

/** POSTs `payload` as JSON; `what` names the webhook in log lines ("approval webhook"). */
export async function postWebhook(hook: WebhookConfig, payload: unknown, log: Logger, what: string, context: Record<string, unknown> = {}): Promise<void> {
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (hook.secret) headers['x-portcullis-signature'] = `sha256=${createHmac('sha256', hook.secret).update(body).digest('hex')}`;
  try {
    const res = await safeFetch(hook.url, { method: 'POST', body, headers, allowPrivateNetworks: hook.allowPrivateNetworks, timeoutMs: 5000, maxBytes: 65_536, purpose: 'webhook' });
    if (res.status >= 300) log.warn({ ...context, status: res.status }, `${what} answered with an error`);
  } catch (e) {
    log.warn({ ...context, err: (e as Error).message }, `${what} failed`);
  }
}
