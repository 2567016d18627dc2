import pg from 'pg';
import { pgSchemaVersion } from '../postgres/pg-database.js';
import { CopyRefusedError, type CopyEnd, ident } from './copy-end.js';
import type { TableLayout } from './copy-plan.js';
import type { Row } from './row-checksum.js';

/** BIGINT as an exact bigint (the daemon's pools read it as a number, exact only below 2^53). */
const exact = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary' ? (v: string) => BigInt(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** A statement takes at most 65535 parameters: a page is inserted in as many statements as that needs. */
const MAX_PARAMETERS = 65_535;

const IN_SCHEMA = 'c.relnamespace = current_schema()::regnamespace';

/**
 * A PostgreSQL store as a copy's source or target, on one connection held for the whole copy (the
 * snapshot of a source and the transaction of a target live on it).
 */
export class PgCopyEnd implements CopyEnd {
  private triggerTables: string[] = [];

  private constructor(
    private readonly pool: pg.Pool,
    private readonly client: pg.PoolClient,
    readonly where: string,
  ) {}

  static async open(pool: pg.Pool, where: string): Promise<PgCopyEnd> {
    const client = await pool.connect();
    client.on('error', () => undefined); // a lost connection fails the query in flight, which says so
    // Counting a table of millions of rows, or committing the whole copy, may take longer than the
    // daemon's per-statement bound ([store] statement_timeout), which is meant for request paths.
    await client.query('SET statement_timeout = 0');
    return new PgCopyEnd(pool, client, where);
  }

  /** Sessions of other stbd processes (the daemon's pools and tools name themselves "stbd") on this database. */
  async otherStbdSessions(): Promise<number> {
    const { rows } = await this.client.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'stbd' AND pid <> pg_backend_pid()");
    return rows[0]!.n;
  }

  async schemaVersion(): Promise<number> {
    return pgSchemaVersion(this.client);
  }

  async tables(): Promise<TableLayout[]> {
    const { rows } = await this.client.query<{ name: string; columns: string[]; primary_key: string[]; refs: string[] }>(`
      SELECT c.relname AS name,
        array(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns,
        array(SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
              WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)) AS primary_key,
        array(SELECT DISTINCT p.relname::text FROM pg_constraint f JOIN pg_class p ON p.oid = f.confrelid WHERE f.conrelid = c.oid AND f.contype = 'f') AS refs
      FROM pg_class c WHERE ${IN_SCHEMA} AND c.relkind = 'r' AND c.relname <> 'stbd_schema' ORDER BY c.relname`);
    return rows.map((r) => {
      if (r.primary_key.length === 0) throw new CopyRefusedError(`${this.where}: table ${r.name} has no primary key to page through it by`);
      return { name: r.name, columns: r.columns, primaryKey: r.primary_key, references: r.refs };
    });
  }

  async firstTableWithRows(tables: readonly TableLayout[]): Promise<string | undefined> {
    for (const t of tables) {
      if ((await this.client.query(`SELECT 1 FROM ${ident(t.name)} LIMIT 1`)).rowCount) return t.name;
    }
    return undefined;
  }

  async count(table: TableLayout): Promise<number> {
    return (await this.client.query<{ n: number }>(`SELECT count(*)::int8 AS n FROM ${ident(table.name)}`)).rows[0]!.n;
  }

  async page(table: TableLayout, after: Row | undefined, limit: number): Promise<Row[]> {
    const key = table.primaryKey.map(ident).join(', ');
    const where = after === undefined ? '' : `WHERE (${key}) > (${table.primaryKey.map((_, i) => `$${i + 1}`).join(', ')}) `;
    const values = [...(after ?? []), limit];
    const text = `SELECT ${table.columns.map(ident).join(', ')} FROM ${ident(table.name)} ${where}ORDER BY ${key} LIMIT $${values.length}`;
    // Named: prepared once on this connection, its plan reused page after page (along the primary key's index).
    const { rows } = await this.client.query<unknown[]>({ name: `copy-page:${table.name}:${after ? 'after' : 'first'}`, text, values, rowMode: 'array', types: exact });
    return rows;
  }

  async beginRead(): Promise<void> {
    // One snapshot for every page of every table, whatever commits meanwhile.
    await this.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  }

  async beginWrite(): Promise<void> {
    await this.client.query('BEGIN');
    // User triggers off in this transaction only (the table owner may; the foreign keys' own triggers stay on).
    const { rows } = await this.client.query<{ name: string }>(`SELECT DISTINCT c.relname AS name FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal AND ${IN_SCHEMA} ORDER BY 1`);
    this.triggerTables = rows.map((r) => r.name);
    for (const t of this.triggerTables) await this.client.query(`ALTER TABLE ${ident(t)} DISABLE TRIGGER USER`);
  }

  async insert(table: TableLayout, rows: readonly Row[]): Promise<void> {
    const width = table.columns.length;
    const perStatement = Math.floor(MAX_PARAMETERS / width);
    for (let at = 0; at < rows.length; at += perStatement) {
      const chunk = rows.slice(at, at + perStatement);
      const tuples = chunk.map((_, r) => `(${table.columns.map((_, c) => `$${r * width + c + 1}`).join(', ')})`);
      // The copied ids themselves, even into a column GENERATED ALWAYS.
      const text = `INSERT INTO ${ident(table.name)} (${table.columns.map(ident).join(', ')}) OVERRIDING SYSTEM VALUE VALUES ${tuples.join(', ')}`;
      await this.client.query({ name: `copy-insert:${table.name}:${chunk.length}`, text, values: chunk.flat() });
    }
  }

  async commit(): Promise<void> {
    for (const t of this.triggerTables) await this.client.query(`ALTER TABLE ${ident(t)} ENABLE TRIGGER USER`);
    this.triggerTables = [];
    // Ids were copied as they were: the sequences of identity (and serial) columns must go on past them.
    const { rows } = await this.client.query<{ table_name: string; column_name: string; seq: string }>(`
      SELECT c.relname AS table_name, a.attname AS column_name, pg_get_serial_sequence(quote_ident(c.relname), a.attname) AS seq
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      WHERE ${IN_SCHEMA} AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND pg_get_serial_sequence(quote_ident(c.relname), a.attname) IS NOT NULL`);
    for (const r of rows) {
      await this.client.query(`SELECT setval($1, (SELECT coalesce(max(${ident(r.column_name)}), 0) + 1 FROM ${ident(r.table_name)}), false)`, [r.seq]);
    }
    await this.client.query('COMMIT');
    // Statistics now, not at autovacuum's next turn: without them the first plans over a million copied rows are
    // guesses (a join read page after page re-read every row before its page, past the statement timeout).
    await this.client.query('ANALYZE');
  }

  async rollback(): Promise<void> {
    this.triggerTables = [];
    await this.client.query('ROLLBACK');
  }

  async close(): Promise<void> {
    await this.client.query('ROLLBACK').catch(() => undefined);
    this.client.release();
    await this.pool.end();
  }
}
