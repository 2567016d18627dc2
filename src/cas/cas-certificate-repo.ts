import type { Database } from '../store/database.js';

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
export class CasCertificateRepo {
  readonly #byKey;
  readonly #byId;
  readonly #insert;
  readonly #revoke;
  readonly #revokeDevice;

  constructor(db: Database) {
    this.#byKey = db.prepare<[string], Row>('SELECT * FROM cas_certificates WHERE idempotency_key = ?');
    this.#byId = db.prepare<[string], Row>('SELECT * FROM cas_certificates WHERE certificate_id = ?');
    this.#insert = db.prepare(
      `INSERT INTO cas_certificates (certificate_id, device_id, idempotency_key, serial, cert_pem, key_sealed, issued_at)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING`,
    );
    this.#revoke = db.prepare('UPDATE cas_certificates SET revoked_at = ? WHERE certificate_id = ? AND revoked_at IS NULL');
    this.#revokeDevice = db.prepare('UPDATE cas_certificates SET revoked_at = ? WHERE device_id = ? AND revoked_at IS NULL');
  }

  byIdempotencyKey(key: string): CasCertificate | undefined {
    const row = this.#byKey.get(key);
    return row && fromRow(row);
  }

  byId(certificateId: string): CasCertificate | undefined {
    const row = this.#byId.get(certificateId);
    return row && fromRow(row);
  }

  /** Inserts unless a certificate with the same idempotency key exists (then the first one stays). */
  insertOnce(c: Omit<CasCertificate, 'revokedAt'>): void {
    this.#insert.run(c.certificateId, c.deviceId, c.idempotencyKey, c.serial, c.certPem, c.keySealed, c.issuedAt);
  }

  revoke(certificateId: string, at: number): void {
    this.#revoke.run(at, certificateId);
  }

  /** Revokes every certificate of a device still in force. */
  revokeDevice(deviceId: string, at: number): void {
    this.#revokeDevice.run(at, deviceId);
  }
}
