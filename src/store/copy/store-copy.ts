import { CopyRefusedError, type CopyEnd, notEmpty } from './copy-end.js';
import { copyOrder, keyOf, layoutDifference, type TableLayout } from './copy-plan.js';
import { type Row, TableChecksum } from './row-checksum.js';
import { OperatorError } from '../../errors.js';

/** The copy ran, but what the target holds is not what the source does; the target was left empty. */
export class CopyVerifyError extends OperatorError {
  override name = 'CopyVerifyError';
}

/** An engine failed during the copy (a value the target refuses, a lost connection, a full disk); the target was left empty. */
export class CopyFailedError extends OperatorError {
  override name = 'CopyFailedError';
}

export interface CopyProgress {
  readonly phase: 'copy' | 'verify';
  readonly table: string;
  readonly tableRows: number;
  readonly tableTotal: number;
  /** Rows of every table, this phase. */
  readonly rows: number;
  readonly total: number;
}

export interface CopyOptions {
  /** The schema version of this stbd: both stores must be at it. */
  readonly schemaVersion: number;
  /** Rows read and written at a time (default 1000): the copy never holds more of a table in memory. */
  readonly batchRows?: number;
  readonly onProgress?: (p: CopyProgress) => void;
}

export interface CopiedTable {
  readonly name: string;
  readonly rows: number;
  /** The same on both stores (see TableChecksum). */
  readonly checksum: string;
}

/**
 * Copies every row of every table from `source` to the empty `target`, then reads the target back and
 * compares each table's row count and checksum with the source's, before committing: a copy that fails
 * or does not verify leaves the target as empty as it found it.
 * @throws CopyRefusedError (nothing written: a schema version other than this stbd's, different tables, a
 *   target with rows); CopyVerifyError (the target was rolled back)
 */
export async function copyStore(source: CopyEnd, target: CopyEnd, options: CopyOptions): Promise<CopiedTable[]> {
  const batch = options.batchRows ?? 1000;
  for (const [end, role] of [[source, 'source'], [target, 'target']] as const) {
    const version = await end.schemaVersion();
    if (version !== options.schemaVersion) throw new CopyRefusedError(versionProblem(role, end.where, version, options.schemaVersion));
  }
  await source.beginRead();
  try {
    const tables = copyOrder(await source.tables());
    const difference = layoutDifference(tables, await target.tables());
    if (difference) throw new CopyRefusedError(`the two stores' tables differ (${difference}), though both are at schema version ${options.schemaVersion}: was one changed by hand?`);
    await target.beginWrite();
    try {
      const full = await target.firstTableWithRows(tables);
      if (full) throw notEmpty(target.where, full);
      const totals: number[] = [];
      for (const table of tables) totals.push(await source.count(table)); // one connection: one statement at a time
      const total = totals.reduce((a, b) => a + b, 0);
      let rows = 0;
      const progress = (phase: CopyProgress['phase'], table: TableLayout, tableRows: number, i: number) =>
        options.onProgress?.({ phase, table: table.name, tableRows, tableTotal: totals[i]!, rows, total });

      const copied: CopiedTable[] = [];
      for (const [i, table] of tables.entries()) {
        const sum = await failing(`copying table ${table.name}`, () =>
          eachPage(source, table, batch, async (page, tableRows) => {
            await target.insert(table, page);
            rows += page.length;
            progress('copy', table, tableRows, i);
          }),
        );
        if (sum.rows !== totals[i]) throw new CopyVerifyError(`table ${table.name}: ${sum.rows} rows read from ${source.where}, which counted ${totals[i]} (was it written to meanwhile?); nothing was kept`);
        copied.push({ name: table.name, rows: sum.rows, checksum: sum.digest() });
      }

      rows = 0;
      for (const [i, table] of tables.entries()) {
        const sum = await failing(`reading table ${table.name} back from ${target.where}`, () =>
          eachPage(target, table, batch, async (page, tableRows) => {
            rows += page.length;
            progress('verify', table, tableRows, i);
          }),
        );
        const want = copied[i]!;
        if (sum.rows !== want.rows || sum.digest() !== want.checksum) {
          throw new CopyVerifyError(`table ${table.name} does not read back the same from ${target.where}: ${sum.rows} rows, checksum ${sum.digest()}; the source has ${want.rows} rows, checksum ${want.checksum}; nothing was kept`);
        }
      }
      await target.commit();
      return copied;
    } catch (err) {
      await target.rollback();
      throw err;
    }
  } finally {
    await source.rollback();
  }
}

/** An engine's error (a driver's, not stbd's) as one line saying where the copy was. */
async function failing<T>(doing: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof OperatorError) throw err;
    throw new CopyFailedError(`${doing}: ${(err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ')}; nothing was kept`);
  }
}

/**
 * Reads `table` from `end` page by page in primary-key order (each page starting after the last key of
 * the one before), hands each page to `each` with the table's rows read so far, and returns the checksum
 * of every row read.
 */
async function eachPage(end: CopyEnd, table: TableLayout, batch: number, each: (page: readonly Row[], tableRows: number) => Promise<void>): Promise<TableChecksum> {
  const sum = new TableChecksum();
  for (let page = await end.page(table, undefined, batch); page.length > 0; page = page.length < batch ? [] : await end.page(table, keyOf(table, page.at(-1)!), batch)) {
    for (const row of page) sum.add(row);
    await each(page, sum.rows);
  }
  return sum;
}

function versionProblem(role: 'source' | 'target', where: string, version: number, ours: number): string {
  const head = `the ${role} store ${where} is at schema version ${version}, this stbd's is ${ours}`;
  if (version > ours) return `${head}: copy with the stbd that wrote it (or a newer one)`;
  return role === 'source'
    ? `${head}: start this stbd on it once (it migrates the schema as it starts), stop it, then copy`
    : `${head}: migrate it first`;
}
