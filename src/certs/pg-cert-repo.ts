import type pg from 'pg';
import { abandoned, CLAIM_MS, claimable } from '../store/claims.js';
import { DEADLINE_SQL } from '../store/deadline-repo.js';
import { advisoryLock, inTransaction, named } from '../store/postgres/pg-transaction.js';
import type { CertificateRecord, CertificateVersion } from './certificate.js';
import type { CertRepo, Expired, NewVersion } from './cert-repo.js';
import { CERT_SQL, countsOf, insertValues, recordOf, replaceValues, type Row, versionOf, versionValues } from './cert-rows.js';
import { type ClaimOutcome, claimRefusal, deadlinesOf, EXPIRY, expiryIsDue, RENEW, renewalIsDue, renewalRetryAllowed } from './cert-rules.js';

const S = Object.fromEntries(Object.entries(CERT_SQL).map(([name, sql]) => [name, named(`cert_${name}`, sql)])) as Record<keyof typeof CERT_SQL, ReturnType<typeof named>>;
const Q = {
  ...S,
  // A claim counts rows that may not exist yet, which no row lock covers: a transaction-scoped advisory lock
  // per device serialises the claims of one device (its cap), and one per certificate id the claims and
  // first stores of one id (else a claim could slip in while a store swaps the id's claim for its
  // certificate). Claims take the device's lock, then the id's; a store only the id's: no cycle.
  lockDevice: advisoryLock('cert_lock_device', 'cert-device'),
  lockId: advisoryLock('cert_lock_id', 'cert-id'),
  held: named(
    'cert_held',
    "SELECT (SELECT count(*) FROM certificates WHERE device_id = $1 AND status != 'revoked') + (SELECT count(*) FROM certificate_claims WHERE device_id = $1) AS n",
  ),
  // Deadline handlers and renewal retries read a certificate under its row lock, so that a revocation or a
  // new version (UPDATEs of the row) waits for them or they for it.
  getForUpdate: named('cert_get_for_update', `${CERT_SQL.get} FOR UPDATE`),
  getForShare: named('cert_get_for_share', `${CERT_SQL.get} FOR SHARE`),
  // A claim is the node's that asks the CA (claims.ts): a dead node's claim of the id is taken over.
  claim: named(
    'cert_claim',
    `INSERT INTO certificate_claims AS c (id, device_id, claimed_at, claimed_by, claim_until) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO UPDATE SET device_id = excluded.device_id, claimed_at = excluded.claimed_at, claimed_by = excluded.claimed_by, claim_until = excluded.claim_until
       WHERE c.claimed_by IS NOT NULL AND ${abandoned('c', '$3')}`,
  ),
  // At start: this node's own interrupted claims, and a dead node's; never those of a live node's CA call.
  unclaimAll: named('cert_unclaim_all', `DELETE FROM certificate_claims c WHERE ${claimable('c', '$1', '$2')}`),
  putDeadline: named('cert_put_deadline', DEADLINE_SQL.put),
  deleteDeadline: named('cert_delete_deadline', DEADLINE_SQL.delete),
};

/** The certificate proxy on PostgreSQL: the same rules as on SQLite, each unit of work one READ COMMITTED transaction under the locks named above. */
export class PgCertRepo implements CertRepo {
  constructor(
    private readonly pool: pg.Pool,
    /** This node: CA calls are claimed in its name. */
    private readonly nodeId: string,
  ) {}

  claim(id: string, deviceId: string, cap: number, at: number): Promise<ClaimOutcome> {
    return inTransaction(this.pool, async (c) => {
      await c.query(Q.lockDevice([deviceId]));
      await c.query(Q.lockId([id]));
      const exists = (await c.query(Q.get([id]))).rowCount! > 0;
      const refused = claimRefusal(exists, (await c.query<Row>(Q.held([deviceId]))).rows[0]!['n'] as number, cap);
      return refused ?? ((await c.query(Q.claim([id, deviceId, at, this.nodeId, at + CLAIM_MS]))).rowCount === 1 ? 'claimed' : 'taken');
    });
  }

  async unclaim(id: string, deviceId: string): Promise<void> {
    await this.pool.query(Q.unclaim([id, deviceId]));
  }

  async unclaimAll(now: number): Promise<void> {
    await this.pool.query(Q.unclaimAll([this.nodeId, now]));
  }

  store(v: NewVersion): Promise<boolean> {
    return inTransaction(this.pool, async (c) => {
      if (v.version === 1) {
        await c.query(Q.lockId([v.id]));
        if ((await c.query(Q.unclaim([v.id, v.deviceId]))).rowCount !== 1) return false;
        await c.query(Q.insert(insertValues(v)));
        // The replacing UPDATE takes the row lock: a concurrent revocation or renewal of the same version
        // waits, then finds the row moved on (READ COMMITTED re-checks its WHERE on the new row).
      } else if ((await c.query(Q.replace(replaceValues(v)))).rowCount === 0) {
        return false;
      }
      await c.query(Q.addVersion(versionValues(v)));
      for (const d of deadlinesOf(v)) await c.query(Q.putDeadline([d.kind, d.key, d.dueAt]));
      return true;
    });
  }

  renewalDue(id: string, dueAt: number, at: number): Promise<CertificateRecord | undefined> {
    return inTransaction(this.pool, async (c) => {
      const r = await this.#get(c, Q.getForUpdate([id]));
      if (!renewalIsDue(r, dueAt)) return undefined;
      return r.status === 'update-pending' ? r : recordOf((await c.query<Row>(Q.setStatus(['update-pending', at, id]))).rows[0]!);
    });
  }

  async setNoticeTask(id: string, version: number, task: number, at: number): Promise<void> {
    await this.pool.query(Q.notice([task, at, id, version]));
  }

  retryRenewal(id: string, dueAt: number): Promise<boolean> {
    return inTransaction(this.pool, async (c) => {
      if (!renewalRetryAllowed(await this.#get(c, Q.getForShare([id])))) return false;
      await c.query(Q.putDeadline([RENEW, id, dueAt]));
      return true;
    });
  }

  expiryDue(id: string, dueAt: number, at: number): Promise<Expired | undefined> {
    return inTransaction(this.pool, async (c) => {
      const r = await this.#get(c, Q.getForUpdate([id]));
      if (!expiryIsDue(r, dueAt)) return undefined;
      return { record: recordOf((await c.query<Row>(Q.setStatus(['expired', at, id]))).rows[0]!), was: r.status };
    });
  }

  async revoke(id: string, at: number): Promise<CertificateRecord | undefined> {
    return (await this.#revoke(Q.revoke([at, id])))[0];
  }

  revokeDevice(deviceId: string, at: number): Promise<CertificateRecord[]> {
    return this.#revoke(Q.revokeDevice([at, deviceId]));
  }

  get(id: string): Promise<CertificateRecord | undefined> {
    return this.#get(this.pool, Q.get([id]));
  }

  async sealedKey(id: string, version: number): Promise<Buffer | undefined> {
    return (await this.pool.query<Row>(Q.sealedKey([id, version]))).rows[0]?.['key_sealed'] as Buffer | undefined;
  }

  async versions(id: string): Promise<CertificateVersion[]> {
    return (await this.pool.query<Row>(Q.versions([id]))).rows.map(versionOf);
  }

  async page(after: string, limit: number): Promise<CertificateRecord[]> {
    return (await this.pool.query<Row>(Q.page([after, limit]))).rows.map(recordOf);
  }

  async ofDevice(deviceId: string): Promise<CertificateRecord[]> {
    return (await this.pool.query<Row>(Q.ofDevice([deviceId]))).rows.map(recordOf);
  }

  async countsByStatus(): Promise<Record<string, number>> {
    return countsOf((await this.pool.query<Row>(Q.counts())).rows);
  }

  async #get(c: pg.Pool | pg.PoolClient, q: pg.QueryConfig): Promise<CertificateRecord | undefined> {
    const r = (await c.query<Row>(q)).rows[0];
    return r && recordOf(r);
  }

  /** The revoking UPDATE locks the rows first, so a store of a new version that committed before it has its deadlines seen and deleted here. */
  #revoke(q: pg.QueryConfig): Promise<CertificateRecord[]> {
    return inTransaction(this.pool, async (c) => {
      const rows = (await c.query<Row>(q)).rows;
      for (const r of rows) {
        await c.query(Q.deleteDeadline([RENEW, r['id']]));
        await c.query(Q.deleteDeadline([EXPIRY, r['id']]));
      }
      return rows.map(recordOf);
    });
  }
}
