import type { Database } from '../store/database.js';
import { forSqlite } from '../store/sql-dialect.js';
import type { StoredFile } from './file-record.js';
import type { FileRepo } from './file-repo.js';
import { addColumns, FILE_SQL, fileOf, type Row } from './file-rows.js';

/** Files on SQLite: every method is one statement (its own implicit transaction). */
export class SqliteFileRepo implements FileRepo {
  readonly #s;

  constructor(db: Database) {
    const p = <P extends unknown[]>(sql: string) => db.prepare<P, Row>(forSqlite(sql));
    this.#s = {
      add: p<unknown[]>(FILE_SQL.add),
      get: p<[string]>(FILE_SQL.get),
      list: p<[]>(FILE_SQL.list),
      remove: p<[string]>(FILE_SQL.remove),
    };
  }

  async add(f: StoredFile): Promise<'added' | 'exists'> {
    return this.#s.add.get(...addColumns(f)) ? 'added' : 'exists';
  }

  async get(id: string): Promise<StoredFile | undefined> {
    const r = this.#s.get.get(id);
    return r && fileOf(r);
  }

  async list(): Promise<StoredFile[]> {
    return this.#s.list.all().map(fileOf);
  }

  async remove(id: string): Promise<StoredFile | undefined> {
    const r = this.#s.remove.get(id);
    return r && fileOf(r);
  }
}
