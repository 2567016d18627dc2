import type pg from 'pg';
import { advisoryLock, inTransaction, named } from '../store/postgres/pg-transaction.js';
import type { NewUpload, UploadRecord, UploadRepo } from './upload-repo.js';
import { insertColumns, type Row, UPLOAD_SQL, uploadOf } from './upload-rows.js';

const S = UPLOAD_SQL;
const Q = {
  // Two uploads of one device at once would each trim before seeing the other's row (one too many kept):
  // a transaction-scoped advisory lock per device makes them go one after the other.
  lock: advisoryLock('uploads_lock_device', 'uploads-device'),
  insert: named('uploads_insert', S.insert),
  replaced: named('uploads_replaced', S.replaced),
  trim: named('uploads_trim', S.trim),
  get: named('uploads_get', S.get),
  content: named('uploads_content', S.content),
  ofDevice: named('uploads_of_device', S.ofDevice),
  ofTask: named('uploads_of_task', S.ofTask),
};

/** Uploads on PostgreSQL (content as BYTEA): a put is one transaction under the device's advisory lock. */
export class PgUploadRepo implements UploadRepo {
  constructor(private readonly pool: pg.Pool) {}

  put(u: NewUpload, keep: number, replacingSince: number): Promise<UploadRecord> {
    return inTransaction(this.pool, async (c) => {
      await c.query(Q.lock([u.deviceId]));
      await c.query(Q.replaced([u.taskId, u.deviceId, replacingSince]));
      const r = uploadOf((await c.query<Row>(Q.insert(insertColumns(u)))).rows[0]!);
      await c.query(Q.trim([u.deviceId, u.deviceId, keep]));
      return r;
    });
  }

  async get(id: number): Promise<UploadRecord | undefined> {
    const r = (await this.pool.query<Row>(Q.get([id]))).rows[0];
    return r && uploadOf(r);
  }

  async content(id: number): Promise<Buffer | undefined> {
    return (await this.pool.query<{ content: Buffer }>(Q.content([id]))).rows[0]?.content;
  }

  async ofDevice(deviceId: string, limit: number): Promise<UploadRecord[]> {
    return (await this.pool.query<Row>(Q.ofDevice([deviceId, limit]))).rows.map(uploadOf);
  }

  async ofTask(taskId: number, since: number): Promise<UploadRecord | undefined> {
    const r = (await this.pool.query<Row>(Q.ofTask([taskId, since]))).rows[0];
    return r && uploadOf(r);
  }
}
