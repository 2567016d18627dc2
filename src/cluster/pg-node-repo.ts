import type pg from 'pg';
import { named } from '../store/postgres/pg-transaction.js';
import { announcements, DEVICES_CHANNEL, TASKS_CHANNEL, type Heartbeat, NODE_SQL, type NodeDbRow, nodeOf, type NodeRepo, type NodeRow } from './node-repo.js';

const Q = {
  register: named('nodes_register', NODE_SQL.register),
  heartbeat: named('nodes_heartbeat', NODE_SQL.heartbeat),
  leave: named('nodes_leave', NODE_SQL.leave),
  list: named('nodes_list', NODE_SQL.list),
  devicesToCall: named('nodes_devices_to_call', NODE_SQL.devicesToCall),
  heldCount: named('nodes_held_count', NODE_SQL.heldCount),
  heldBy: named('nodes_held_by', NODE_SQL.heldBy),
  announce: named('nodes_announce', 'SELECT pg_notify($1, $2)'),
  setDrain: named('nodes_set_drain', NODE_SQL.setDrain),
};

/**
 * The nodes of the cluster on PostgreSQL. One process per node id is kept by the node's channel (a session
 * advisory lock, pg-node-channel.ts); the heartbeat is fenced by the incarnation, so a node whose id was started
 * again elsewhere learns it at its next beat.
 */
export class PgNodeRepo implements NodeRepo {
  constructor(private readonly pool: pg.Pool) {}

  async register(id: string, stunAddress: string, b: Heartbeat): Promise<number> {
    // ON CONFLICT: a restart of the node takes its own row over, one incarnation up.
    const { rows } = await this.pool.query<{ incarnation: number }>(Q.register([id, stunAddress, b.now, b.now, b.now + b.leaseMs, b.owned, b.online]));
    return rows[0]!.incarnation;
  }

  async heartbeat(id: string, incarnation: number, stunAddress: string, b: Heartbeat): Promise<boolean> {
    return ((await this.pool.query(Q.heartbeat([b.now, b.now + b.leaseMs, b.owned, b.online, stunAddress, id, incarnation]))).rowCount ?? 0) === 1;
  }

  async leave(id: string, incarnation: number, now: number): Promise<void> {
    await this.pool.query(Q.leave([now, id, incarnation]));
  }

  async list(): Promise<NodeRow[]> {
    return (await this.pool.query<NodeDbRow>(Q.list())).rows.map(nodeOf);
  }

  async devicesToCall(nodeId: string): Promise<string[]> {
    return (await this.pool.query<{ device_id: string }>(Q.devicesToCall([nodeId]))).rows.map((r) => r.device_id);
  }

  async heldCount(nodeId: string): Promise<number> {
    return (await this.pool.query<{ n: number }>(Q.heldCount([nodeId]))).rows[0]!.n;
  }

  async heldBy(nodeId: string, after: string, limit: number): Promise<string[]> {
    return (await this.pool.query<{ device_id: string }>(Q.heldBy([nodeId, after, limit]))).rows.map((r) => r.device_id);
  }

  async announceDevices(from: string, changes: readonly string[]): Promise<void> {
    for (const payload of announcements(from, changes)) await this.pool.query(Q.announce([DEVICES_CHANNEL, payload]));
  }

  async announceTaskDone(id: number): Promise<void> {
    await this.pool.query(Q.announce([TASKS_CHANNEL, String(id)]));
  }

  async setDrain(id: string, total: number | null, done: number | null): Promise<void> {
    await this.pool.query(Q.setDrain([total, done, id]));
  }
}
