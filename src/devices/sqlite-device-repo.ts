import type { Sealer } from '../sealed-text.js';
import type { Database } from '../store/database.js';
import { forSqlite } from '../store/sql-dialect.js';
import { ImmediateUnits } from '../store/sqlite-transaction.js';
import type { CredentialRotation, DeviceRecord } from './device.js';
import { type DeviceLogin, type DeviceRepo, DuplicateDeviceError, type StunPasswordOpener } from './device-repo.js';
import { DEVICE_SQL, type DeviceRow, DeviceSealing, type LoginRow, type RotationRow } from './device-rows.js';

/** The device registry on SQLite: statements prepared once; a unit of more than one statement is one transaction. */
export class SqliteDeviceRepo implements DeviceRepo {
  readonly #units: ImmediateUnits;
  readonly #rows: DeviceSealing;
  readonly #s;

  constructor(db: Database, sealer: Sealer) {
    this.#units = new ImmediateUnits(db);
    this.#rows = new DeviceSealing(sealer);
    const p = <P extends unknown[], R = DeviceRow>(sql: string) => db.prepare<P, R>(forSqlite(sql));
    this.#s = {
      insert: p<unknown[]>(DEVICE_SQL.insert),
      get: p<[string]>(DEVICE_SQL.get),
      byCwmpUsername: p<[string], LoginRow>(DEVICE_SQL.byCwmpUsername),
      page: p<[string, number]>(DEVICE_SQL.page),
      pageSeen: p<[string, string, number, number]>(DEVICE_SQL.pageSeen),
      delete: p<[string]>(DEVICE_SQL.delete),
      count: p<[], { n: number }>(DEVICE_SQL.count),
      first: p<[]>(DEVICE_SQL.first),
      rotation: p<[string], RotationRow>(DEVICE_SQL.rotation),
      startRotation: p<unknown[], RotationRow>(DEVICE_SQL.startRotation),
      deleteRotation: p<[string]>(DEVICE_SQL.deleteRotation),
      applyRotation: p<unknown[]>(DEVICE_SQL.applyRotation),
    };
  }

  async insert(device: DeviceRecord): Promise<void> {
    try {
      this.#s.insert.run(this.#rows.columns(device));
    } catch (err) {
      throw this.#duplicateOf(err, device) ?? err;
    }
  }

  insertAll(devices: readonly DeviceRecord[]): Promise<void> {
    // One transaction, row by row: the first row that clashes (with a stored device or an earlier row) is the one named.
    return this.#units.run(() => {
      devices.forEach((d, i) => {
        try {
          this.#s.insert.run(this.#rows.columns(d));
        } catch (err) {
          const dup = this.#duplicateOf(err, d);
          throw dup ? new DuplicateDeviceError(dup.field, i) : err;
        }
      });
    });
  }

  /** Maps SQLite's uniqueness failures to the field a caller can fix (the id first); anything else is not ours. */
  #duplicateOf(err: unknown, device: DeviceRecord): DuplicateDeviceError | undefined {
    const code = (err as { code?: string }).code;
    if (code !== 'SQLITE_CONSTRAINT_PRIMARYKEY' && code !== 'SQLITE_CONSTRAINT_UNIQUE') return undefined;
    if (this.#s.get.get(device.id)) return new DuplicateDeviceError('id');
    const msg = (err as Error).message;
    if (msg.includes('devices.stun_username')) return new DuplicateDeviceError('stunUsername');
    if (msg.includes('devices.cwmp_username')) return new DuplicateDeviceError('cwmpUsername');
    return undefined;
  }

  async get(id: string): Promise<DeviceRecord | undefined> {
    const row = this.#s.get.get(id);
    return row && this.#rows.record(row);
  }

  async byCwmpUsername(username: string): Promise<DeviceLogin | undefined> {
    const row = this.#s.byCwmpUsername.get(username);
    return row && this.#rows.login(row);
  }

  async page(after: string | undefined, limit: number, seenSince?: number): Promise<DeviceRecord[]> {
    const rows = seenSince === undefined ? this.#s.page.all(after ?? '', limit) : this.#s.pageSeen.all(after ?? '', after ?? '', seenSince, limit);
    return rows.map((r) => this.#rows.record(r));
  }

  async delete(id: string): Promise<boolean> {
    return this.#s.delete.run(id).changes > 0;
  }

  async count(): Promise<number> {
    return this.#s.count.get()?.n ?? 0;
  }

  async checkSealed(): Promise<void> {
    const r = this.#s.first.get();
    if (r) this.#rows.check(r);
  }

  stunPasswordOpener(): StunPasswordOpener {
    return this.#rows.opener();
  }

  async rotation(deviceId: string): Promise<CredentialRotation | undefined> {
    const r = this.#s.rotation.get(deviceId);
    return r && this.#rows.rotation(r);
  }

  async startRotation(r: CredentialRotation): Promise<CredentialRotation> {
    const row = this.#s.startRotation.get(this.#rows.rotationColumns(r)) ?? this.#s.rotation.get(r.deviceId);
    return this.#rows.rotation(row!);
  }

  commitRotation(deviceId: string, cwmpPassword: string, at: number): Promise<DeviceRecord | undefined> {
    return this.#units.run(() => {
      const row = this.#s.rotation.get(deviceId);
      const r = row && this.#rows.rotation(row);
      if (!r || r.cwmpPassword !== cwmpPassword) return undefined;
      this.#s.deleteRotation.run(deviceId);
      const applied = this.#s.applyRotation.get(this.#rows.applied(r, at));
      return applied && this.#rows.record(applied);
    });
  }
}
