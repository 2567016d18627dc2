import type BetterSqlite3 from 'better-sqlite3';
import { type Database, schemaVersion } from '../database.js';
import { CopyRefusedError, type CopyEnd, ident } from './copy-end.js';
import type { TableLayout } from './copy-plan.js';
import type { Row } from './row-checksum.js';

/** A flag read from PostgreSQL as a boolean is stored as SQLite's 0/1 (better-sqlite3 takes no booleans). */
const forSqlite = (v: unknown): unknown => (typeof v === 'boolean' ? (v ? 1n : 0n) : v);

/**
 * An SQLite store as a copy's source or target. better-sqlite3 is synchronous; the methods are async for
 * the interface. Statements are prepared once per table and kept.
 */
export class SqliteCopyEnd implements CopyEnd {
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  private droppedTriggers: string[] = [];

  constructor(
    private readonly db: Database,
    readonly where: string,
    private readonly release: () => void = () => undefined,
  ) {}

  private statement(sql: string): BetterSqlite3.Statement {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s;
  }

  async schemaVersion(): Promise<number> {
    return schemaVersion(this.db);
  }

  async tables(): Promise<TableLayout[]> {
    const names = this.db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").pluck().all();
    const columns = this.db.prepare<[string], { name: string; pk: number }>('SELECT name, pk FROM pragma_table_info(?) ORDER BY cid');
    const references = this.db.prepare<[string], string>('SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)').pluck();
    return names.map((name) => {
      const cols = columns.all(name);
      const primaryKey = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
      if (primaryKey.length === 0) throw new CopyRefusedError(`${this.where}: table ${name} has no primary key to page through it by`);
      return { name, columns: cols.map((c) => c.name), primaryKey, references: references.all(name) };
    });
  }

  async firstTableWithRows(tables: readonly TableLayout[]): Promise<string | undefined> {
    return tables.find((t) => this.statement(`SELECT 1 FROM ${ident(t.name)} LIMIT 1`).get() !== undefined)?.name;
  }

  async count(table: TableLayout): Promise<number> {
    return (this.statement(`SELECT count(*) AS n FROM ${ident(table.name)}`).get() as { n: number }).n;
  }

  async page(table: TableLayout, after: Row | undefined, limit: number): Promise<Row[]> {
    const key = table.primaryKey.map(ident).join(', ');
    const where = after === undefined ? '' : `WHERE (${key}) > (${table.primaryKey.map(() => '?').join(', ')}) `;
    const sql = `SELECT ${table.columns.map(ident).join(', ')} FROM ${ident(table.name)} ${where}ORDER BY ${key} LIMIT ?`;
    // Exact integers: a bigint for every INTEGER, whatever its size.
    return this.statement(sql).raw(true).safeIntegers(true).all(...(after ?? []), limit) as Row[];
  }

  async beginRead(): Promise<void> {
    // Deferred: the snapshot is taken by the first read and kept until the end.
    this.db.exec('BEGIN');
  }

  async beginWrite(): Promise<void> {
    this.db.exec('BEGIN IMMEDIATE');
    // SQLite cannot switch a trigger off: it is dropped inside the transaction and created again before the commit.
    this.droppedTriggers = this.db.prepare<[], { name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name").all().map((t) => {
      this.db.exec(`DROP TRIGGER ${ident(t.name)}`);
      return t.sql;
    });
  }

  async insert(table: TableLayout, rows: readonly Row[]): Promise<void> {
    const insert = this.statement(`INSERT INTO ${ident(table.name)} (${table.columns.map(ident).join(', ')}) VALUES (${table.columns.map(() => '?').join(', ')})`);
    for (const row of rows) insert.run(...row.map(forSqlite));
  }

  async commit(): Promise<void> {
    for (const sql of this.droppedTriggers) this.db.exec(sql);
    this.droppedTriggers = [];
    // An INTEGER PRIMARY KEY goes on from the largest id present: nothing to advance.
    this.db.exec('COMMIT');
  }

  async rollback(): Promise<void> {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
    this.droppedTriggers = [];
  }

  async close(): Promise<void> {
    await this.rollback();
    this.db.close();
    this.release();
  }
}
