import type { Sealer } from '../sealed-text.js';
import type { Database } from '../store/database.js';
import { DeadlineRepo } from '../store/deadline-repo.js';
import { forSqlite } from '../store/sql-dialect.js';
import { ImmediateUnits } from '../store/sqlite-transaction.js';
import type { Task, TaskFault, TaskRequest, TaskStatus } from './task.js';
import { type Moved, type NewTask, type QueueOutcome, TASK_EXPIRY, type TaskRepo } from './task-repo.js';
import { finishColumns, insertColumns, resultColumn, type Row, TASK_SQL, TaskSealing, taskOf } from './task-rows.js';
import { headStep, lostFault, lostStep, reuseOutcome } from './task-rules.js';

/**
 * The task queue on SQLite. Every unit of work is one BEGIN IMMEDIATE transaction: SQLite has one writer at a
 * time, so a device's FIFO head cannot change between its read and the write that depends on it.
 */
export class SqliteTaskRepo implements TaskRepo {
  readonly #units: ImmediateUnits;
  readonly #deadlines: DeadlineRepo;
  readonly #sealing: TaskSealing;
  readonly #s;

  constructor(db: Database, sealer: Sealer) {
    this.#units = new ImmediateUnits(db);
    this.#deadlines = new DeadlineRepo(db);
    this.#sealing = new TaskSealing(sealer);
    const p = <P extends unknown[]>(sql: string) => db.prepare<P, Row>(forSqlite(sql));
    const q = TASK_SQL;
    this.#s = {
      insert: p<unknown[]>(q.insert),
      seal: p<[string, number]>(q.seal),
      sealed: p<[number]>(q.sealed),
      get: p<[number]>(q.get),
      byKey: p<[string, string]>(q.byKey),
      ofDevice: p<[string, number, number]>(q.ofDevice),
      nextOpen: p<[string]>(q.nextOpen),
      openDevices: p<[]>(q.openDevices),
      hasOpen: p<[string]>(q.hasOpen),
      send: p<[number, number]>(q.send),
      requeue: p<[number]>(q.requeue),
      finish: p<unknown[]>(q.finish),
      setResult: p<[string, number]>(q.setResult),
      transfer: p<[string, number, number]>(q.transfer),
      counts: p<[]>(q.counts),
      purge: p<[number, number]>(q.purge),
    };
  }

  queue(t: NewTask): Promise<QueueOutcome> {
    return this.#unit(() => {
      const existing = this.#byKey(t);
      if (existing) return reuseOutcome(existing, this.#sendable(existing), t.request);
      let row: Row | undefined;
      try {
        row = this.#s.insert.get(...insertColumns(t));
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return { kind: 'unknown-device' };
        throw err;
      }
      const task = taskOf(row!);
      const sealed = this.#sealing.sealed(task, t.request);
      if (sealed) this.#s.seal.run(sealed, task.id);
      this.#deadlines.put({ kind: TASK_EXPIRY, key: String(task.id), dueAt: task.expiresAt });
      return { kind: 'created', task };
    });
  }

  async get(id: number): Promise<Task | undefined> {
    return this.#get(id);
  }

  async sendable(t: Task): Promise<TaskRequest> {
    return this.#sendable(t);
  }

  async ofDevice(deviceId: string, before: number, limit: number): Promise<Task[]> {
    return this.#s.ofDevice.all(deviceId, before, limit).map(taskOf);
  }

  async hasOpen(deviceId: string): Promise<boolean> {
    return this.#s.hasOpen.get(deviceId) !== undefined;
  }

  async devicesWithOpenTasks(): Promise<string[]> {
    return this.#s.openDevices.all().map((r) => r['device_id'] as string);
  }

  next(deviceId: string, now: number, maxAttempts: number): Promise<{ sent: Task | undefined; moved: Moved[] }> {
    return this.#unit(() => {
      const moved: Moved[] = [];
      for (;;) {
        const r = this.#s.nextOpen.get(deviceId);
        if (!r) return { sent: undefined, moved };
        const head = taskOf(r);
        switch (headStep(head, now, maxAttempts)) {
          case 'send':
            return { sent: taskOf(this.#s.send.get(now, head.id)!), moved };
          case 'requeue':
            moved.push({ kind: 'requeued', task: taskOf(this.#s.requeue.get(head.id)!) });
            break;
          case 'fault':
            moved.push({ kind: 'finished', task: this.#finish(head.id, 'sent', 'fault', now, null, lostFault(head))! });
            break;
          case 'expire':
            moved.push({ kind: 'finished', task: this.#finish(head.id, 'queued', 'expired', now, null, null)! });
            break;
        }
      }
    });
  }

  requeue(id: number, now: number, maxAttempts: number): Promise<Moved | undefined> {
    return this.#unit(() => {
      const t = this.#get(id);
      if (t?.status !== 'sent') return undefined;
      if (lostStep(t, maxAttempts) === 'fault') return { kind: 'finished', task: this.#finish(id, 'sent', 'fault', now, null, lostFault(t))! };
      return { kind: 'requeued', task: taskOf(this.#s.requeue.get(id)!) };
    });
  }

  finish(id: number, from: TaskStatus, to: TaskStatus, at: number, result: unknown, fault: TaskFault | null): Promise<Task | undefined> {
    return this.#unit(() => this.#finish(id, from, to, at, result, fault));
  }

  async setResult(id: number, result: unknown): Promise<Task | undefined> {
    const r = this.#s.setResult.get(resultColumn(result), id);
    return r && taskOf(r);
  }

  awaitTransfer(id: number, result: unknown, until: number): Promise<Task | undefined> {
    return this.#unit(() => {
      const r = this.#s.transfer.get(resultColumn(result), until, id);
      if (!r) return undefined;
      this.#deadlines.put({ kind: TASK_EXPIRY, key: String(id), dueAt: until });
      return taskOf(r);
    });
  }

  async purgeFinished(before: number, limit: number): Promise<number> {
    return this.#s.purge.run(before, limit).changes;
  }

  async countsByStatus(): Promise<Record<string, number>> {
    return Object.fromEntries(this.#s.counts.all().map((r) => [r['status'] as string, r['n'] as number]));
  }

  #get(id: number): Task | undefined {
    const r = this.#s.get.get(id);
    return r && taskOf(r);
  }

  #byKey(t: NewTask): Task | undefined {
    const r = t.idempotencyKey === null ? undefined : this.#s.byKey.get(t.deviceId, t.idempotencyKey);
    return r && taskOf(r);
  }

  #sendable(t: Task): TaskRequest {
    return this.#sealing.open(t, this.#s.sealed.get(t.id)?.['request_sealed'] as string | null | undefined);
  }

  #finish(id: number, from: TaskStatus, to: TaskStatus, at: number, result: unknown, fault: TaskFault | null): Task | undefined {
    const r = this.#s.finish.get(...finishColumns(to, at, result, fault, id, from));
    if (!r) return undefined;
    this.#deadlines.delete(TASK_EXPIRY, String(id));
    return taskOf(r);
  }

  #unit<R>(work: () => R): Promise<R> {
    return this.#units.run(work);
  }
}
