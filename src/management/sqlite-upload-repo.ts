import type { Database } from '../store/database.js';
import { forSqlite } from '../store/sql-dialect.js';
import { ImmediateUnits } from '../store/sqlite-transaction.js';
import type { NewUpload, UploadRecord, UploadRepo } from './upload-repo.js';
import { insertColumns, type Row, UPLOAD_SQL, uploadOf } from './upload-rows.js';

/** Uploads on SQLite: a put is one BEGIN IMMEDIATE transaction (the insert, the replaced file, the trim). */
export class SqliteUploadRepo implements UploadRepo {
  readonly #units: ImmediateUnits;
  readonly #s;

  constructor(db: Database) {
    this.#units = new ImmediateUnits(db);
    const p = <P extends unknown[]>(sql: string) => db.prepare<P, Row>(forSqlite(sql));
    const q = UPLOAD_SQL;
    this.#s = {
      insert: p<unknown[]>(q.insert),
      replaced: p<[number, string, number]>(q.replaced),
      trim: p<[string, string, number]>(q.trim),
      get: p<[number]>(q.get),
      content: p<[number]>(q.content),
      ofDevice: p<[string, number]>(q.ofDevice),
      ofTask: p<[number, number]>(q.ofTask),
    };
  }

  put(u: NewUpload, keep: number, replacingSince: number): Promise<UploadRecord> {
    return this.#units.run(() => {
      this.#s.replaced.run(u.taskId, u.deviceId, replacingSince);
      const r = uploadOf(this.#s.insert.get(...insertColumns(u))!);
      this.#s.trim.run(u.deviceId, u.deviceId, keep);
      return r;
    });
  }

  async get(id: number): Promise<UploadRecord | undefined> {
    const r = this.#s.get.get(id);
    return r && uploadOf(r);
  }

  async content(id: number): Promise<Buffer | undefined> {
    return this.#s.content.get(id)?.['content'] as Buffer | undefined;
  }

  async ofDevice(deviceId: string, limit: number): Promise<UploadRecord[]> {
    return this.#s.ofDevice.all(deviceId, limit).map(uploadOf);
  }

  async ofTask(taskId: number, since: number): Promise<UploadRecord | undefined> {
    const r = this.#s.ofTask.get(taskId, since);
    return r && uploadOf(r);
  }
}
