import type pg from 'pg';
import { named } from '../store/postgres/pg-transaction.js';
import type { StoredFile } from './file-record.js';
import type { FileRepo } from './file-repo.js';
import { addColumns, FILE_SQL, fileOf, type Row } from './file-rows.js';

const Q = {
  // ON CONFLICT (id) DO NOTHING: of two nodes adding one id at once, the primary key lets one row in.
  add: named('files_add', FILE_SQL.add),
  get: named('files_get', FILE_SQL.get),
  list: named('files_list', FILE_SQL.list),
  // DELETE … RETURNING: of two removals at once, one gets the row, the other nothing.
  remove: named('files_remove', FILE_SQL.remove),
};

/** Files on PostgreSQL: every method is one statement. */
export class PgFileRepo implements FileRepo {
  constructor(private readonly pool: pg.Pool) {}

  async add(f: StoredFile): Promise<'added' | 'exists'> {
    return (await this.pool.query(Q.add(addColumns(f)))).rowCount === 1 ? 'added' : 'exists';
  }

  async get(id: string): Promise<StoredFile | undefined> {
    const r = (await this.pool.query<Row>(Q.get([id]))).rows[0];
    return r && fileOf(r);
  }

  async list(): Promise<StoredFile[]> {
    return (await this.pool.query<Row>(Q.list())).rows.map(fileOf);
  }

  async remove(id: string): Promise<StoredFile | undefined> {
    const r = (await this.pool.query<Row>(Q.remove([id]))).rows[0];
    return r && fileOf(r);
  }
}
