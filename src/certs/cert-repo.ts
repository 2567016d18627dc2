import type { Database } from '../store/database.js';
import type { CertificateRecord, CertificateVersion, CertStatus } from './certificate.js';

type Row = Record<string, unknown>;

const record = (r: Row): CertificateRecord => ({
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

/** A certificate version to store: the certificate, its sealed key and its dates. */
export interface NewVersion {
  readonly id: string;
  readonly deviceId: string;
  readonly version: number;
  readonly serial: string;
  readonly certPem: string;
  readonly keySealed: Buffer;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly renewAt: number;
  readonly at: number;
  readonly reason: string;
}

/** All SQL of the certificate proxy. */
export class CertRepo {
  readonly #s;

  constructor(readonly db: Database) {
    const p = <P extends unknown[]>(sql: string) => db.prepare<P, Row>(sql);
    const cols = 'id, device_id, version, status, serial, cert_pem, not_before, not_after, renew_at, created_at, updated_at, notice_task';
    this.#s = {
      get: p<[string]>(`SELECT ${cols} FROM certificates WHERE id = ?`),
      sealedKey: p<[string, number]>('SELECT key_sealed FROM certificates WHERE id = ? AND version = ?'),
      insert: p<[string, string, number, string, string, Buffer, number, number, number, number, number]>(
        `INSERT INTO certificates (id, device_id, version, status, serial, cert_pem, key_sealed, not_before, not_after, renew_at, created_at, updated_at)
         VALUES (?, ?, ?, 'valid', ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      replace: p<[number, string, string, Buffer, number, number, number, number, string, number]>(
        `UPDATE certificates SET version = ?, status = 'valid', serial = ?, cert_pem = ?, key_sealed = ?, not_before = ?, not_after = ?,
           renew_at = ?, updated_at = ?, notice_task = NULL WHERE id = ? AND version = ? AND status != 'revoked'`,
      ),
      version: p<[string, number, string, string, number, number, number, string]>(
        `INSERT INTO certificate_versions (certificate_id, version, serial, cert_pem, not_before, not_after, issued_at, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      versions: p<[string]>('SELECT * FROM certificate_versions WHERE certificate_id = ? ORDER BY version'),
      status: p<[string, number, string, number, string]>(`UPDATE certificates SET status = ?, updated_at = ? WHERE id = ? AND version = ? AND status = ? RETURNING ${cols}`),
      revoke: p<[number, string]>(`UPDATE certificates SET status = 'revoked', updated_at = ? WHERE id = ? AND status != 'revoked' RETURNING ${cols}`),
      notice: p<[number, number, string]>(`UPDATE certificates SET notice_task = ?, updated_at = ? WHERE id = ?`),
      page: p<[string, number]>(`SELECT ${cols} FROM certificates WHERE id > ? ORDER BY id LIMIT ?`),
      ofDevice: p<[string]>(`SELECT ${cols} FROM certificates WHERE device_id = ? ORDER BY id`),
      counts: p<[]>('SELECT status, count(*) AS n FROM certificates GROUP BY status'),
      held: p<[string, string]>(
        `SELECT (SELECT count(*) FROM certificates WHERE device_id = ? AND status != 'revoked') + (SELECT count(*) FROM certificate_claims WHERE device_id = ?) AS n`,
      ),
      claim: p<[string, string, number, string]>(
        `INSERT INTO certificate_claims (id, device_id, claimed_at) SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM certificates WHERE id = ?)
         ON CONFLICT (id) DO NOTHING`,
      ),
      unclaim: p<[string, string]>('DELETE FROM certificate_claims WHERE id = ? AND device_id = ?'),
      unclaimAll: p<[]>('DELETE FROM certificate_claims'),
    };
  }

  /**
   * Claims a new certificate id for a device before the CA is asked: one transaction, so of concurrent
   * claims of one id exactly one wins (the primary key decides), and a device holds at most `cap`
   * certificates and claims (revoked ones not counted).
   */
  claim(id: string, deviceId: string, cap: number, at: number): 'claimed' | 'taken' | 'limit-reached' {
    return this.db.transaction(() => {
      if (this.#s.get.get(id)) return 'taken';
      if ((this.#s.held.get(deviceId, deviceId)!['n'] as number) >= cap) return 'limit-reached';
      return this.#s.claim.run(id, deviceId, at, id).changes === 1 ? 'claimed' : 'taken';
    })();
  }

  /** Gives a claimed id back (the CA did not issue). */
  unclaim(id: string, deviceId: string): void {
    this.#s.unclaim.run(id, deviceId);
  }

  /** Forgets every claim: at start, those are of CA calls a stop or crash interrupted. */
  unclaimAll(): void {
    this.#s.unclaimAll.run();
  }

  get(id: string): CertificateRecord | undefined {
    const r = this.#s.get.get(id);
    return r && record(r);
  }

  sealedKey(id: string, version: number): Buffer | undefined {
    return this.#s.sealedKey.get(id, version)?.['key_sealed'] as Buffer | undefined;
  }

  /**
   * A new certificate (version 1, in place of the device's claim of its id), or the next version of an
   * existing one; false without the claim, or if the certificate was revoked while the CA was issuing
   * (a revocation is final).
   */
  store(v: NewVersion): boolean {
    return this.db.transaction(() => {
      if (v.version === 1) {
        if (this.#s.unclaim.run(v.id, v.deviceId).changes !== 1) return false;
        this.#s.insert.run(v.id, v.deviceId, 1, v.serial, v.certPem, v.keySealed, v.notBefore, v.notAfter, v.renewAt, v.at, v.at);
      } else if (this.#s.replace.run(v.version, v.serial, v.certPem, v.keySealed, v.notBefore, v.notAfter, v.renewAt, v.at, v.id, v.version - 1).changes === 0) {
        return false;
      }
      this.#s.version.run(v.id, v.version, v.serial, v.certPem, v.notBefore, v.notAfter, v.at, v.reason);
      return true;
    })();
  }

  versions(id: string): CertificateVersion[] {
    return this.#s.versions.all(id).map((r) => ({
      version: r['version'] as number,
      serial: r['serial'] as string,
      certPem: r['cert_pem'] as string,
      notBefore: r['not_before'] as number,
      notAfter: r['not_after'] as number,
      issuedAt: r['issued_at'] as number,
      reason: r['reason'] as string,
    }));
  }

  /** `from` → `to` for this version only; undefined when the certificate moved on meanwhile. */
  setStatus(id: string, version: number, from: CertStatus, to: CertStatus, at: number): CertificateRecord | undefined {
    const r = this.#s.status.get(to, at, id, version, from);
    return r && record(r);
  }

  revoke(id: string, at: number): CertificateRecord | undefined {
    const r = this.#s.revoke.get(at, id);
    return r && record(r);
  }

  setNoticeTask(id: string, task: number, at: number): void {
    this.#s.notice.run(task, at, id);
  }

  page(after: string, limit: number): CertificateRecord[] {
    return this.#s.page.all(after, limit).map(record);
  }

  ofDevice(deviceId: string): CertificateRecord[] {
    return this.#s.ofDevice.all(deviceId).map(record);
  }

  countsByStatus(): Record<string, number> {
    return Object.fromEntries(this.#s.counts.all().map((r) => [r['status'] as string, r['n'] as number]));
  }
}
