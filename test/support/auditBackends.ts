/**
 * The audit stores the audit tests run against: a SQLite file, SQLite in memory, PostgreSQL (a fresh schema per
 * case; skipped visibly when unreachable, except under CI=true). Each gives raw SQL access for tampering.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createSqliteAuditStore } from '../../src/audit/sqlite.js';
import { createThreadedSqliteAuditStore } from '../../src/audit/sqliteThread.js';
import { createPostgresAuditStore } from '../../src/audit/postgres.js';
import type { AuditStore } from '../../src/audit/store.js';

export const PG_URL = process.env.PORTCULLIS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface AuditLocation {
  open(): Promise<AuditStore>;
  /** Runs SQL with $1… placeholders; `T(name)` in it is replaced by the table's qualified name. */
  sql(query: string, params?: unknown[]): Promise<void>;
  remove(): Promise<void>;
}

export interface AuditBackend {
  name: string;
  probe?: () => Promise<void>;
  location(): AuditLocation;
}

let seq = 0;
const RUN = `${process.pid}_${Date.now().toString(36)}`;

function sqliteBackend(name: string, open: (file: string) => Promise<AuditStore>): AuditBackend {
  return {
    name,
    location() {
      const file = join(mkdtempSync(join(tmpdir(), 'pc-audit-')), 'audit.db');
      return {
        open: () => open(file),
        async sql(query, params = []) {
          const db = new Database(file);
          try {
            // Placeholders are used once each, in order, in these tests.
          db.prepare(query.replace(/T\((\w+)\)/g, '$1').replace(/\$\d+/g, '?')).run(...params);
          } finally {
            db.close();
          }
        },
        async remove() {},
      };
    },
  };
}

export const AUDIT_BACKENDS: AuditBackend[] = [
  sqliteBackend('sqlite', async (file) => createSqliteAuditStore(file)),
  // What the gateway uses for a file: appends through the writer thread.
  sqliteBackend('sqlite writer thread', createThreadedSqliteAuditStore),
  {
    name: 'postgres',
    async probe() {
      const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
      } finally {
        await client.end().catch(() => {});
      }
    },
    location() {
      const schema = `pc_audit_${RUN}_${++seq}`;
      const run = async (query: string, params: unknown[] = []) => {
        const client = new pg.Client({ connectionString: PG_URL });
        await client.connect();
        try {
          await client.query(query.replace(/T\((\w+)\)/g, `"${schema}".$1`), params);
        } finally {
          await client.end();
        }
      };
      return {
        open: () => createPostgresAuditStore({ connectionString: PG_URL, schema }),
        sql: run,
        remove: () => run(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
      };
    },
  },
];

/** Runs the probe; skips (or fails under CI=true) when the backend is not reachable. Returns whether to run. */
export async function reachable(backend: AuditBackend, t: { skip(msg: string): void }): Promise<boolean> {
  if (!backend.probe) return true;
  try {
    await backend.probe();
    return true;
  } catch (err) {
    const notice = `${backend.name} not reachable (${(err as Error).message || String(err)})`;
    if (process.env.CI === 'true') throw new Error(`${notice}; CI=true requires it`);
    t.skip(notice);
    return false;
  }
}
