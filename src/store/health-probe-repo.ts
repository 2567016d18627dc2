import type { Database } from './database.js';

/** The health_probe row: a write round trip that tells whether the database still takes writes. */
export class HealthProbeRepo {
  readonly #write;
  readonly #read;
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
    this.#write = db.prepare('INSERT INTO health_probe (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at');
    this.#read = db.prepare<[], { checked_at: number }>('SELECT checked_at FROM health_probe WHERE id = 1');
  }

  /** Writes `at` and reads it back in one transaction; throws what SQLite throws (locked, read-only, I/O…). */
  roundTrip(at: number): number | undefined {
    return this.#db.transaction(() => {
      this.#write.run(at);
      return this.#read.get()?.checked_at;
    })();
  }
}
