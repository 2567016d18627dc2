import type pg from 'pg';
import type { Database } from '../store/database.js';
import { named } from '../store/postgres/pg-transaction.js';
import { forSqlite } from '../store/sql-dialect.js';

export interface CasCertificate {
  readonly certificateId: string;
  readonly deviceId: string;
  readonly idempotencyKey: string;
  readonly serial: string;
  readonly certPem: string;
  readonly keySealed: Buffer;
  readonly issuedAt: number;
  readonly revokedAt: number | null;
}

type Row = { certificate_id: string; device_id: string; idempotency_key: string; serial: string; cert_pem: string; key_sealed: Buffer; issued_at: number; revoked_at: number | null };
const fromRow = (r: Row): CasCertificate => ({
  certificateId: r.certificate_id,
  deviceId: r.device_id,
  idempotencyKey: r.idempotency_key,
  serial: r.serial,
  certPem: r.cert_pem,
  keySealed: r.key_sealed,
  issuedAt: r.issued_at,
  revokedAt: r.revoked_at,
});

/** Certificates the builtin CAS issued. */
export interface CasCertificateRepo {
  byIdempotencyKey(key: string): Promise<CasCertificate | undefined>;
  byId(certificateId: string): Promise<CasCertificate | undefined>;
  /** Inserts unless a certificate with the same idempotency key exists (then the first one stays). */
  insertOnce(c: Omit<CasCertificate, 'revokedAt'>): Promise<void>;
  revoke(certificateId: string, at: number): Promise<void>;
  /** Revokes every certificate of a device still in force. */
  revokeDevice(deviceId: string, at: number): Promise<void>;
}

const SQL = {
  byKey: 'SELECT * FROM cas_certificates WHERE idempotency_key = $1',
  byId: 'SELECT * FROM cas_certificates WHERE certificate_id = $1',
  insert: `INSERT INTO cas_certificates (certificate_id, device_id, idempotency_key, serial, cert_pem, key_sealed, issued_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING`,
  revoke: 'UPDATE cas_certificates SET revoked_at = $1 WHERE certificate_id = $2 AND revoked_at IS NULL',
  revokeDevice: 'UPDATE cas_certificates SET revoked_at = $1 WHERE device_id = $2 AND revoked_at IS NULL',
};
// The statements are the same on both engines.
const values = (c: Omit<CasCertificate, 'revokedAt'>) => [c.certificateId, c.deviceId, c.idempotencyKey, c.serial, c.certPem, c.keySealed, c.issuedAt];

export class SqliteCasCertificateRepo implements CasCertificateRepo {
  readonly #s;

  constructor(db: Database) {
    this.#s = {
      byKey: db.prepare<unknown[], Row>(forSqlite(SQL.byKey)),
      byId: db.prepare<unknown[], Row>(forSqlite(SQL.byId)),
      insert: db.prepare(forSqlite(SQL.insert)),
      revoke: db.prepare(forSqlite(SQL.revoke)),
      revokeDevice: db.prepare(forSqlite(SQL.revokeDevice)),
    };
  }

  async byIdempotencyKey(key: string): Promise<CasCertificate | undefined> {
    const row = this.#s.byKey.get(key);
    return row && fromRow(row);
  }
  async byId(certificateId: string): Promise<CasCertificate | undefined> {
    const row = this.#s.byId.get(certificateId);
    return row && fromRow(row);
  }
  async insertOnce(c: Omit<CasCertificate, 'revokedAt'>): Promise<void> {
    this.#s.insert.run(...values(c));
  }
  async revoke(certificateId: string, at: number): Promise<void> {
    this.#s.revoke.run(at, certificateId);
  }
  async revokeDevice(deviceId: string, at: number): Promise<void> {
    this.#s.revokeDevice.run(at, deviceId);
  }
}

const Q = {
  byKey: named('cas_cert_by_key', SQL.byKey),
  byId: named('cas_cert_by_id', SQL.byId),
  insert: named('cas_cert_insert', SQL.insert),
  revoke: named('cas_cert_revoke', SQL.revoke),
  revokeDevice: named('cas_cert_revoke_device', SQL.revokeDevice),
};

export class PgCasCertificateRepo implements CasCertificateRepo {
  constructor(private readonly pool: pg.Pool) {}

  async byIdempotencyKey(key: string): Promise<CasCertificate | undefined> {
    const row = (await this.pool.query<Row>(Q.byKey([key]))).rows[0];
    return row && fromRow(row);
  }
  async byId(certificateId: string): Promise<CasCertificate | undefined> {
    const row = (await this.pool.query<Row>(Q.byId([certificateId]))).rows[0];
    return row && fromRow(row);
  }
  async insertOnce(c: Omit<CasCertificate, 'revokedAt'>): Promise<void> {
    await this.pool.query(Q.insert(values(c)));
  }
  async revoke(certificateId: string, at: number): Promise<void> {
    await this.pool.query(Q.revoke([at, certificateId]));
  }
  async revokeDevice(deviceId: string, at: number): Promise<void> {
    await this.pool.query(Q.revokeDevice([at, deviceId]));
  }
}
