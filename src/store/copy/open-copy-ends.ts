import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { ensureDirectory, openDatabase, StoreError } from '../database.js';
import { acquireInstanceLock, InstanceLockedError, type InstanceLock } from '../instance-lock.js';
import { openPostgresStore, type StoreSettings, storeName } from '../open-store.js';
import { describeServer } from '../postgres/pg-database.js';
import { CopyRefusedError, type CopyEnd, notEmpty } from './copy-end.js';
import { PgCopyEnd } from './pg-copy-end.js';
import { SqliteCopyEnd } from './sqlite-copy-end.js';

/** @throws CopyRefusedError when the two [store] sections name one store */
export function refuseSameStore(source: StoreSettings, target: StoreSettings): void {
  if (source.kind === target.kind && storeName(source) === storeName(target)) {
    throw new CopyRefusedError(`the source and the target are the same store (${storeName(source)})`);
  }
}

/** The SQLite instance lock: while the copy holds it, no stbd runs on the file (and none starts). */
function lock(path: string): InstanceLock {
  try {
    return acquireInstanceLock(path);
  } catch (err) {
    if (err instanceof InstanceLockedError) throw new CopyRefusedError(`${err.message}: stop it first (a store is copied while no stbd uses it)`);
    throw err;
  }
}

function openRaw(path: string, settings: StoreSettings): BetterSqlite3.Database {
  try {
    const db = new BetterSqlite3(path, { fileMustExist: true, timeout: settings.busy_timeout });
    try {
      db.pragma('user_version'); // a file that is not a database fails here, not at the first page
      return db;
    } catch (err) {
      db.close();
      throw err;
    }
  } catch (err) {
    throw new StoreError(path, (err as Error).message);
  }
}

/** How long a closed connection may still be listed by the server: LINGER_CHECKS × LINGER_CHECK_MS. */
const LINGER_CHECKS = 30;
const LINGER_CHECK_MS = 100;

/** A PostgreSQL end on a pool of one connection, refused while another stbd is connected to the database. */
async function openPg(settings: StoreSettings, migrate: boolean): Promise<PgCopyEnd> {
  const end = await PgCopyEnd.open(await openPostgresStore(settings, { poolSize: 1, migrate }), describeServer(settings.url));
  // A connection closed a moment ago (this process's own migration connection, an stbd just stopped) is
  // listed until its server process has exited, which is asynchronous: asked again for a short while.
  let others = await end.otherStbdSessions();
  for (let i = 0; others > 0 && i < LINGER_CHECKS; i++) {
    await sleep(LINGER_CHECK_MS);
    others = await end.otherStbdSessions();
  }
  if (others > 0) {
    await end.close();
    throw new CopyRefusedError(`${others} other stbd connection${others === 1 ? ' is' : 's are'} open on ${end.where}: stop every stbd using it first (a store is copied while no stbd uses it)`);
  }
  return end;
}

async function guarded<T>(release: () => void, open: () => Promise<T> | T): Promise<T> {
  try {
    return await open();
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * Opens the store to copy from, as it is (not migrated: the copy refuses one at another schema version).
 * @throws StoreError; CopyRefusedError while an stbd uses it
 */
export async function openCopySource(settings: StoreSettings): Promise<CopyEnd> {
  if (settings.kind === 'postgres') return openPg(settings, false);
  if (!existsSync(settings.path)) throw new StoreError(settings.path, 'no database file there (is [store] path of the source config right?)');
  const held = lock(settings.path);
  return guarded(held.release, () => new SqliteCopyEnd(openRaw(settings.path, settings), settings.path, held.release));
}

/**
 * Opens the store to copy into: refused (and left as it is) when it holds rows, else migrated to this
 * stbd's schema (created, for a new SQLite file).
 * @throws StoreError; CopyRefusedError
 */
export async function openCopyTarget(settings: StoreSettings, onWarning: (message: string) => void): Promise<CopyEnd> {
  if (settings.kind === 'postgres') {
    const before = await openPg(settings, false);
    const full = await before.tables().then((t) => before.firstTableWithRows(t)).finally(() => before.close());
    if (full) throw notEmpty(before.where, full);
    return openPg(settings, true);
  }
  ensureDirectory(settings.path);
  const held = lock(settings.path);
  return guarded(held.release, async () => {
    if (existsSync(settings.path)) {
      const before = new SqliteCopyEnd(openRaw(settings.path, settings), settings.path);
      const full = await before.tables().then((t) => before.firstTableWithRows(t)).finally(() => before.close());
      if (full) throw notEmpty(settings.path, full);
    }
    const db = openDatabase(settings.path, { synchronous: settings.synchronous, busyTimeoutMs: settings.busy_timeout, onWarning });
    return new SqliteCopyEnd(db, settings.path, held.release);
  });
}
