import pg from 'pg';
import { parsePostgresUrl, postgresHost } from '../../postgres-url.js';
import { StoreError } from '../database.js';
import type { Migration } from '../migrations.js';
import { PG_MIGRATIONS } from './migrations.js';

export interface PgOptions {
  /** postgres://user@host:5432/db (a Unix socket: ?host=/dir). No password in it: that comes from `password`. */
  readonly url: string;
  readonly password?: string;
  readonly poolSize: number;
  readonly statementTimeoutMs: number;
  /** Tests pass their own history; the daemon uses PG_MIGRATIONS. */
  readonly migrations?: readonly Migration[];
  /** false: connect without migrating (`stbd store copy` reads a source as it is); default true. */
  readonly migrate?: boolean;
  /** Told when stbd overrides a server setting that would lose acknowledged writes. */
  readonly onWarning?: (message: string) => void;
}

/** Where a URL points, for messages: user@host:port/db, never a password. */
export function describeServer(url: string): string {
  const u = parsePostgresUrl(url);
  if (!u) return 'postgres (unparsable url)';
  const port = u.searchParams.get('port') ?? (u.port || '5432');
  return `postgres://${u.username ? `${decodeURIComponent(u.username)}@` : ''}${postgresHost(u)}:${port}${u.pathname}`;
}

/** int8 (BIGINT: millisecond timestamps, ids) as a JS number; counts stay exact below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** A pool on the server of `options.url`, every connection with the statement timeout set. */
function createPool(options: PgOptions, startupOptions?: string): pg.Pool {
  return new pg.Pool({
    ...(startupOptions !== undefined ? { options: startupOptions } : {}),
    connectionString: options.url,
    ...(options.password !== undefined ? { password: options.password } : {}),
    max: options.poolSize,
    statement_timeout: options.statementTimeoutMs,
    connectionTimeoutMillis: 10_000,
    application_name: 'stbd',
    types,
  });
}

// Any constant works, as long as every stbd uses the same one: it names "the stbd schema" in pg_locks.
const MIGRATION_LOCK = 0x5354_4244; // "STBD"

/**
 * Brings the schema to the newest version in one transaction under a transaction-scoped advisory lock, so
 * several nodes starting at once migrate once: the others wait, then find nothing left to do.
 * @throws StoreError when the schema is newer than this stbd, or a migration fails (nothing is applied then).
 */
async function migratePostgres(pool: pg.Pool, server: string, migrations: readonly Migration[] = PG_MIGRATIONS): Promise<number> {
  const client = await pool.connect();
  client.on('error', () => undefined); // a lost connection fails the query in flight, which says so
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS stbd_schema (version INTEGER NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM stbd_schema');
    const current = rows[0]?.v ?? 0;
    const latest = migrations.at(-1)?.version ?? 0;
    if (current > latest) throw new StoreError(server, `schema version ${current} is newer than this stbd knows (${latest}); run a newer stbd or restore a backup`);
    for (const m of migrations) {
      if (m.version <= current) continue;
      try {
        await client.query(m.sql);
      } catch (err) {
        throw new StoreError(server, `migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
      }
      await client.query('INSERT INTO stbd_schema (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
    }
    await client.query('COMMIT');
    return Math.max(current, latest);
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Why a connection failed, in words an operator can act on. */
export function explainPgError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const known: Record<string, string> = {
    ECONNREFUSED: 'connection refused (is PostgreSQL running and listening there?)',
    ENOTFOUND: 'host not found',
    ENOENT: 'no server socket there (is PostgreSQL running?)',
    ETIMEDOUT: 'connection timed out',
    '28P01': 'password authentication failed (check [store] password_file)',
    '28000': 'the server refused this user (check pg_hba.conf and the user in [store] url)',
    '3D000': 'the database does not exist (create it, owned by the stbd role)',
    '42501': 'permission denied (the role needs to own the database or have CREATE on it)',
  };
  // Errors of the connection itself carry no code: node-postgres says what happened in words.
  const byMessage: Record<string, string> = {
    'Connection terminated due to connection timeout': 'no answer within 10 s (a firewall dropping packets, or the wrong host or port?)',
    'Connection terminated unexpectedly': 'the server closed the connection at once (is it PostgreSQL? its log says why)',
  };
  const reason = e.code ? known[e.code] : undefined;
  const text = reason ? `${reason} [${e.code}: ${e.message ?? ''}]` : ((e.message && byMessage[e.message]) ?? e.message ?? String(err));
  // The daemon and the CLI print it as one line.
  return text.replace(/\s*\n\s*/g, ' ');
}

/** The schema version of a PostgreSQL store (0: stbd never migrated it). */
export async function pgSchemaVersion(q: pg.Pool | pg.PoolClient): Promise<number> {
  const { rows: [table] } = await q.query<{ exists: boolean }>("SELECT to_regclass('stbd_schema') IS NOT NULL AS exists");
  if (!table?.exists) return 0;
  const { rows } = await q.query<{ v: number | null }>('SELECT max(version) AS v FROM stbd_schema');
  return rows[0]?.v ?? 0;
}

/**
 * stbd answers a caller only after its write committed, and promises that it survives a crash of the database:
 * with the server's synchronous_commit = off a commit returns before its WAL is on disk, and a crash loses the
 * last ones. stbd's own sessions then use `on`, as a startup option of every connection (stricter settings, e.g.
 * remote_apply for synchronous standbys, are kept as they are). True when the pool must be opened so.
 */
async function commitsNeedForcing(pool: pg.Pool, warn: (message: string) => void = () => undefined): Promise<boolean> {
  const { rows } = await pool.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
  if (rows[0]?.synchronous_commit !== 'off') return false;
  warn('the server runs with synchronous_commit = off, which loses the last commits in a crash; stbd\'s sessions use synchronous_commit = on');
  return true;
}

/**
 * Opens the pool and migrates. Any failure becomes one StoreError naming the server and the reason.
 * @throws StoreError
 */
export async function openPostgres(options: PgOptions): Promise<pg.Pool> {
  const server = describeServer(options.url);
  let pool = createPool(options);
  pool.on('error', () => undefined); // an idle client's lost connection: the next checkout reconnects
  try {
    if (await commitsNeedForcing(pool, options.onWarning)) {
      await pool.end();
      pool = createPool(options, '-c synchronous_commit=on');
      pool.on('error', () => undefined);
    }
    if (options.migrate === false) await pool.query('SELECT 1');
    else await migratePostgres(pool, server, options.migrations);
    return pool;
  } catch (err) {
    await pool.end().catch(() => undefined);
    if (err instanceof StoreError) throw err;
    throw new StoreError(server, explainPgError(err));
  }
}
