import type { CertificateRecord, CertificateVersion, CertStatus } from './certificate.js';
import type { NewVersion } from './cert-repo.js';

/** The certificate tables' rows as both engines return them, and the statements both run as written ($1, $2, … in order). */

export type Row = Record<string, unknown>;

export const recordOf = (r: Row): CertificateRecord => ({
  id: r['id'] as string,
  deviceId: r['device_id'] as string,
  version: r['version'] as number,
  status: r['status'] as CertStatus,
  serial: r['serial'] as string,
  certPem: r['cert_pem'] as string,
  notBefore: r['not_before'] as number,
  notAfter: r['not_after'] as number,
  renewAt: r['renew_at'] as number,
  createdAt: r['created_at'] as number,
  updatedAt: r['updated_at'] as number,
  noticeTask: r['notice_task'] as number | null,
});

export const versionOf = (r: Row): CertificateVersion => ({
  version: r['version'] as number,
  serial: r['serial'] as string,
  certPem: r['cert_pem'] as string,
  notBefore: r['not_before'] as number,
  notAfter: r['not_after'] as number,
  issuedAt: r['issued_at'] as number,
  reason: r['reason'] as string,
});

export const countsOf = (rows: Row[]): Record<string, number> => Object.fromEntries(rows.map((r) => [r['status'] as string, r['n'] as number]));

const COLS = 'id, device_id, version, status, serial, cert_pem, not_before, not_after, renew_at, created_at, updated_at, notice_task';

export const CERT_SQL = {
  get: `SELECT ${COLS} FROM certificates WHERE id = $1`,
  sealedKey: 'SELECT key_sealed FROM certificates WHERE id = $1 AND version = $2',
  insert: `INSERT INTO certificates (id, device_id, version, status, serial, cert_pem, key_sealed, not_before, not_after, renew_at, created_at, updated_at)
           VALUES ($1, $2, 1, 'valid', $3, $4, $5, $6, $7, $8, $9, $10)`,
  // Only the version it follows, and never a revoked one: a revocation while the CA issued is final.
  replace: `UPDATE certificates SET version = $1, status = 'valid', serial = $2, cert_pem = $3, key_sealed = $4, not_before = $5, not_after = $6,
              renew_at = $7, updated_at = $8, notice_task = NULL WHERE id = $9 AND version = $10 AND status != 'revoked'`,
  addVersion: 'INSERT INTO certificate_versions (certificate_id, version, serial, cert_pem, not_before, not_after, issued_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
  versions: 'SELECT * FROM certificate_versions WHERE certificate_id = $1 ORDER BY version',
  setStatus: `UPDATE certificates SET status = $1, updated_at = $2 WHERE id = $3 RETURNING ${COLS}`,
  revoke: `UPDATE certificates SET status = 'revoked', updated_at = $1 WHERE id = $2 AND status != 'revoked' RETURNING ${COLS}`,
  revokeDevice: `UPDATE certificates SET status = 'revoked', updated_at = $1 WHERE device_id = $2 AND status != 'revoked' RETURNING ${COLS}`,
  notice: 'UPDATE certificates SET notice_task = $1, updated_at = $2 WHERE id = $3 AND version = $4',
  page: `SELECT ${COLS} FROM certificates WHERE id > $1 ORDER BY id LIMIT $2`,
  ofDevice: `SELECT ${COLS} FROM certificates WHERE device_id = $1 ORDER BY id`,
  counts: 'SELECT status, count(*) AS n FROM certificates GROUP BY status',
  claim: 'INSERT INTO certificate_claims (id, device_id, claimed_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING',
  unclaim: 'DELETE FROM certificate_claims WHERE id = $1 AND device_id = $2',
  unclaimAll: 'DELETE FROM certificate_claims',
};

/** The values of CERT_SQL.insert (version 1) and CERT_SQL.replace (the next one), and of its history row. */
export const insertValues = (v: NewVersion) => [v.id, v.deviceId, v.serial, v.certPem, v.keySealed, v.notBefore, v.notAfter, v.renewAt, v.at, v.at];
export const replaceValues = (v: NewVersion) => [v.version, v.serial, v.certPem, v.keySealed, v.notBefore, v.notAfter, v.renewAt, v.at, v.id, v.version - 1];
export const versionValues = (v: NewVersion) => [v.id, v.version, v.serial, v.certPem, v.notBefore, v.notAfter, v.at, v.reason];
