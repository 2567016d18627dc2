import pg from 'pg';
import { InstanceLockedError, type InstanceLock } from '../instance-lock.js';
import { StoreError } from '../database.js';
import { explainPgError, type PgOptions } from './pg-database.js';

// Apart from the migration lock: a node holds this one for its whole life.
const INSTANCE_LOCK = 0x5354_4245;

export interface PgInstanceLockEvents {
  /** The lock's connection broke (a restart, a failover): retaken by itself; `lost` if another stbd took it meanwhile. */
  onLost(reason: string): void;
}

/**
 * One stbd per PostgreSQL database, as `PATH.lock` is for SQLite, until stbd runs as a cluster: a session
 * advisory lock on a connection of its own, which the server drops with the session, so a killed stbd never
 * blocks the next start. A broken connection is reconnected and the lock taken again; when another stbd took
 * it meanwhile, `onLost` says so and the daemon stops rather than run two on one database.
 * @throws InstanceLockedError `another stbd (host, since …) is using SERVER`; StoreError when the server cannot be reached
 */
export async function acquirePgInstanceLock(options: PgOptions, server: string, events: PgInstanceLockEvents): Promise<InstanceLock> {
  let released = false;
  let client = await lockedClient(options, server);
  let retry: NodeJS.Timeout | undefined;
  const watch = (c: pg.Client) =>
    c.on('error', () => {
      if (released) return;
      void c.end().catch(() => undefined);
      const again = async (delayMs: number): Promise<void> => {
        if (released) return;
        try {
          client = await lockedClient(options, server);
          watch(client);
        } catch (err) {
          if (err instanceof InstanceLockedError) return events.onLost(err.message);
          retry = setTimeout(() => void again(Math.min(delayMs * 2, 30_000)), delayMs);
        }
      };
      void again(500);
    });
  watch(client);
  return {
    release() {
      released = true;
      if (retry) clearTimeout(retry);
      void client.end().catch(() => undefined);
    },
  };
}

async function lockedClient(options: PgOptions, server: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: options.url,
    ...(options.password !== undefined ? { password: options.password } : {}),
    application_name: 'stbd',
    connectionTimeoutMillis: 10_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    throw new StoreError(server, explainPgError(err));
  }
  try {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [INSTANCE_LOCK]);
    if (rows[0]?.locked) return client;
    const holder = await client.query<{ addr: string | null; since: Date }>(
      `SELECT a.client_addr::text AS addr, a.backend_start AS since FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.objid = $1 AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [INSTANCE_LOCK],
    );
    const h = holder.rows[0];
    const who = h ? ` (connected from ${h.addr ?? 'a Unix socket'} since ${h.since.toISOString()})` : '';
    throw new InstanceLockedError(`another stbd${who} is using ${server}: one stbd per database`);
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
}
