/**
 * Administrative records for commands that change state from the command line (servers approve, user add,
 * sessions revoke, …). A command opens the log before it changes anything, so a change it cannot record is never
 * made, and records who ran it: the operating-system user.
 */
import { userInfo } from 'node:os';
import type { GatewayConfig } from '../config/types.js';
import type { JsonObject } from '../core/jsonrpc.js';
import { createLogger, type Logger } from '../core/log.js';
import { openAuditLog } from './open.js';

export interface AdminAudit {
  /** Appends `admin.<action>` and waits until it is durable. */
  record(action: string, detail: JsonObject, outcome?: string): Promise<void>;
  close(): Promise<void>;
}

/** A no-op when audit.enabled is false, or with the memory driver (no log outlives this command). */
export async function openAdminAudit(config: GatewayConfig, log: Logger = createLogger('silent')): Promise<AdminAudit> {
  const driver = config.audit.driver === 'storage' ? config.storage.driver : config.audit.driver;
  const audit = driver === 'memory' ? undefined : await openAuditLog(config, log, { writerThread: false });
  const actor = operator();
  return {
    async record(action, detail, outcome = 'ok') {
      await audit?.append({ type: `admin.${action}`, principal: actor, issuer: 'os', outcome, detail });
    },
    async close() {
      await audit?.close();
    },
  };
}

function operator(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}
