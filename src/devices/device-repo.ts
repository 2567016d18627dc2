import { columnContext, openText, type Sealer, sealText } from '../sealed-text.js';
import type { Database } from '../store/database.js';
import type { CredentialRotation, DeviceCredentials, DeviceRecord } from './device.js';

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

const COLUMNS = 'id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at, credentials_pushed_at, cr_generated';

/** The password columns, sealed under the master key in the same TEXT columns, each bound to its table, column and device. */
type SealedColumn = `devices.${'stun_password' | 'cr_password' | 'cwmp_password'}` | `credential_rotations.${'cwmp_password' | 'cr_password' | 'interim_password'}`;

const contextOf = (column: SealedColumn, id: string) => {
  const [table, name] = column.split('.') as [string, string];
  return columnContext(table, name, id);
};

/** All SQL about devices. Passwords are sealed on the way in and opened on the way out. */
export class DeviceRepo {
  readonly #db: Database;
  readonly #sealer: Sealer;
  readonly #insert;
  readonly #get;
  readonly #byCwmpUsername;
  readonly #page;
  readonly #pageAfter;
  readonly #pageSeen;
  readonly #delete;
  readonly #count;
  readonly #first;
  readonly #rotation;

  constructor(db: Database, sealer: Sealer) {
    this.#db = db;
    this.#sealer = sealer;
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
    this.#first = db.prepare<[], Row>(`SELECT ${COLUMNS} FROM devices LIMIT 1`);
    this.#rotation = {
      get: db.prepare<[string], RotationRow>('SELECT * FROM credential_rotations WHERE device_id = ?'),
      insert: db.prepare<[string, string, string, string, string | null, number], RotationRow>(
        `INSERT INTO credential_rotations (device_id, cwmp_password, cr_password, interim, interim_password, created_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO NOTHING RETURNING *`,
      ),
      delete: db.prepare<[string]>('DELETE FROM credential_rotations WHERE device_id = ?'),
      apply: db.prepare<[string, string, number, number, string], Row>(
        `UPDATE devices SET cwmp_password = ?, cr_password = ?, credentials_pushed_at = ?, updated_at = ? WHERE id = ? RETURNING ${COLUMNS}`,
      ),
    };
  }

  #seal(column: SealedColumn, id: string, password: string): string {
    return sealText(this.#sealer, password, contextOf(column, id));
  }

  #open(column: SealedColumn, id: string, stored: string): string {
    return openText(this.#sealer, stored, contextOf(column, id));
  }

  /** Passwords are opened when first read: a page of devices for a list, or an existence check, opens none. */
  #fromRow(r: Row): DeviceRecord {
    const lazy = (column: SealedColumn, stored: string): PropertyDescriptor => {
      let opened: string | undefined;
      return { enumerable: true, get: () => (opened ??= this.#open(column, r.id, stored)) };
    };
    const credentials = Object.defineProperties(
      { stunUsername: r.stun_username, crUsername: r.cr_username, cwmpUsername: r.cwmp_username },
      { stunPassword: lazy('devices.stun_password', r.stun_password), crPassword: lazy('devices.cr_password', r.cr_password), cwmpPassword: lazy('devices.cwmp_password', r.cwmp_password) },
    ) as DeviceCredentials;
    return {
      id: r.id,
      credentials,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      credentialsPushedAt: r.credentials_pushed_at,
      crGenerated: r.cr_generated === 1,
    };
  }

  #toParams(d: DeviceRecord): unknown[] {
    const c = d.credentials;
    const seal = (column: SealedColumn, password: string) => this.#seal(column, d.id, password);
    return [d.id, c.stunUsername, seal('devices.stun_password', c.stunPassword), c.crUsername, seal('devices.cr_password', c.crPassword), c.cwmpUsername, seal('devices.cwmp_password', c.cwmpPassword), d.createdAt, d.updatedAt, d.credentialsPushedAt, d.crGenerated ? 1 : 0];
  }

  #rotationOf(r: RotationRow): CredentialRotation {
    const open = (column: SealedColumn, stored: string) => this.#open(column, r.device_id, stored);
    return {
      deviceId: r.device_id,
      cwmpPassword: open('credential_rotations.cwmp_password', r.cwmp_password),
      crPassword: open('credential_rotations.cr_password', r.cr_password),
      interim: r.interim === 'password' ? { kind: 'password', password: r.interim_password === null ? '' : open('credential_rotations.interim_password', r.interim_password) } : { kind: r.interim },
      createdAt: r.created_at,
    };
  }

  /**
   * Opens one sealed password, if there is a device: a database sealed under another master key fails here,
   * at start, rather than on the first keepalive. @throws SealError
   */
  checkSealed(): void {
    const r = this.#first.get();
    if (r) this.#open('devices.stun_password', r.id, r.stun_password);
  }

  /**
   * Opens STUN passwords the keepalive path loads sealed, in bulk; `overhead`: the bytes sealing adds (the
   * cipher keeps the length).
   */
  stunPasswordOpener(): { readonly overhead: number; open(id: string, sealed: Buffer): Buffer } {
    const sealer = this.#sealer;
    return { overhead: sealer.seal(Buffer.alloc(0), 'overhead').length, open: (id, sealed) => sealer.open(sealed, contextOf('devices.stun_password', id)) };
  }

  rotation(deviceId: string): CredentialRotation | undefined {
    const r = this.#rotation.get.get(deviceId);
    return r && this.#rotationOf(r);
  }

  /** Starts a rotation unless one is pending (then returns that one). */
  startRotation(r: CredentialRotation): CredentialRotation {
    const seal = (column: SealedColumn, password: string) => this.#seal(column, r.deviceId, password);
    const interimPassword = r.interim.kind === 'password' ? seal('credential_rotations.interim_password', r.interim.password) : null;
    const row = this.#rotation.insert.get(r.deviceId, seal('credential_rotations.cwmp_password', r.cwmpPassword), seal('credential_rotations.cr_password', r.crPassword), r.interim.kind, interimPassword, r.createdAt) ?? this.#rotation.get.get(r.deviceId);
    return this.#rotationOf(row!);
  }

  /** Makes the pending rotation (if it still carries `cwmpPassword`) the device's credentials. */
  commitRotation(deviceId: string, cwmpPassword: string, at: number): DeviceRecord | undefined {
    return this.#db.transaction(() => {
      const row = this.#rotation.get.get(deviceId);
      const r = row && this.#rotationOf(row);
      if (!r || r.cwmpPassword !== cwmpPassword) return undefined;
      this.#rotation.delete.run(deviceId);
      const applied = this.#rotation.apply.get(this.#seal('devices.cwmp_password', deviceId, r.cwmpPassword), this.#seal('devices.cr_password', deviceId, r.crPassword), at, at, deviceId);
      return applied && this.#fromRow(applied);
    })();
  }

  /** @throws DuplicateDeviceError */
  insert(device: DeviceRecord): void {
    try {
      this.#insert.run(this.#toParams(device));
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
          this.#insert.run(this.#toParams(d));
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
    return row && this.#fromRow(row);
  }

  byCwmpUsername(username: string): DeviceRecord | undefined {
    const row = this.#byCwmpUsername.get(username);
    return row && this.#fromRow(row);
  }

  /** Devices in id order, strictly after `after` when given; with `seenSince`, only those seen since then. */
  page(after: string | undefined, limit: number, seenSince?: number): DeviceRecord[] {
    if (seenSince !== undefined) return this.#pageSeen.all(after ?? '', seenSince, limit).map((r) => this.#fromRow(r));
    const rows = after === undefined ? this.#page.all(limit) : this.#pageAfter.all(after, limit);
    return rows.map((r) => this.#fromRow(r));
  }

  delete(id: string): boolean {
    return this.#delete.run(id).changes > 0;
  }

  count(): number {
    return this.#count.get()?.n ?? 0;
  }
}
