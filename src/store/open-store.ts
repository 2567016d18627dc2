import type pg from 'pg';
import { readDatabasePassword } from '../secret-file.js';
import { describeServer, openPostgres, type PgOptions } from './postgres/pg-database.js';

/** The [store] keys a PostgreSQL store is opened with (the config's parsed [store] section is one). */
export interface PostgresStoreSettings {
  readonly url: string;
  readonly password_file: string | undefined;
  readonly pool_size: number;
  /** Milliseconds. */
  readonly statement_timeout: number;
}

/** The whole [store] section: which engine, and its keys. */
export interface StoreSettings extends PostgresStoreSettings {
  readonly kind: 'sqlite' | 'postgres';
  readonly path: string;
  readonly synchronous: 'normal' | 'full';
  /** Milliseconds. */
  readonly busy_timeout: number;
}

/** Where a [store] section points, as messages name it: the SQLite file, or postgres://user@host:port/db. */
export const storeName = (s: Pick<StoreSettings, 'kind' | 'path' | 'url'>): string => (s.kind === 'sqlite' ? s.path : describeServer(s.url));

/**
 * openPostgres's options from [store]; the password is read from password_file (refused when others may read it).
 * @throws SecretFileError naming [store] password_file
 */
export function postgresOptions(store: PostgresStoreSettings, overrides: Partial<PgOptions> = {}): PgOptions {
  return {
    url: store.url,
    ...(store.password_file !== undefined ? { password: readDatabasePassword(store.password_file) } : {}),
    poolSize: store.pool_size,
    statementTimeoutMs: store.statement_timeout,
    ...overrides,
  };
}

/**
 * Opens the PostgreSQL store of [store] kind = "postgres" and brings its schema up to date.
 * @throws StoreError one line naming the server (user@host:port/db) and why it cannot be used;
 *   SecretFileError when [store] password_file cannot be used
 */
export async function openPostgresStore(store: PostgresStoreSettings, overrides: Partial<PgOptions> = {}): Promise<pg.Pool> {
  return openPostgres(postgresOptions(store, overrides));
}
