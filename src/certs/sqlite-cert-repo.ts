import type { Database } from '../store/database.js';
import { DeadlineRepo } from '../store/deadline-repo.js';
import { forSqlite } from '../store/sql-dialect.js';
import type { CertificateRecord, CertificateVersion } from './certificate.js';
import type { CertRepo, Expired, NewVersion } from './cert-repo.js';
import { CERT_SQL, countsOf, insertValues, recordOf, replaceValues, type Row, versionOf, versionValues } from './cert-rows.js';
import { type ClaimOutcome, claimRefusal, deadlinesOf, EXPIRY, expiryIsDue, RENEW, renewalIsDue, renewalRetryAllowed } from './cert-rules.js';

/**
 * The certificate proxy on SQLite. Every unit of work that reads before it writes is one BEGIN IMMEDIATE
 * transaction: SQLite has one writer at a time, so what a rule reads cannot change before its writes
 * commit. Statements are prepared once.
 */
export class SqliteCertRepo implements CertRepo {
  readonly #db: Database;
  readonly #deadlines: DeadlineRepo;
  readonly #s;

  constructor(db: Database) {
    this.#db = db;
    this.#deadlines = new DeadlineRepo(db);
    const p = (sql: string) => db.prepare<unknown[], Row>(forSqlite(sql));
    this.#s = {
      ...(Object.fromEntries(Object.entries(CERT_SQL).map(([name, sql]) => [name, p(sql)])) as Record<keyof typeof CERT_SQL, ReturnType<typeof p>>),
      held: db.prepare<[string, string], { n: number }>(
        "SELECT (SELECT count(*) FROM certificates WHERE device_id = ? AND status != 'revoked') + (SELECT count(*) FROM certificate_claims WHERE device_id = ?) AS n",
      ),
    };
  }

  async claim(id: string, deviceId: string, cap: number, at: number): Promise<ClaimOutcome> {
    return this.#unit(() => {
      const refused = claimRefusal(this.#s.get.get(id) !== undefined, this.#s.held.get(deviceId, deviceId)!.n, cap);
      return refused ?? (this.#s.claim.run(id, deviceId, at).changes === 1 ? 'claimed' : 'taken');
    });
  }

  async unclaim(id: string, deviceId: string): Promise<void> {
    this.#s.unclaim.run(id, deviceId);
  }

  async unclaimAll(): Promise<void> {
    this.#s.unclaimAll.run();
  }

  async store(v: NewVersion): Promise<boolean> {
    return this.#unit(() => {
      if (v.version === 1) {
        if (this.#s.unclaim.run(v.id, v.deviceId).changes !== 1) return false;
        this.#s.insert.run(...insertValues(v));
      } else if (this.#s.replace.run(...replaceValues(v)).changes === 0) {
        return false;
      }
      this.#s.addVersion.run(...versionValues(v));
      for (const d of deadlinesOf(v)) this.#deadlines.put(d);
      return true;
    });
  }

  async renewalDue(id: string, dueAt: number, at: number): Promise<CertificateRecord | undefined> {
    return this.#unit(() => {
      const r = this.#get(id);
      if (!renewalIsDue(r, dueAt)) return undefined;
      return r.status === 'update-pending' ? r : recordOf(this.#s.setStatus.get('update-pending', at, id)!);
    });
  }

  async setNoticeTask(id: string, version: number, task: number, at: number): Promise<void> {
    this.#s.notice.run(task, at, id, version);
  }

  async retryRenewal(id: string, dueAt: number): Promise<boolean> {
    return this.#unit(() => {
      if (!renewalRetryAllowed(this.#get(id))) return false;
      this.#deadlines.put({ kind: RENEW, key: id, dueAt });
      return true;
    });
  }

  async expiryDue(id: string, dueAt: number, at: number): Promise<Expired | undefined> {
    return this.#unit(() => {
      const r = this.#get(id);
      if (!expiryIsDue(r, dueAt)) return undefined;
      return { record: recordOf(this.#s.setStatus.get('expired', at, id)!), was: r.status };
    });
  }

  async revoke(id: string, at: number): Promise<CertificateRecord | undefined> {
    return this.#unit(() => this.#revoked(this.#s.revoke.all(at, id))[0]);
  }

  async revokeDevice(deviceId: string, at: number): Promise<CertificateRecord[]> {
    return this.#unit(() => this.#revoked(this.#s.revokeDevice.all(at, deviceId)));
  }

  async get(id: string): Promise<CertificateRecord | undefined> {
    return this.#get(id);
  }

  async sealedKey(id: string, version: number): Promise<Buffer | undefined> {
    return this.#s.sealedKey.get(id, version)?.['key_sealed'] as Buffer | undefined;
  }

  async versions(id: string): Promise<CertificateVersion[]> {
    return this.#s.versions.all(id).map(versionOf);
  }

  async page(after: string, limit: number): Promise<CertificateRecord[]> {
    return this.#s.page.all(after, limit).map(recordOf);
  }

  async ofDevice(deviceId: string): Promise<CertificateRecord[]> {
    return this.#s.ofDevice.all(deviceId).map(recordOf);
  }

  async countsByStatus(): Promise<Record<string, number>> {
    return countsOf(this.#s.counts.all());
  }

  #get(id: string): CertificateRecord | undefined {
    const r = this.#s.get.get(id);
    return r && recordOf(r);
  }

  /** Revoked certificates have no deadlines left. */
  #revoked(rows: Row[]): CertificateRecord[] {
    for (const r of rows) {
      this.#deadlines.delete(RENEW, r['id'] as string);
      this.#deadlines.delete(EXPIRY, r['id'] as string);
    }
    return rows.map(recordOf);
  }

  #unit<R>(fn: () => R): R {
    return this.#db.transaction(fn).immediate();
  }
}
