import type pg from 'pg';
import type { Database } from './database.js';
import { inTransaction, named } from './postgres/pg-transaction.js';

/** The health_probe row: a write round trip that tells whether the database still takes writes. */
export interface HealthProbeRepo {
  /** Writes `at` and reads it back in one transaction; rejects with what the database says (locked, read-only, I/O, gone…). */
  roundTrip(at: number): Promise<number | undefined>;
}

export class SqliteHealthProbeRepo implements HealthProbeRepo {
  readonly #write;
  readonly #read;
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
    this.#write = db.prepare('INSERT INTO health_probe (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at');
    this.#read = db.prepare<[], { checked_at: number }>('SELECT checked_at FROM health_probe WHERE id = 1');
  }

  async roundTrip(at: number): Promise<number | undefined> {
    return this.#db.transaction(() => {
      this.#write.run(at);
      return this.#read.get()?.checked_at;
    })();
  }
}

const Q = {
  write: named('health_write', 'INSERT INTO health_probe (id, checked_at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at'),
  read: named('health_read', 'SELECT checked_at FROM health_probe WHERE id = 1'),
};

export class PgHealthProbeRepo implements HealthProbeRepo {
  constructor(private readonly pool: pg.Pool) {}

  roundTrip(at: number): Promise<number | undefined> {
    return inTransaction(this.pool, async (c) => {
      await c.query(Q.write([at]));
      return (await c.query<{ checked_at: number }>(Q.read())).rows[0]?.checked_at;
    });
  }
}
