import type pg from 'pg';
import { GroupCommit } from '../store/group-commit.js';
import { named } from '../store/postgres/pg-transaction.js';
import type { SessionLeaseRepo } from './session-lease-repo.js';

/**
 * Takes a device's lease: an INSERT of the row `from` selects (device id, node, session, until); `now` is the
 * parameter of the time. ON CONFLICT … WHERE: the row lock orders two nodes' acquisitions; the second sees the
 * first's live lease. A lease is taken over once it ran out, or once its node's own lease did (a node killed
 * mid-session). Part of the Inform's statement (pg-cwmp-device-repo.ts): opening a session is no round trip.
 */
export const leaseClaim = (from: string, now: string): string =>
  `INSERT INTO cwmp_session_leases AS l (device_id, node_id, session, lease_until) ${from}
     ON CONFLICT (device_id) DO UPDATE SET node_id = excluded.node_id, session = excluded.session, lease_until = excluded.lease_until
       WHERE l.node_id = excluded.node_id OR l.lease_until <= ${now}
          OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = l.node_id AND n.lease_until > ${now})
     RETURNING 1`;

const Q = {
  renew: named('session_lease_renew', 'UPDATE cwmp_session_leases SET lease_until = $1 WHERE device_id = $2 AND session = $3'),
  // The sessions that ended while the last release ran, given up in one statement.
  release: named(
    'session_lease_release',
    'DELETE FROM cwmp_session_leases l USING unnest($1::text[], $2::text[]) AS e (device_id, session) WHERE l.device_id = e.device_id AND l.session = e.session',
  ),
};

interface Ended {
  readonly deviceId: string;
  readonly session: string;
}

/** Most leases one statement gives up. */
const RELEASE_GROUP = 256;

/** Session leases on PostgreSQL, taken in the node's name (its own earlier sessions of a device it replaces itself). */
export class PgSessionLeases implements SessionLeaseRepo {
  readonly shared = true;
  // Every session's end gives up its lease: with many sessions ending at once, one statement for those that wait.
  readonly #released: GroupCommit<Ended, undefined>;

  constructor(private readonly pool: pg.Pool) {
    this.#released = new GroupCommit(
      async (ended) => {
        await this.pool.query(Q.release([ended.map((e) => e.deviceId), ended.map((e) => e.session)]));
        return ended.map(() => ({ ok: true, value: undefined }));
      },
      { maxGroup: RELEASE_GROUP, key: (e) => e.session },
    );
  }

  async renew(deviceId: string, session: string, until: number): Promise<boolean> {
    return ((await this.pool.query(Q.renew([until, deviceId, session]))).rowCount ?? 0) === 1;
  }

  async release(deviceId: string, session: string): Promise<void> {
    await this.#released.submit({ deviceId, session });
  }
}
