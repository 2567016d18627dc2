import { OperatorError } from '../../errors.js';
import type { TableLayout } from './copy-plan.js';
import type { Row } from './row-checksum.js';

/** `stbd store copy` will not run: the message says why and what to do. Nothing was written. */
export class CopyRefusedError extends OperatorError {
  override name = 'CopyRefusedError';
}

/** The refusal of a target that already holds rows, from wherever it is found. */
export const notEmpty = (where: string, table: string): CopyRefusedError =>
  new CopyRefusedError(`the target store ${where} is not empty: table ${table} has rows (copy into a new, empty database; nothing was written)`);

/**
 * One side of a store copy, on one connection: the source is read in one snapshot, the target written in
 * one transaction, so a copy that fails (or does not verify) leaves the target as empty as it was.
 */
export interface CopyEnd {
  /** Names the store in messages: a file path, or postgres://user@host:port/db. */
  readonly where: string;
  schemaVersion(): Promise<number>;
  /** Its tables (stbd's own bookkeeping of schema versions left out). */
  tables(): Promise<TableLayout[]>;
  /** The first of `tables` that holds a row. */
  firstTableWithRows(tables: readonly TableLayout[]): Promise<string | undefined>;
  count(table: TableLayout): Promise<number>;
  /**
   * Up to `limit` rows in primary-key order after the key `after` (from the first when undefined), each
   * with the values of `table.columns` in that order. Integers come back exact (bigint where they may be large).
   */
  page(table: TableLayout, after: Row | undefined, limit: number): Promise<Row[]>;
  /** From here on, reads see one consistent snapshot. */
  beginRead(): Promise<void>;
  /** One transaction for the whole copy. Triggers are off in it: the copied rows already hold what they maintain. */
  beginWrite(): Promise<void>;
  /** Rows in `table.columns` order, ids included. */
  insert(table: TableLayout, rows: readonly Row[]): Promise<void>;
  /** Triggers back on, generated ids continuing past the copied ones, committed. */
  commit(): Promise<void>;
  /** Ends a read or undoes a write; nothing when none is open. */
  rollback(): Promise<void>;
  /** Closes the connection and releases what it holds (the SQLite instance lock). */
  close(): Promise<void>;
}

/** A double-quoted identifier (both engines). */
export const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;
