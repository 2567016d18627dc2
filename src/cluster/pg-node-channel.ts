import pg from 'pg';
import { StoreError } from '../store/database.js';
import { InstanceLockedError } from '../store/instance-lock.js';
import { explainPgError, type PgOptions } from '../store/postgres/pg-database.js';
import { lostChannel, nodeChannel } from './node-id.js';
import { DEVICES_CHANNEL, TASKS_CHANNEL } from './node-repo.js';

export interface NodeChannelEvents {
  /** The channel's connection broke and, reconnected, found its node id held by another process: this one must stop. */
  onLockLost(reason: string): void;
  /** A device this node may hold the binding of has work queued through another node (the payload: its id). */
  onRouted(deviceId: string): void;
  /** A node announced devices it registered or removed (DEVICES_CHANNEL's payload). */
  onDevices(payload: string): void;
  /** A task finished on another node (the payload: its id). */
  onTaskDone(id: number): void;
  /** Another node's STUN socket took this device's binding over. */
  onLost(deviceId: string): void;
  /** (Re)connected and listening: what was notified while the connection was down is found by a rescan. */
  onListening(): void;
}

export interface NodeChannel {
  close(): Promise<void>;
}

/**
 * The node's own connection to PostgreSQL, for its whole life: a session advisory lock on its node id (one
 * process per node id in the cluster; the server drops it with the session, so a killed node never blocks its
 * restart) and LISTEN on its channel, where other nodes' API calls route connection requests to it. A broken
 * connection is reconnected with backoff, the lock taken again and LISTEN renewed (then `onListening`: notifications
 * are not durable); when another process took the node id meanwhile, `onLost` says so.
 * @throws InstanceLockedError another live process has the node id; StoreError when the server cannot be reached
 */
export async function openPgNodeChannel(options: PgOptions, server: string, nodeId: string, events: NodeChannelEvents): Promise<NodeChannel> {
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let client = await lockedClient(options, server, nodeId);
  const watch = (c: pg.Client) => {
    const lost = lostChannel(nodeId);
    c.on('notification', (n) => {
      if (!n.payload) return;
      if (n.channel === lost) events.onLost(n.payload);
      else if (n.channel === DEVICES_CHANNEL) events.onDevices(n.payload);
      else if (n.channel === TASKS_CHANNEL) events.onTaskDone(Number(n.payload));
      else events.onRouted(n.payload);
    });
    c.on('error', () => {
      if (closed) return;
      void c.end().catch(() => undefined);
      const again = async (delayMs: number): Promise<void> => {
        if (closed) return;
        try {
          client = await lockedClient(options, server, nodeId);
          if (closed) return void client.end().catch(() => undefined);
          watch(client);
          events.onListening();
        } catch (err) {
          if (err instanceof InstanceLockedError) return events.onLockLost(err.message);
          retry = setTimeout(() => void again(Math.min(delayMs * 2, 30_000)), delayMs);
        }
      };
      void again(500);
    });
  };
  watch(client);
  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      await client.end().catch(() => undefined);
    },
  };
}

async function lockedClient(options: PgOptions, server: string, nodeId: string): Promise<pg.Client> {
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
    const { rows } = await client.query<{ locked: boolean; key: string }>("SELECT pg_try_advisory_lock(k) AS locked, k::text AS key FROM (SELECT hashtextextended('stbd-node:' || $1, 0) AS k) x", [nodeId]);
    if (!rows[0]?.locked) {
      // A bigint advisory key shows in pg_locks as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
      const holder = await client.query<{ addr: string | null; since: Date }>(
        `SELECT a.client_addr::text AS addr, a.backend_start AS since FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = $1::bigint
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        [rows[0]?.key],
      );
      const h = holder.rows[0];
      const who = h ? ` (connected from ${h.addr ?? 'a Unix socket'} since ${h.since.toISOString()})` : '';
      throw new InstanceLockedError(`another stbd with [cluster] node_id ${JSON.stringify(nodeId)}${who} is running on ${server}: each node of a cluster needs its own node_id`);
    }
    await client.query(`LISTEN "${nodeChannel(nodeId)}"`);
    await client.query(`LISTEN "${lostChannel(nodeId)}"`);
    await client.query(`LISTEN ${DEVICES_CHANNEL}`);
    await client.query(`LISTEN ${TASKS_CHANNEL}`);
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    if (err instanceof InstanceLockedError) throw err;
    throw new StoreError(server, explainPgError(err));
  }
}
