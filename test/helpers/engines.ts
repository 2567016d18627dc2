import { join } from 'node:path';
import type pg from 'pg';
import type * as Tap from 'tap';
import { type Database, openDatabase } from '../../src/store/database.js';
import { openPostgres } from '../../src/store/postgres/pg-database.js';
import { forSqlite } from '../../src/store/sql-dialect.js';
import { freshDatabase, postgresFor } from './postgres.js';

/** A fresh, migrated store of one engine, and a way to look at its rows ($1-style parameters on both). */
export type Store =
  | { readonly engine: 'sqlite'; readonly db: Database; query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]> }
  | { readonly engine: 'postgres'; readonly pool: pg.Pool; query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]> };

export interface Engine {
  readonly name: 'sqlite' | 'postgres';
  /** A new empty store, closed at the end of `t`. */
  open(t: Tap.Test): Promise<Store>;
}

/**
 * The engines a contract test runs against: SQLite always, PostgreSQL on a throwaway server of this test
 * file's own when one is installed (else a skip saying why).
 */
export function engines(t: Tap.Test): Engine[] {
  const sqlite: Engine = {
    name: 'sqlite',
    async open(t) {
      const db = openDatabase(join(t.testdir(), 'stbd.db'), { synchronous: 'normal', busyTimeoutMs: 1000 });
      t.teardown(() => db.close());
      const query = async (sql: string, params: unknown[] = []) => {
        const statement = db.prepare(forSqlite(sql));
        return statement.reader ? (statement.all(...params) as Record<string, unknown>[]) : (statement.run(...params), []);
      };
      return { engine: 'sqlite', db, query };
    },
  };
  const server = postgresFor(t);
  if (!server) return [sqlite];
  const postgres: Engine = {
    name: 'postgres',
    async open(t) {
      const pool = await openPostgres({ url: await freshDatabase(server), poolSize: 20, statementTimeoutMs: 10_000 });
      t.teardown(() => pool.end());
      return { engine: 'postgres', pool, query: async (sql, params = []) => (await pool.query(sql, params)).rows };
    },
  };
  return [sqlite, postgres];
}
