import { columnContext, openText, type Sealer, sealText } from '../sealed-text.js';
import type { CredentialRotation, DeviceCredentials, DeviceRecord } from './device.js';
import type { DeviceLogin, StunPasswordOpener } from './device-repo.js';

/** A devices row as both engines return it (flags as 0/1, times in ms). */
export interface DeviceRow {
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

/** DEVICE_SQL.byCwmpUsername's row: the device's columns, and its rotation's prefixed `r_` (null when none is pending). */
export type LoginRow = DeviceRow & { r_cwmp_password: string | null; r_cr_password: string | null; r_interim: RotationRow['interim'] | null; r_interim_password: string | null; r_created_at: number | null };

export interface RotationRow {
  device_id: string;
  cwmp_password: string;
  cr_password: string;
  interim: 'none' | 'password' | 'any';
  interim_password: string | null;
  created_at: number;
}

export const DEVICE_COLUMNS = 'id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at, credentials_pushed_at, cr_generated';
const PREFIXED = DEVICE_COLUMNS.split(', ').map((c) => `d.${c}`).join(', ');

/** A device's login: the device with its pending credential rotation (LoginRow), WHERE to be added. */
export const LOGIN_SELECT = `SELECT ${PREFIXED}, r.cwmp_password AS r_cwmp_password, r.cr_password AS r_cr_password, r.interim AS r_interim,
      r.interim_password AS r_interim_password, r.created_at AS r_created_at
    FROM devices d LEFT JOIN credential_rotations r ON r.device_id = d.id`;

/** The device statements, in PostgreSQL's `$n` form (SQLite's repo converts them with forSqlite). */
export const DEVICE_SQL = {
  insert: `INSERT INTO devices (${DEVICE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
  get: `SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = $1`,
  byCwmpUsername: `${LOGIN_SELECT} WHERE d.cwmp_username = $1`,
  page: `SELECT ${DEVICE_COLUMNS} FROM devices WHERE id > $1 ORDER BY id LIMIT $2`,
  // `after` on presence too: PostgreSQL merge-joins the two keys, and presence's scan would start at its first row every page.
  pageSeen: `SELECT ${PREFIXED} FROM devices d JOIN presence p ON p.device_id = d.id WHERE d.id > $1 AND p.device_id > $2 AND p.last_seen >= $3 ORDER BY d.id LIMIT $4`,
  delete: 'DELETE FROM devices WHERE id = $1',
  count: 'SELECT count(*) AS n FROM devices',
  first: `SELECT ${DEVICE_COLUMNS} FROM devices LIMIT 1`,
  rotation: 'SELECT * FROM credential_rotations WHERE device_id = $1',
  startRotation: `INSERT INTO credential_rotations (device_id, cwmp_password, cr_password, interim, interim_password, created_at)
    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (device_id) DO NOTHING RETURNING *`,
  deleteRotation: 'DELETE FROM credential_rotations WHERE device_id = $1',
  applyRotation: `UPDATE devices SET cwmp_password = $1, cr_password = $2, credentials_pushed_at = $3, updated_at = $4 WHERE id = $5 RETURNING ${DEVICE_COLUMNS}`,
};

/** The values of DEVICE_SQL.insert, in order. */
export type DeviceColumns = [string, string, string, string, string, string, string, number, number, number | null, number];
export type RotationColumns = [string, string, string, string, string | null, number];

/** The password columns, sealed under the master key in the same TEXT columns, each bound to its table, column and device. */
type SealedColumn = `devices.${'stun_password' | 'cr_password' | 'cwmp_password'}` | `credential_rotations.${'cwmp_password' | 'cr_password' | 'interim_password'}`;

const contextOf = (column: SealedColumn, id: string) => {
  const [table, name] = column.split('.') as [string, string];
  return columnContext(table, name, id);
};

/** Rows ⇄ records for both engines: passwords sealed on the way in, opened when first read on the way out. */
export class DeviceSealing {
  constructor(private readonly sealer: Sealer) {}

  #seal(column: SealedColumn, id: string, password: string): string {
    return sealText(this.sealer, password, contextOf(column, id));
  }

  #open(column: SealedColumn, id: string, stored: string): string {
    return openText(this.sealer, stored, contextOf(column, id));
  }

  /** Passwords are opened when first read: a page of devices for a list, or an existence check, opens none. */
  record(r: DeviceRow): DeviceRecord {
    return { id: r.id, credentials: new SealedCredentials(r, (column, stored) => this.#open(column, r.id, stored)), createdAt: r.created_at, updatedAt: r.updated_at, credentialsPushedAt: r.credentials_pushed_at, crGenerated: r.cr_generated === 1 };
  }

  columns(d: DeviceRecord): DeviceColumns {
    const c = d.credentials;
    const seal = (column: SealedColumn, password: string) => this.#seal(column, d.id, password);
    return [d.id, c.stunUsername, seal('devices.stun_password', c.stunPassword), c.crUsername, seal('devices.cr_password', c.crPassword), c.cwmpUsername, seal('devices.cwmp_password', c.cwmpPassword), d.createdAt, d.updatedAt, d.credentialsPushedAt, d.crGenerated ? 1 : 0];
  }

  /** Opens the first device's STUN password. @throws SealError */
  check(r: DeviceRow): void {
    this.#open('devices.stun_password', r.id, r.stun_password);
  }

  opener(): StunPasswordOpener {
    const sealer = this.sealer;
    return { overhead: sealer.seal(Buffer.alloc(0), 'overhead').length, open: (id, sealed) => sealer.open(sealed, contextOf('devices.stun_password', id)) };
  }

  login(r: LoginRow): DeviceLogin {
    const interim = r.r_interim;
    const rotation = interim === null ? undefined : this.rotation({ device_id: r.id, cwmp_password: r.r_cwmp_password!, cr_password: r.r_cr_password!, interim, interim_password: r.r_interim_password, created_at: r.r_created_at! });
    // The row's r_ columns stay on it unread: the record keeps only the device's own.
    return { device: this.record(r), rotation };
  }

  rotation(r: RotationRow): CredentialRotation {
    const open = (column: SealedColumn, stored: string) => this.#open(column, r.device_id, stored);
    return {
      deviceId: r.device_id,
      cwmpPassword: open('credential_rotations.cwmp_password', r.cwmp_password),
      crPassword: open('credential_rotations.cr_password', r.cr_password),
      interim: r.interim === 'password' ? { kind: 'password', password: r.interim_password === null ? '' : open('credential_rotations.interim_password', r.interim_password) } : { kind: r.interim },
      createdAt: r.created_at,
    };
  }

  rotationColumns(r: CredentialRotation): RotationColumns {
    const seal = (column: SealedColumn, password: string) => this.#seal(column, r.deviceId, password);
    const interimPassword = r.interim.kind === 'password' ? seal('credential_rotations.interim_password', r.interim.password) : null;
    return [r.deviceId, seal('credential_rotations.cwmp_password', r.cwmpPassword), seal('credential_rotations.cr_password', r.crPassword), r.interim.kind, interimPassword, r.createdAt];
  }

  /** The values of DEVICE_SQL.applyRotation: the rotation's passwords sealed as the device's own. */
  applied(r: CredentialRotation, at: number): [string, string, number, number, string] {
    return [this.#seal('devices.cwmp_password', r.deviceId, r.cwmpPassword), this.#seal('devices.cr_password', r.deviceId, r.crPassword), at, at, r.deviceId];
  }
}

/**
 * A device's credentials from its row, each password opened when first read (then kept). A class: building
 * the same with per-record accessor properties cost about 5 µs a record (V8's slow path, and a dictionary-mode
 * object after), paid on every login and for every device of a listed page. The passwords are getters, not
 * own properties: spell the fields out (credentialsView) rather than spreading a record's credentials.
 */
class SealedCredentials implements DeviceCredentials {
  readonly stunUsername: string;
  readonly crUsername: string;
  readonly cwmpUsername: string;
  readonly #row: DeviceRow;
  readonly #open: (column: SealedColumn, stored: string) => string;
  #stunPassword: string | undefined;
  #crPassword: string | undefined;
  #cwmpPassword: string | undefined;

  constructor(row: DeviceRow, open: (column: SealedColumn, stored: string) => string) {
    this.stunUsername = row.stun_username;
    this.crUsername = row.cr_username;
    this.cwmpUsername = row.cwmp_username;
    this.#row = row;
    this.#open = open;
  }

  get stunPassword(): string {
    return (this.#stunPassword ??= this.#open('devices.stun_password', this.#row.stun_password));
  }

  get crPassword(): string {
    return (this.#crPassword ??= this.#open('devices.cr_password', this.#row.cr_password));
  }

  get cwmpPassword(): string {
    return (this.#cwmpPassword ??= this.#open('devices.cwmp_password', this.#row.cwmp_password));
  }
}
