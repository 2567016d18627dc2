import type { NewUpload, UploadRecord } from './upload-repo.js';

export type Row = Record<string, unknown>;

const COLUMNS = 'id, device_id, task_id, file_type, content_type, size, sha256, received_at';

export const uploadOf = (r: Row): UploadRecord => ({
  id: Number(r['id']),
  deviceId: r['device_id'] as string,
  taskId: Number(r['task_id']),
  fileType: r['file_type'] as string,
  contentType: r['content_type'] as string,
  size: Number(r['size']),
  sha256: r['sha256'] as string,
  receivedAt: Number(r['received_at']),
});

/** The upload statements, in PostgreSQL's `$n` form (SQLite's repo converts them with forSqlite). */
export const UPLOAD_SQL = {
  insert: `INSERT INTO uploads (device_id, task_id, file_type, content_type, size, sha256, received_at, content)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
  replaced: 'DELETE FROM uploads WHERE task_id = $1 AND device_id = $2 AND received_at >= $3',
  trim: 'DELETE FROM uploads WHERE device_id = $1 AND id NOT IN (SELECT id FROM uploads WHERE device_id = $2 ORDER BY id DESC LIMIT $3)',
  get: `SELECT ${COLUMNS} FROM uploads WHERE id = $1`,
  content: 'SELECT content FROM uploads WHERE id = $1',
  ofDevice: `SELECT ${COLUMNS} FROM uploads WHERE device_id = $1 ORDER BY id DESC LIMIT $2`,
  ofTask: `SELECT ${COLUMNS} FROM uploads WHERE task_id = $1 AND received_at >= $2 ORDER BY id DESC LIMIT 1`,
};

/** The values of UPLOAD_SQL.insert. */
export const insertColumns = (u: NewUpload) => [u.deviceId, u.taskId, u.fileType, u.contentType, u.size, u.sha256, u.receivedAt, u.content] as const;
