import type pg from 'pg';
import type { Sealer } from '../sealed-text.js';
import { inTransaction, named } from '../store/postgres/pg-transaction.js';
import type { CredentialRotation, DeviceRecord } from './device.js';
import { type DeviceLogin, type DeviceRepo, DuplicateDeviceError, firstDuplicate, type StunPasswordOpener } from './device-repo.js';
import { GroupCommit } from '../store/group-commit.js';
import { DEVICE_COLUMNS, DEVICE_SQL, type DeviceColumns, type DeviceRow, DeviceSealing, LOGIN_SELECT, type LoginRow, type RotationRow } from './device-rows.js';

const Q = {
  insert: named('devices_insert', DEVICE_SQL.insert),
  // One statement per chunk of an import: a row per array element, the arrays in DEVICE_SQL.insert's column order.
  insertMany: named(
    'devices_insert_many',
    `INSERT INTO devices (${DEVICE_COLUMNS}) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::int[])`,
  ),
  taken: named('devices_taken', 'SELECT id, stun_username, cwmp_username FROM devices WHERE id = ANY($1) OR stun_username = ANY($2) OR cwmp_username = ANY($3)'),
  get: named('devices_get', DEVICE_SQL.get),
  byCwmpUsernames: named('devices_by_cwmp_usernames', `${LOGIN_SELECT} WHERE d.cwmp_username = ANY($1::text[])`),
  page: named('devices_page', DEVICE_SQL.page),
  pageSeen: named('devices_page_seen', DEVICE_SQL.pageSeen),
  delete: named('devices_delete', DEVICE_SQL.delete),
  count: named('devices_count', DEVICE_SQL.count),
  first: named('devices_first', DEVICE_SQL.first),
  rotation: named('devices_rotation', DEVICE_SQL.rotation),
  // Row lock: of two commits of one rotation, the second waits and then finds it gone.
  lockRotation: named('devices_lock_rotation', `${DEVICE_SQL.rotation} FOR UPDATE`),
  startRotation: named('devices_start_rotation', DEVICE_SQL.startRotation),
  deleteRotation: named('devices_delete_rotation', DEVICE_SQL.deleteRotation),
  applyRotation: named('devices_apply_rotation', DEVICE_SQL.applyRotation),
};

/** Rows per statement of an import (11 arrays of this many values). */
const CHUNK = 5000;

/** Most logins one statement reads. */
const LOGIN_GROUP = 64;

/** PostgreSQL's unique constraints on devices (named by its defaults) → the field a caller can fix. */
const CONSTRAINTS: Record<string, DuplicateDeviceError['field']> = { devices_pkey: 'id', devices_stun_username_key: 'stunUsername', devices_cwmp_username_key: 'cwmpUsername' };
const UNIQUE_VIOLATION = '23505';

const duplicateField = (err: unknown): DuplicateDeviceError['field'] | undefined => {
  const e = err as { code?: string; constraint?: string };
  return e.code === UNIQUE_VIOLATION ? CONSTRAINTS[e.constraint ?? ''] : undefined;
};

/** The device registry on PostgreSQL: uniqueness is the unique constraints' (a concurrent insert loses with 23505). */
export class PgDeviceRepo implements DeviceRepo {
  readonly #rows: DeviceSealing;
  // Every CWMP session begins with its device's login: those that arrive while one is read are read together.
  readonly #logins: GroupCommit<string, LoginRow | undefined>;

  constructor(
    private readonly pool: pg.Pool,
    sealer: Sealer,
  ) {
    this.#rows = new DeviceSealing(sealer);
    this.#logins = new GroupCommit(
      async (usernames) => {
        const { rows } = await this.pool.query<LoginRow>(Q.byCwmpUsernames([usernames]));
        const found = new Map(rows.map((r) => [r.cwmp_username, r]));
        return usernames.map((u) => ({ ok: true, value: found.get(u) }));
      },
      { maxGroup: LOGIN_GROUP, key: (u) => u },
    );
  }

  async insert(device: DeviceRecord): Promise<void> {
    try {
      await this.pool.query(Q.insert(this.#rows.columns(device)));
    } catch (err) {
      const field = duplicateField(err);
      throw field ? new DuplicateDeviceError(field) : err;
    }
  }

  async insertAll(devices: readonly DeviceRecord[]): Promise<void> {
    try {
      await inTransaction(this.pool, async (c) => {
        for (let i = 0; i < devices.length; i += CHUNK) {
          const rows = devices.slice(i, i + CHUNK).map((d) => this.#rows.columns(d));
          await c.query(Q.insertMany(Array.from({ length: 11 }, (_, k) => rows.map((r) => r[k as keyof DeviceColumns]))));
        }
      });
    } catch (err) {
      const field = duplicateField(err);
      if (!field) throw err;
      // Rolled back. Which row clashed is not in the error (a chunk is one statement): found from what is stored.
      throw (await this.#firstDuplicate(devices)) ?? new DuplicateDeviceError(field);
    }
  }

  async #firstDuplicate(devices: readonly DeviceRecord[]): Promise<DuplicateDeviceError | undefined> {
    const col = (f: (d: DeviceRecord) => string) => devices.map(f);
    const { rows } = await this.pool.query<Pick<DeviceRow, 'id' | 'stun_username' | 'cwmp_username'>>(
      Q.taken([col((d) => d.id), col((d) => d.credentials.stunUsername), col((d) => d.credentials.cwmpUsername)]),
    );
    return firstDuplicate(devices, { id: new Set(rows.map((r) => r.id)), stunUsername: new Set(rows.map((r) => r.stun_username)), cwmpUsername: new Set(rows.map((r) => r.cwmp_username)) });
  }

  async get(id: string): Promise<DeviceRecord | undefined> {
    return this.#one(Q.get([id]));
  }

  async byCwmpUsername(username: string): Promise<DeviceLogin | undefined> {
    const r = await this.#logins.submit(username);
    return r && this.#rows.login(r);
  }

  async page(after: string | undefined, limit: number, seenSince?: number): Promise<DeviceRecord[]> {
    const q = seenSince === undefined ? Q.page([after ?? '', limit]) : Q.pageSeen([after ?? '', after ?? '', seenSince, limit]);
    return (await this.pool.query<DeviceRow>(q)).rows.map((r) => this.#rows.record(r));
  }

  async delete(id: string): Promise<boolean> {
    return ((await this.pool.query(Q.delete([id]))).rowCount ?? 0) > 0;
  }

  async count(): Promise<number> {
    return (await this.pool.query<{ n: number }>(Q.count())).rows[0]?.n ?? 0;
  }

  async checkSealed(): Promise<void> {
    const r = (await this.pool.query<DeviceRow>(Q.first())).rows[0];
    if (r) this.#rows.check(r);
  }

  stunPasswordOpener(): StunPasswordOpener {
    return this.#rows.opener();
  }

  async rotation(deviceId: string): Promise<CredentialRotation | undefined> {
    const r = (await this.pool.query<RotationRow>(Q.rotation([deviceId]))).rows[0];
    return r && this.#rows.rotation(r);
  }

  async startRotation(r: CredentialRotation): Promise<CredentialRotation> {
    const columns = this.#rows.rotationColumns(r);
    for (;;) {
      // ON CONFLICT DO NOTHING: a pending rotation (or one a concurrent start just committed) is kept and returned;
      // one committed away in between is started again.
      const row = (await this.pool.query<RotationRow>(Q.startRotation(columns))).rows[0] ?? (await this.pool.query<RotationRow>(Q.rotation([r.deviceId]))).rows[0];
      if (row) return this.#rows.rotation(row);
    }
  }

  commitRotation(deviceId: string, cwmpPassword: string, at: number): Promise<DeviceRecord | undefined> {
    return inTransaction(this.pool, async (c) => {
      const row = (await c.query<RotationRow>(Q.lockRotation([deviceId]))).rows[0];
      const r = row && this.#rows.rotation(row);
      if (!r || r.cwmpPassword !== cwmpPassword) return undefined;
      await c.query(Q.deleteRotation([deviceId]));
      const applied = (await c.query<DeviceRow>(Q.applyRotation(this.#rows.applied(r, at)))).rows[0];
      return applied && this.#rows.record(applied);
    });
  }

  async #one(q: pg.QueryConfig): Promise<DeviceRecord | undefined> {
    const r = (await this.pool.query<DeviceRow>(q)).rows[0];
    return r && this.#rows.record(r);
  }
}
