import type { Database } from './database.js';

/**
 * Runs `work` as one BEGIN IMMEDIATE transaction (SQLite's one writer: what it reads cannot change before its
 * writes commit) and hands its result, or its error, over as a promise, as the async repositories promise.
 */
export function inImmediateTransaction<R>(db: Database, work: () => R): Promise<R> {
  try {
    return Promise.resolve(db.transaction(work).immediate());
  } catch (err) {
    return Promise.reject(err);
  }
}
