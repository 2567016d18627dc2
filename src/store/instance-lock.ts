import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import { OperatorError } from '../errors.js';

/** Another process holds the database's instance lock. */
export class InstanceLockedError extends OperatorError {
  override name = 'InstanceLockedError';
}

/** Held by the daemon for its whole life: one stbd per database. */
export interface InstanceLock {
  release(): void;
}

/**
 * Takes the database's instance lock: an exclusive SQLite (fcntl) lock on `PATH.lock`, which the kernel
 * drops when the process dies, so a stale lock from a killed stbd never blocks; `PATH.pid` says who holds
 * it, for the refusal message.
 * @throws InstanceLockedError `another stbd (pid N) is using PATH`; OperatorError when the lock file cannot be made
 */
export function acquireInstanceLock(dbPath: string): InstanceLock {
  const lockPath = `${dbPath}.lock`;
  const pidPath = `${dbPath}.pid`;
  let db: BetterSqlite3.Database;
  try {
    db = new BetterSqlite3(lockPath, { timeout: 0 });
  } catch (err) {
    throw new OperatorError(`cannot create the lock file ${lockPath}: ${(err as Error).message}`);
  }
  try {
    // In exclusive locking mode the lock taken by the first write is kept until the connection closes.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = MEMORY');
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL); DELETE FROM holder;');
    db.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid);
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw new OperatorError(`cannot lock ${lockPath}: ${(err as Error).message}`);
    let pid = '';
    try {
      pid = readFileSync(pidPath, 'utf8').trim();
    } catch {
      // Written a moment after the lock is taken: the other stbd is still starting.
    }
    throw new InstanceLockedError(`another stbd${/^\d+$/.test(pid) ? ` (pid ${pid})` : ''} is using ${dbPath}`);
  }
  writeFileSync(pidPath, `${process.pid}\n`);
  return {
    release() {
      rmSync(pidPath, { force: true });
      db.close();
      rmSync(lockPath, { force: true });
    },
  };
}
