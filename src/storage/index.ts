/**
 * Opens the configured storage driver. PostgreSQL and Redis are imported on demand, so the embedded default
 * (SQLite) never loads their client libraries.
 */
import { createMemoryStorage } from './memory.js';
import { createSqliteStorage } from './sqlite.js';
import type { Storage } from './types.js';

export type {
  BucketSpec, CounterStore, CountResult, TakeResult, EventStore, KeyValueStore, RecordPutOptions, RecordStore, SessionRecord, SessionStore, Storage, StoredEvent, StoredRecord,
} from './types.js';

export interface StorageDriverConfig {
  driver: 'sqlite' | 'memory' | 'postgres' | 'redis';
  sqlite?: { path: string };
  postgres?: { connectionString: string; schema?: string };
  redis?: { url: string; prefix?: string };
}

export interface StorageOptions {
  /** Events kept per session for Last-Event-ID replay. */
  replayEvents: number;
}

export async function openStorage(config: StorageDriverConfig, opts: StorageOptions): Promise<Storage> {
  switch (config.driver) {
    case 'memory':
      return createMemoryStorage(opts);
    case 'sqlite':
      return createSqliteStorage({ ...need(config.sqlite, 'sqlite'), ...opts });
    case 'postgres': {
      const { createPostgresStorage } = await import('./postgres.js');
      return createPostgresStorage({ ...need(config.postgres, 'postgres'), ...opts });
    }
    case 'redis': {
      const { createRedisStorage } = await import('./redis.js');
      return createRedisStorage({ ...need(config.redis, 'redis'), ...opts });
    }
    default:
      throw new Error(`unknown storage driver: ${String((config as { driver: unknown }).driver)}`);
  }
}

function need<T>(section: T | undefined, driver: string): T {
  if (section === undefined) throw new Error(`storage.driver is "${driver}" but storage.${driver} is not configured`);
  return section;
}
