import type { Database } from '../store/database.js';
import { forSqlite } from '../store/sql-dialect.js';
import { type Heartbeat, NODE_SQL, type NodeDbRow, nodeOf, type NodeRepo, type NodeRow } from './node-repo.js';

/** On SQLite the cluster is the one node (the file's instance lock keeps it so): its row, for `cluster status`. */
export class SqliteNodeRepo implements NodeRepo {
  readonly #register;
  readonly #heartbeat;
  readonly #leave;
  readonly #list;
  readonly #setDrain;
  readonly #devicesToCall;
  readonly #heldCount;
  readonly #heldBy;

  constructor(db: Database) {
    const p = (sql: string) => db.prepare(forSqlite(sql));
    this.#register = p(NODE_SQL.register);
    this.#heartbeat = p(NODE_SQL.heartbeat);
    this.#leave = p(NODE_SQL.leave);
    this.#list = db.prepare<[], NodeDbRow>(NODE_SQL.list);
    this.#setDrain = p(NODE_SQL.setDrain);
    this.#devicesToCall = p(NODE_SQL.devicesToCall);
    this.#heldCount = p(NODE_SQL.heldCount);
    this.#heldBy = p(NODE_SQL.heldBy);
  }

  async register(id: string, stunAddress: string, b: Heartbeat): Promise<number> {
    return (this.#register.get(id, stunAddress, b.now, b.now, b.now + b.leaseMs, b.owned, b.online) as { incarnation: number }).incarnation;
  }

  async heartbeat(id: string, incarnation: number, stunAddress: string, b: Heartbeat): Promise<boolean> {
    return this.#heartbeat.run(b.now, b.now + b.leaseMs, b.owned, b.online, stunAddress, id, incarnation).changes === 1;
  }

  async leave(id: string, incarnation: number, now: number): Promise<void> {
    this.#leave.run(now, id, incarnation);
  }

  async list(): Promise<NodeRow[]> {
    return this.#list.all().map(nodeOf);
  }

  async devicesToCall(nodeId: string): Promise<string[]> {
    return (this.#devicesToCall.all(nodeId) as { device_id: string }[]).map((r) => r.device_id);
  }

  async heldCount(nodeId: string): Promise<number> {
    return (this.#heldCount.get(nodeId) as { n: number }).n;
  }

  async heldBy(nodeId: string, after: string, limit: number): Promise<string[]> {
    return (this.#heldBy.all(nodeId, after, limit) as { device_id: string }[]).map((r) => r.device_id);
  }

  /** One node: nobody to tell. */
  async announceDevices(): Promise<void> {}

  async announceTaskDone(): Promise<void> {}

  async setDrain(id: string, total: number | null, done: number | null): Promise<void> {
    this.#setDrain.run(total, done, id);
  }
}
