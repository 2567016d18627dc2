import type { Database } from '../store/database.js';
import type { CredentialRotation, DeviceRecord } from './device.js';

/** A credential or id that another device already uses. */
export class DuplicateDeviceError extends Error {
  constructor(readonly field: 'id' | 'stunUsername' | 'cwmpUsername') {
    super(`${field} is already used by another device`);
    this.name = 'DuplicateDeviceError';
  }
}

interface Row {
  id: string;
  stun_username: string;
  stun_password: string;
  cr_username: string;
  cr_password: string;
  cwmp_username: string;
  cwmp_password: string;
  created_at: number;
  updated_at: number;
  credentials_pushed_at: number | null;
  cr_generated: number;
}

interface RotationRow {
  device_id: string;
  cwmp_password: string;
  cr_password: string;
  interim: 'none' | 'password' | 'any';
  interim_password: string | null;
  created_at: number;
}

const rotationOf = (r: RotationRow): CredentialRotation => ({
  deviceId: r.device_id,
  cwmpPassword: r.cwmp_password,
  crPassword: r.cr_password,
  interim: r.interim === 'password' ? { kind: 'password', password: r.interim_password ?? '' } : { kind: r.interim },
  createdAt: r.created_at,
});

const COLUMNS = 'id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at, credentials_pushed_at, cr_generated';

const fromRow = (r: Row): DeviceRecord => ({
  id: r.id,
  credentials: {
    stunUsername: r.stun_username,
    stunPassword: r.stun_password,
    crUsername: r.cr_username,
    crPassword: r.cr_password,
    cwmpUsername: r.cwmp_username,
    cwmpPassword: r.cwmp_password,
  },
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  credentialsPushedAt: r.credentials_pushed_at,
  crGenerated: r.cr_generated === 1,
});

const toParams = (d: DeviceRecord) => [
  d.id,
  d.credentials.stunUsername,
  d.credentials.stunPassword,
  d.credentials.crUsername,
  d.credentials.crPassword,
  d.credentials.cwmpUsername,
  d.credentials.cwmpPassword,
  d.createdAt,
  d.updatedAt,
  d.credentialsPushedAt,
  d.crGenerated ? 1 : 0,
];

/** All SQL about devices. */
export class DeviceRepo {
  readonly #db: Database;
  readonly #insert;
  readonly #get;
  readonly #byCwmpUsername;
  readonly #page;
  readonly #pageAfter;
  readonly #pageSeen;
  readonly #delete;
  readonly #count;
  readonly #rotation;

  constructor(db: Database) {
    this.#db = db;
    this.#insert = db.prepare(`INSERT INTO devices (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    this.#get = db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM devices WHERE id = ?`);
    this.#byCwmpUsername = db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM devices WHERE cwmp_username = ?`);
    this.#page = db.prepare<[number], Row>(`SELECT ${COLUMNS} FROM devices ORDER BY id LIMIT ?`);
    this.#pageAfter = db.prepare<[string, number], Row>(`SELECT ${COLUMNS} FROM devices WHERE id > ? ORDER BY id LIMIT ?`);
    this.#pageSeen = db.prepare<[string, number, number], Row>(
      `SELECT ${COLUMNS.split(', ').map((c) => `d.${c}`).join(', ')} FROM devices d JOIN presence p ON p.device_id = d.id
       WHERE d.id > ? AND p.last_seen >= ? ORDER BY d.id LIMIT ?`,
    );
    this.#delete = db.prepare('DELETE FROM devices WHERE id = ?');
    this.#count = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM devices');
    this.#rotation = {
      get: db.prepare<[string], RotationRow>('SELECT * FROM credential_rotations WHERE device_id = ?'),
      insert: db.prepare<[string, string, string, string, string | null, number], RotationRow>(
        `INSERT INTO credential_rotations (device_id, cwmp_password, cr_password, interim, interim_password, created_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO NOTHING RETURNING *`,
      ),
      delete: db.prepare<[string, string]>('DELETE FROM credential_rotations WHERE device_id = ? AND cwmp_password = ?'),
      apply: db.prepare<[string, string, number, number, string], Row>(
        `UPDATE devices SET cwmp_password = ?, cr_password = ?, credentials_pushed_at = ?, updated_at = ? WHERE id = ? RETURNING ${COLUMNS}`,
      ),
    };
  }

  rotation(deviceId: string): CredentialRotation | undefined {
    const r = this.#rotation.get.get(deviceId);
    return r && rotationOf(r);
  }

  /** Starts a rotation unless one is pending (then returns that one). */
  startRotation(r: CredentialRotation): CredentialRotation {
    const interimPassword = r.interim.kind === 'password' ? r.interim.password : null;
    const row = this.#rotation.insert.get(r.deviceId, r.cwmpPassword, r.crPassword, r.interim.kind, interimPassword, r.createdAt) ?? this.#rotation.get.get(r.deviceId);
    return rotationOf(row!);
  }

  /** Makes the pending rotation (if it still carries `cwmpPassword`) the device's credentials. */
  commitRotation(deviceId: string, cwmpPassword: string, at: number): DeviceRecord | undefined {
    return this.#db.transaction(() => {
      const r = this.#rotation.get.get(deviceId);
      if (!r || r.cwmp_password !== cwmpPassword) return undefined;
      this.#rotation.delete.run(deviceId, cwmpPassword);
      const row = this.#rotation.apply.get(r.cwmp_password, r.cr_password, at, at, deviceId);
      return row && fromRow(row);
    })();
  }

  /** @throws DuplicateDeviceError */
  insert(device: DeviceRecord): void {
    try {
      this.#insert.run(toParams(device));
    } catch (err) {
      throw this.#duplicateOf(err, device) ?? err;
    }
  }

  /** Maps SQLite's uniqueness failures to the field a caller can fix (the id first); anything else is not ours. */
  #duplicateOf(err: unknown, device: DeviceRecord): DuplicateDeviceError | undefined {
    const code = (err as { code?: string }).code;
    if (code !== 'SQLITE_CONSTRAINT_PRIMARYKEY' && code !== 'SQLITE_CONSTRAINT_UNIQUE') return undefined;
    if (this.#get.get(device.id)) return new DuplicateDeviceError('id');
    const msg = (err as Error).message;
    if (msg.includes('devices.stun_username')) return new DuplicateDeviceError('stunUsername');
    if (msg.includes('devices.cwmp_username')) return new DuplicateDeviceError('cwmpUsername');
    return undefined;
  }

  /**
   * Inserts all devices in one transaction, or none. On a duplicate, `onDuplicate` receives the index
   * of the offending device and the error, and what it throws aborts the transaction.
   */
  insertAll(devices: readonly DeviceRecord[], onDuplicate: (index: number, err: DuplicateDeviceError) => never): void {
    this.#db.transaction(() => {
      devices.forEach((d, i) => {
        try {
          this.#insert.run(toParams(d));
        } catch (err) {
          const dup = this.#duplicateOf(err, d);
          if (dup) onDuplicate(i, dup);
          throw err;
        }
      });
    })();
  }

  get(id: string): DeviceRecord | undefined {
    const row = this.#get.get(id);
    return row && fromRow(row);
  }

  byCwmpUsername(username: string): DeviceRecord | undefined {
    const row = this.#byCwmpUsername.get(username);
    return row && fromRow(row);
  }

  /** Devices in id order, strictly after `after` when given; with `seenSince`, only those seen since then. */
  page(after: string | undefined, limit: number, seenSince?: number): DeviceRecord[] {
    if (seenSince !== undefined) return this.#pageSeen.all(after ?? '', seenSince, limit).map(fromRow);
    const rows = after === undefined ? this.#page.all(limit) : this.#pageAfter.all(after, limit);
    return rows.map(fromRow);
  }

  delete(id: string): boolean {
    return this.#delete.run(id).changes > 0;
  }

  count(): number {
    return this.#count.get()?.n ?? 0;
  }
}
