import { chmodSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { OperatorError } from '../errors.js';
import type { Sealer } from '../sealed-text.js';
import { type Migration, MIGRATIONS } from './migrations.js';

export type Database = BetterSqlite3.Database;

export interface OpenOptions {
  readonly synchronous: 'normal' | 'full';
  readonly busyTimeoutMs: number;
  /** Tests pass their own history; the daemon uses MIGRATIONS. */
  readonly migrations?: readonly Migration[];
  /** The master key's sealer: migrations that seal stored secrets need it. */
  readonly sealer?: Sealer;
  /** Told about what was fixed on the way (a file others could read). */
  readonly onWarning?: (message: string) => void;
}

/** The database cannot be used. The message says which one (a file, or a PostgreSQL server) and why, in words an operator can act on. */
export class StoreError extends OperatorError {
  constructor(
    readonly where: string,
    problem: string,
  ) {
    super(`database ${where}: ${problem}`);
    this.name = 'StoreError';
  }
}

const EXPLAIN: Record<string, string> = {
  SQLITE_NOTADB: 'the file is not an SQLite database (corrupt, or some other file)',
  SQLITE_CORRUPT: 'the database file is corrupt',
  SQLITE_CANTOPEN: 'cannot open the file (missing directory, a directory in its place, or no permission)',
  SQLITE_READONLY: 'the file or its directory is not writable',
  SQLITE_READONLY_DIRECTORY: 'the directory holding the database is not writable',
  SQLITE_IOERR: 'an I/O error occurred (disk full or failing?)',
  SQLITE_FULL: 'the disk is full',
  SQLITE_BUSY: 'the database is locked by another process',
  SQLITE_PERM: 'permission denied',
};

function explain(err: unknown): string {
  const code = (err as { code?: string }).code ?? '';
  const known = EXPLAIN[code] ?? EXPLAIN[code.replace(/_[A-Z]+$/, '')];
  const detail = err instanceof Error ? err.message : String(err);
  return known ? `${known} [${code}: ${detail}]` : detail;
}

/** Creates the database's directory (0700: it holds device secrets). @throws StoreError */
export function ensureDirectory(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new StoreError(path, `cannot create its directory ${dirname(path)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/**
 * Opens (creating if needed) the SQLite database: WAL, foreign keys, busy timeout, migrations.
 * Any failure becomes a StoreError so the daemon can exit with one clear line.
 */
export function openDatabase(path: string, options: OpenOptions): Database {
  ensureDirectory(path);
  let db: Database | undefined;
  try {
    // The database holds device secrets. Creating it 0600 first makes SQLite give its -wal and -shm files the same mode.
    closeSync(openSync(path, 'a', 0o600));
  } catch (err) {
    throw new StoreError(path, `cannot create or open the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  keepPrivate(path, options.onWarning);
  try {
    db = new BetterSqlite3(path);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs)}`);
    migrate(db, path, options.migrations ?? MIGRATIONS, options.sealer);
    scrubIfPending(db, path, options.onWarning);
    return db;
  } catch (err) {
    db?.close();
    if (err instanceof StoreError) throw err;
    throw new StoreError(path, explain(err));
  }
}

/**
 * The database and its -wal and -shm files hold device secrets (sealed) and everything else stbd knows:
 * one that others may read (a copy restored with `cp`, a umask) is made private again, with a warning.
 */
function keepPrivate(path: string, warn: (message: string) => void = () => undefined): void {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    let mode: number;
    try {
      mode = statSync(file).mode & 0o777;
    } catch {
      continue;
    }
    if ((mode & 0o077) === 0) continue;
    try {
      chmodSync(file, mode & 0o700);
    } catch (err) {
      throw new StoreError(path, `${file} has mode ${mode.toString(8).padStart(4, '0')}, which lets others read it, and cannot be made private (${(err as NodeJS.ErrnoException).code ?? String(err)}); chmod 600 it`);
    }
    warn(`${file} had mode ${mode.toString(8).padStart(4, '0')}, which let others read it; made ${(mode & 0o700).toString(8).padStart(4, '0')}`);
  }
}

function migrate(db: Database, path: string, migrations: readonly Migration[], sealer: Sealer | undefined): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new StoreError(path, `schema version ${current} is newer than this stbd knows (${latest}); run a newer stbd or restore a backup`);
  }
  // Marked before the migrations run, cleared only once the file is rewritten: a scrub that fails or is cut short is
  // tried again at every start until it is done.
  if (migrations.some((m) => m.version > current && m.scrub === true)) markScrubPending(path);
  for (const m of migrations) {
    if (m.version <= current) continue;
    try {
      db.transaction(() => {
        db.exec(m.sql);
        m.run?.(db, { sealer });
        db.pragma(`user_version = ${m.version}`);
      })();
    } catch (err) {
      if ((err as Error).name === 'MigrationNeedsKeyError') throw new StoreError(path, `schema migration ${m.version} (${m.name}): ${(err as Error).message}`);
      throw err;
    }
  }
}

const scrubMarker = (path: string) => `${path}-scrub`;

function markScrubPending(path: string): void {
  const fd = openSync(scrubMarker(path), 'w', 0o600);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * What a migration replaced (secrets in clear) may linger in free space of the file and in old WAL frames: the
 * file is rewritten (VACUUM) and the WAL emptied. Either can fail without harm to the data (VACUUM needs free disk
 * as large as the file; the WAL cannot be emptied while another process reads it): stbd then starts, warns, and
 * tries again at its next start.
 */
function scrubIfPending(db: Database, path: string, warn: (message: string) => void = () => undefined): void {
  if (!existsSync(scrubMarker(path))) return;
  try {
    db.exec('VACUUM');
    const [wal] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    if (wal?.busy) throw new Error('another process holds the database open, so its write-ahead log cannot be emptied');
    unlinkSync(scrubMarker(path));
  } catch (err) {
    warn(`secrets replaced by an upgrade may still linger in free space of ${path} or its -wal file: rewriting them failed (${(err as Error).message}); tried again at the next start`);
  }
}

/** The schema version of an open database. */
export function schemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}
