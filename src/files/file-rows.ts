import type { FileType, StoredFile } from './file-record.js';

export type Row = Record<string, unknown>;

const COLUMNS = 'id, type, version, product_class, oui, size, sha256, stored_name, added_at';

export const fileOf = (r: Row): StoredFile => ({
  id: r['id'] as string,
  type: r['type'] as FileType,
  version: r['version'] as string,
  ...(r['product_class'] === null ? {} : { productClass: r['product_class'] as string }),
  ...(r['oui'] === null ? {} : { oui: r['oui'] as string }),
  size: Number(r['size']),
  sha256: r['sha256'] as string,
  storedName: r['stored_name'] as string,
  addedAt: Number(r['added_at']),
});

/** The file statements, in PostgreSQL's `$n` form (SQLite's repo converts them with forSqlite). Each is one statement: no transaction needed. */
export const FILE_SQL = {
  // The primary key keeps ids unique on both engines: a second add of one id inserts nothing.
  add: `INSERT INTO files (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING RETURNING id`,
  get: `SELECT ${COLUMNS} FROM files WHERE id = $1`,
  list: `SELECT ${COLUMNS} FROM files ORDER BY id`,
  remove: `DELETE FROM files WHERE id = $1 RETURNING ${COLUMNS}`,
};

/** The values of FILE_SQL.add. */
export const addColumns = (f: StoredFile) => [f.id, f.type, f.version, f.productClass ?? null, f.oui ?? null, f.size, f.sha256, f.storedName, f.addedAt] as const;
