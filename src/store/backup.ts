import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Database } from './database.js';

/** A consistent copy of the running database, in a file of its own until the caller is done with it. */
export interface BackupFile {
  readonly path: string;
  readonly bytes: number;
  /** Deletes the copy. */
  discard(): void;
}

/**
 * Online backups through SQLite's backup API: pages are copied in steps while the daemon goes on writing,
 * and the copy is one consistent snapshot (WAL included). The copy is made next to the database (same
 * filesystem, same 0700 directory: it holds the same secrets).
 */
export class StoreBackup {
  constructor(
    private readonly db: Database,
    private readonly dbPath: string,
  ) {}

  async snapshot(): Promise<BackupFile> {
    const path = join(dirname(this.dbPath), `.backup-${randomBytes(6).toString('hex')}.db`);
    try {
      const { totalPages } = await this.db.backup(path);
      const pageSize = this.db.pragma('page_size', { simple: true }) as number;
      return { path, bytes: totalPages * pageSize, discard: () => rmSync(path, { force: true }) };
    } catch (err) {
      rmSync(path, { force: true });
      throw err;
    }
  }
}
