import type pg from 'pg';
import type { Sealer } from '../sealed-text.js';
import { DEADLINE_SQL } from '../store/deadline-repo.js';
import { advisoryLock, inTransaction, named } from '../store/postgres/pg-transaction.js';
import type { Task, TaskFault, TaskRequest, TaskStatus } from './task.js';
import { type Moved, type NewTask, type QueueOutcome, TASK_EXPIRY, type TaskRepo } from './task-repo.js';
import { finishColumns, insertColumns, resultColumn, type Row, TASK_SQL, TaskSealing, taskOf } from './task-rows.js';
import { headStep, lostFault, lostStep, reuseOutcome } from './task-rules.js';

const S = TASK_SQL;
const Q = {
  // Queue and next of one device go one after the other under a transaction-scoped advisory lock per device:
  // a device's ids are then handed out in commit order (a task committed later never has a smaller id, which
  // next would find open behind a head it already sent: FIFO, one task in flight), and two nexts never both
  // read the same head.
  lockDevice: advisoryLock('tasks_lock_device', 'tasks-device'),
  insert: named('tasks_insert', S.insert),
  seal: named('tasks_seal', S.seal),
  sealed: named('tasks_sealed', S.sealed),
  get: named('tasks_get', S.get),
  // Row lock: a lost session's requeue and a concurrent finish of the same task go one after the other.
  lockTask: named('tasks_lock', `${S.get} FOR UPDATE`),
  byKey: named('tasks_by_key', S.byKey),
  ofDevice: named('tasks_of_device', S.ofDevice),
  nextOpen: named('tasks_next_open', S.nextOpen),
  openDevices: named('tasks_open_devices', S.openDevices),
  hasOpen: named('tasks_has_open', S.hasOpen),
  send: named('tasks_send', S.send),
  requeue: named('tasks_requeue', S.requeue),
  finish: named('tasks_finish', S.finish),
  setResult: named('tasks_set_result', S.setResult),
  transfer: named('tasks_transfer', S.transfer),
  counts: named('tasks_counts', S.counts),
  purge: named('tasks_purge', S.purge),
  putDeadline: named('tasks_put_deadline', DEADLINE_SQL.put),
  // The expiry deadline, and the node holding the device's binding told to send the connection request: NOTIFY is
  // delivered at COMMIT, so the holder reads a task that is there (and nothing when the transaction rolls back).
  putDeadlineNotify: named(
    'tasks_put_deadline_notify',
    `WITH deadline AS (${DEADLINE_SQL.put})
     SELECT pg_notify('stbd_node_' || p.node, p.device_id) FROM presence p WHERE p.device_id = $4 AND p.node IS NOT NULL AND p.node <> $5`,
  ),
  deleteDeadline: named('tasks_delete_deadline', DEADLINE_SQL.delete),
};

const FOREIGN_KEY_VIOLATION = '23503';

/** The task queue on PostgreSQL: the rules of task-rules.ts, each unit of work one READ COMMITTED transaction under the locks named above. */
export class PgTaskRepo implements TaskRepo {
  readonly #sealing: TaskSealing;

  constructor(
    private readonly pool: pg.Pool,
    sealer: Sealer,
    /** This node: a task for a device whose binding another node holds notifies that node. */
    private readonly nodeId: string,
  ) {
    this.#sealing = new TaskSealing(sealer);
  }

  async queue(t: NewTask): Promise<QueueOutcome> {
    try {
      return await inTransaction(this.pool, async (c) => {
        await c.query(Q.lockDevice([t.deviceId]));
        const existing = await this.#byKey(c, t);
        if (existing) return reuseOutcome(existing, await this.#sendable(c, existing), t.request);
        const row = (await c.query<Row>(Q.insert(insertColumns(t)))).rows[0];
        // No row: the key's task was committed by a writer outside the device lock; it is read now.
        if (!row) {
          const other = (await this.#byKey(c, t))!;
          return reuseOutcome(other, await this.#sendable(c, other), t.request);
        }
        const task = taskOf(row);
        const sealed = this.#sealing.sealed(task, t.request);
        if (sealed) await c.query(Q.seal([sealed, task.id]));
        await c.query(Q.putDeadlineNotify([TASK_EXPIRY, String(task.id), task.expiresAt, t.deviceId, this.nodeId]));
        return { kind: 'created', task } as const;
      });
    } catch (err) {
      if ((err as { code?: string }).code === FOREIGN_KEY_VIOLATION) return { kind: 'unknown-device' };
      throw err;
    }
  }

  async get(id: number): Promise<Task | undefined> {
    return this.#task(this.pool, Q.get([id]));
  }

  sendable(t: Task): Promise<TaskRequest> {
    return this.#sendable(this.pool, t);
  }

  async ofDevice(deviceId: string, before: number, limit: number): Promise<Task[]> {
    return (await this.pool.query<Row>(Q.ofDevice([deviceId, before, limit]))).rows.map(taskOf);
  }

  async hasOpen(deviceId: string): Promise<boolean> {
    return ((await this.pool.query(Q.hasOpen([deviceId]))).rowCount ?? 0) > 0;
  }

  async devicesWithOpenTasks(): Promise<string[]> {
    return (await this.pool.query<{ device_id: string }>(Q.openDevices())).rows.map((r) => r.device_id);
  }

  async next(deviceId: string, now: number, maxAttempts: number): Promise<{ sent: Task | undefined; moved: Moved[] }> {
    // Most sessions have nothing to do (a periodic Inform): one read says so without the transaction's four
    // round trips. A task queued just after it is no different from one queued just after the locked read:
    // its connection request brings the device back.
    if (!(await this.#task(this.pool, Q.nextOpen([deviceId])))) return { sent: undefined, moved: [] };
    return inTransaction(this.pool, async (c) => {
      await c.query(Q.lockDevice([deviceId]));
      const moved: Moved[] = [];
      for (;;) {
        const head = await this.#task(c, Q.nextOpen([deviceId]));
        if (!head) return { sent: undefined, moved };
        // Finishing a task takes no device lock: a guarded write that finds the head finished meanwhile reads the next head.
        switch (headStep(head, now, maxAttempts)) {
          case 'send': {
            const sent = await this.#task(c, Q.send([now, head.id]));
            if (sent) return { sent, moved };
            break;
          }
          case 'requeue': {
            const again = await this.#task(c, Q.requeue([head.id]));
            if (again) moved.push({ kind: 'requeued', task: again });
            break;
          }
          case 'fault':
          case 'expire': {
            const [from, to, fault] = head.status === 'sent' ? (['sent', 'fault', lostFault(head)] as const) : (['queued', 'expired', null] as const);
            const done = await this.#finish(c, head.id, from, to, now, null, fault);
            if (done) moved.push({ kind: 'finished', task: done });
            break;
          }
        }
      }
    });
  }

  requeue(id: number, now: number, maxAttempts: number): Promise<Moved | undefined> {
    return inTransaction(this.pool, async (c) => {
      const t = await this.#task(c, Q.lockTask([id]));
      if (t?.status !== 'sent') return undefined;
      if (lostStep(t, maxAttempts) === 'fault') return { kind: 'finished', task: (await this.#finish(c, id, 'sent', 'fault', now, null, lostFault(t)))! };
      return { kind: 'requeued', task: (await this.#task(c, Q.requeue([id])))! };
    });
  }

  finish(id: number, from: TaskStatus, to: TaskStatus, at: number, result: unknown, fault: TaskFault | null): Promise<Task | undefined> {
    // One guarded UPDATE (its row lock decides between concurrent finishes) and the deadline with it.
    return inTransaction(this.pool, (c) => this.#finish(c, id, from, to, at, result, fault));
  }

  setResult(id: number, result: unknown): Promise<Task | undefined> {
    return this.#task(this.pool, Q.setResult([resultColumn(result), id]));
  }

  awaitTransfer(id: number, result: unknown, until: number): Promise<Task | undefined> {
    return inTransaction(this.pool, async (c) => {
      const t = await this.#task(c, Q.transfer([resultColumn(result), until, id]));
      if (t) await c.query(Q.putDeadline([TASK_EXPIRY, String(id), until]));
      return t;
    });
  }

  async purgeFinished(before: number, limit: number): Promise<number> {
    return (await this.pool.query(Q.purge([before, limit]))).rowCount ?? 0;
  }

  async countsByStatus(): Promise<Record<string, number>> {
    return Object.fromEntries((await this.pool.query<{ status: string; n: number }>(Q.counts())).rows.map((r) => [r.status, r.n]));
  }

  async #finish(c: pg.PoolClient, id: number, from: TaskStatus, to: TaskStatus, at: number, result: unknown, fault: TaskFault | null): Promise<Task | undefined> {
    const done = await this.#task(c, Q.finish(finishColumns(to, at, result, fault, id, from)));
    if (done) await c.query(Q.deleteDeadline([TASK_EXPIRY, String(id)]));
    return done;
  }

  #byKey(c: pg.PoolClient, t: NewTask): Promise<Task | undefined> {
    return t.idempotencyKey === null ? Promise.resolve(undefined) : this.#task(c, Q.byKey([t.deviceId, t.idempotencyKey]));
  }

  async #sendable(q: pg.Pool | pg.PoolClient, t: Task): Promise<TaskRequest> {
    const r = (await q.query<{ request_sealed: string | null }>(Q.sealed([t.id]))).rows[0];
    return this.#sealing.open(t, r?.request_sealed);
  }

  async #task(q: pg.Pool | pg.PoolClient, query: pg.QueryConfig): Promise<Task | undefined> {
    const r = (await q.query<Row>(query)).rows[0];
    return r && taskOf(r);
  }
}
