/**
 * Opens the audit store and key the configuration asks for. audit.driver "storage" follows storage.driver:
 * sqlite → audit.db beside the database file; memory → in memory (with a key that dies with the process);
 * postgres → tables in storage.postgres's schema. Redis has no multi-key transactions to chain a batch in, so it
 * is refused with the two ways out, never silently unaudited.
 */
import { dirname, join } from 'node:path';
import type { GatewayConfig } from '../config/types.js';
import type { Logger } from '../core/log.js';
import { fileKeyStore, memoryKeyStore, type AuditKeyStore } from './keys.js';
import { AuditLog } from './log.js';
import { createSqliteAuditStore } from './sqlite.js';
import { createThreadedSqliteAuditStore } from './sqliteThread.js';
import type { AuditStore } from './store.js';

export const AUDIT_DB_FILE = 'audit.db';

export type AuditDriver = 'sqlite' | 'memory' | 'postgres';

/** Which store the configuration means, given the storage driver actually in use (tests inject memory storage). */
export function auditDriver(config: GatewayConfig, storageDriver: string = config.storage.driver): AuditDriver {
  if (config.audit.driver !== 'storage') return config.audit.driver;
  switch (storageDriver) {
    case 'sqlite':
    case 'memory':
    case 'postgres':
      return storageDriver;
    default:
      throw new Error(`storage.driver is "${storageDriver}", which cannot hold the audit log: set audit.driver to "sqlite" (a log per replica, in server.dataDir) or "postgres" (one log for every replica, in storage.postgres)`);
  }
}

/**
 * `writerThread`: a SQLite file is written from its own thread, so commits (fsync) never stall the caller's event
 * loop; the gateway wants that, a command that reads the log or writes one record does not.
 */
export async function openAuditStore(config: GatewayConfig, driver: AuditDriver, opts: { writerThread?: boolean } = {}): Promise<AuditStore> {
  switch (driver) {
    case 'memory':
      return createSqliteAuditStore(':memory:');
    case 'sqlite': {
      const beside = config.audit.driver === 'storage' && config.storage.driver === 'sqlite' ? dirname(config.storage.sqlite.path) : config.server.dataDir;
      const file = join(beside, AUDIT_DB_FILE);
      const { durability } = config.audit;
      return opts.writerThread ? createThreadedSqliteAuditStore(file, durability) : createSqliteAuditStore(file, durability);
    }
    case 'postgres': {
      const { createPostgresAuditStore } = await import('./postgres.js');
      return createPostgresAuditStore({ ...config.storage.postgres, durability: config.audit.durability });
    }
  }
}

export function auditKeys(config: GatewayConfig, driver: AuditDriver): AuditKeyStore {
  return driver === 'memory' ? memoryKeyStore() : fileKeyStore(config.server.dataDir);
}

/** The gateway's log, or undefined when audit.enabled is false. */
export async function openAuditLog(config: GatewayConfig, log: Logger, opts: { storageDriver?: string; writerThread?: boolean } = {}): Promise<AuditLog | undefined> {
  if (!config.audit.enabled) return undefined;
  const driver = auditDriver(config, opts.storageDriver);
  const keys = auditKeys(config, driver);
  const store = await openAuditStore(config, driver, { writerThread: opts.writerThread ?? true });
  try {
    const { content, maxRecordBytes, checkpointRecords, checkpointSeconds, retentionDays } = config.audit;
    return new AuditLog({ store, keys, log, content, maxRecordBytes, checkpointRecords, checkpointSeconds, retentionDays });
  } catch (e) {
    await store.close();
    throw e;
  }
}
