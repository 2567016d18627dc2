import type { Database } from './database.js';

/**
 * BEGIN IMMEDIATE units of work on one database (SQLite's one writer: what a unit reads cannot change before its
 * writes commit), each result or error handed over as a promise, as the async repositories promise. The wrapper is
 * made once per repository: better-sqlite3's `transaction()` builds four functions each time it is called.
 */
export class ImmediateUnits {
  readonly #immediate: (work: () => unknown) => unknown;

  constructor(db: Database) {
    this.#immediate = db.transaction((work: () => unknown) => work()).immediate;
  }

  run<R>(work: () => R): Promise<R> {
    try {
      return Promise.resolve(this.#immediate(work) as R);
    } catch (err) {
      return Promise.reject(err);
    }
  }
}
