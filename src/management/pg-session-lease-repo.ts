import type pg from 'pg';
import { named } from '../store/postgres/pg-transaction.js';
import type { SessionLeaseRepo } from './session-lease-repo.js';

const Q = {
  // ON CONFLICT … WHERE: the row lock orders two nodes' acquisitions; the second sees the first's live lease.
  // A lease is taken over once it ran out, or once its node's own lease did (a node killed mid-session).
  acquire: named(
    'session_lease_acquire',
    `INSERT INTO cwmp_session_leases AS l (device_id, node_id, session, lease_until) VALUES ($1, $2, $3, $4)
     ON CONFLICT (device_id) DO UPDATE SET node_id = excluded.node_id, session = excluded.session, lease_until = excluded.lease_until
       WHERE l.node_id = excluded.node_id OR l.lease_until <= $5
          OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = l.node_id AND n.lease_until > $5)
     RETURNING 1`,
  ),
  renew: named('session_lease_renew', 'UPDATE cwmp_session_leases SET lease_until = $1 WHERE device_id = $2 AND session = $3'),
  release: named('session_lease_release', 'DELETE FROM cwmp_session_leases WHERE device_id = $1 AND session = $2'),
};

/** Session leases on PostgreSQL, in the node's name (its own earlier sessions of a device it replaces itself). */
export class PgSessionLeases implements SessionLeaseRepo {
  readonly shared = true;

  constructor(
    private readonly pool: pg.Pool,
    private readonly nodeId: string,
  ) {}

  async acquire(deviceId: string, session: string, now: number, until: number): Promise<boolean> {
    return ((await this.pool.query(Q.acquire([deviceId, this.nodeId, session, until, now]))).rowCount ?? 0) === 1;
  }

  async renew(deviceId: string, session: string, until: number): Promise<boolean> {
    return ((await this.pool.query(Q.renew([until, deviceId, session]))).rowCount ?? 0) === 1;
  }

  async release(deviceId: string, session: string): Promise<void> {
    await this.pool.query(Q.release([deviceId, session]));
  }
}
