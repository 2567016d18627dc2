import type { Clock } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { Scheduler } from '../timer/scheduler.js';
import type { TimerHandle } from '../timer/wheel.js';
import { FINISHED, type Task, type TaskFault, type TaskOrigin, type TaskRequest, type TaskStatus } from './task.js';
import { type Moved, TASK_EXPIRY, type TaskRepo } from './task-repo.js';

export class TaskError extends Error {
  constructor(
    readonly code: 'unknown-device' | 'not-found' | 'idempotency-conflict' | 'not-cancellable',
    message: string,
  ) {
    super(message);
    this.name = 'TaskError';
  }
}

export interface QueueOptions {
  readonly origin?: TaskOrigin;
  /** Origin 'profile': the profiles whose work the task carries. */
  readonly profiles?: readonly string[];
  readonly idempotencyKey?: string;
  /** Overrides the default expiry. */
  readonly expiresInMs?: number;
}

/** Told after the change is committed; a returned promise is awaited (a failure is logged, the change stands). */
export interface TaskListener {
  /** A task was queued for `deviceId` (a connection request may be due). */
  queued?(task: Task): void | Promise<void>;
  finished?(task: Task): void | Promise<void>;
  /** A done Download's TransferComplete came without a fault (with one, the task is `finished` as a fault). */
  transferred?(task: Task): void | Promise<void>;
}

/** A session lost before the CPE answered sends the RPC again in the next one, this many times in all. */
export const MAX_ATTEMPTS = 3;

export interface TaskQueueDeps {
  readonly repo: TaskRepo;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  readonly defaultExpiryMs: number;
  /** Finished tasks are deleted this long after they finished. */
  readonly retentionMs: number;
}

const PURGE_EVERY_MS = 3_600_000;
const PURGE_CHUNK = 1000;

/**
 * The durable per-device FIFO of CWMP work. The store holds every task and its state and applies the state
 * machine (queued → sent → done | fault; queued → expired | cancelled) in its units of work; this class
 * tells the scheduler about expiry deadlines the store wrote, tells listeners, and wakes long-polls.
 */
export class TaskQueue {
  readonly #d: TaskQueueDeps;
  readonly #listeners: TaskListener[] = [];
  readonly #waiters = new Map<number, Set<(t: Task | undefined) => void>>();
  #purgeTimer: TimerHandle | undefined;

  constructor(deps: TaskQueueDeps) {
    this.#d = deps;
    deps.scheduler.handle(TASK_EXPIRY, (key) => this.#expire(Number(key)));
  }

  subscribe(listener: TaskListener): void {
    this.#listeners.push(listener);
  }

  /**
   * Queues a task. With an idempotency key the device already used: the same request gives the existing
   * task (`created: false`); another request is a conflict. Keys are per device.
   * @throws TaskError unknown-device | idempotency-conflict
   */
  async queue(deviceId: string, request: TaskRequest, opts: QueueOptions = {}): Promise<{ task: Task; created: boolean }> {
    const { repo, clock, scheduler, log } = this.#d;
    const now = clock.now();
    const key = opts.idempotencyKey ?? null;
    const outcome = await repo.queue({ deviceId, request, origin: opts.origin ?? 'api', idempotencyKey: key, createdAt: now, expiresAt: now + (opts.expiresInMs ?? this.#d.defaultExpiryMs), ...(opts.profiles ? { profiles: opts.profiles } : {}) });
    switch (outcome.kind) {
      case 'unknown-device':
        // The store's own check (the device's foreign key), in the unit of work: no read before it.
        throw new TaskError('unknown-device', `device ${JSON.stringify(deviceId)} is not registered`);
      case 'conflict':
        throw new TaskError('idempotency-conflict', `idempotency key ${JSON.stringify(key)} was used for task ${outcome.existing.id}, a different request`);
      case 'existing':
        return { task: outcome.task, created: false };
      case 'created': {
        const task = outcome.task;
        scheduler.stored(TASK_EXPIRY, String(task.id), task.expiresAt);
        log.info({ task: task.id, device: deviceId, kind: request.kind, origin: task.origin }, 'task queued');
        await this.#tell((l) => l.queued?.(task), task);
        return { task, created: true };
      }
    }
  }

  get(id: number): Promise<Task | undefined> {
    return this.#d.repo.get(id);
  }

  /** A task's request with its secrets (tasks show them masked): for the RPC on the wire, never to be shown. */
  sendable(task: Task): Promise<TaskRequest> {
    return this.#d.repo.sendable(task);
  }

  ofDevice(deviceId: string, before = Number.MAX_SAFE_INTEGER, limit = 100): Promise<Task[]> {
    return this.#d.repo.ofDevice(deviceId, before, limit);
  }

  hasOpen(deviceId: string): Promise<boolean> {
    return this.#d.repo.hasOpen(deviceId);
  }

  devicesWithOpenTasks(): Promise<string[]> {
    return this.#d.repo.devicesWithOpenTasks();
  }

  /** Cancels a queued task. @throws TaskError not-found | not-cancellable */
  async cancel(id: number): Promise<Task> {
    const done = await this.#finish(id, 'queued', 'cancelled', null, null);
    if (done) return done;
    const t = await this.#d.repo.get(id);
    if (!t) throw new TaskError('not-found', `no task ${id}`);
    throw new TaskError('not-cancellable', `task ${id} is ${t.status}: only a queued task can be cancelled`);
  }

  /**
   * The next RPC for a device in session: its oldest open task, marked sent. Expired tasks met on the way
   * are closed. A task found `sent` is one whose session was lost by a stopped daemon: it goes out again.
   */
  async next(deviceId: string): Promise<Task | undefined> {
    const { sent, moved } = await this.#d.repo.next(deviceId, this.#d.clock.now(), MAX_ATTEMPTS);
    for (const m of moved) await this.#moved(m);
    return sent;
  }

  /** The CPE answered the RPC. */
  complete(task: Task, result: unknown): Promise<Task | undefined> {
    return this.#finish(task.id, 'sent', 'done', result, null);
  }

  /** The CPE answered with a fault (or a wrong answer). */
  fail(task: Task, fault: TaskFault, result: unknown = null): Promise<Task | undefined> {
    return this.#finish(task.id, 'sent', 'fault', result, fault);
  }

  /**
   * Adds to a done task's result what the CPE reported later (a TransferComplete after a DownloadResponse);
   * with a fault the task turns into a fault.
   */
  async amend(id: number, result: unknown, fault: TaskFault | null): Promise<Task | undefined> {
    if (fault) return this.#finish(id, 'done', 'fault', result, fault);
    const t = await this.#d.repo.setResult(id, result);
    if (t) await this.#tell((l) => l.transferred?.(t), t);
    return t;
  }

  /**
   * The CPE accepted a transfer it completes later (an Upload): the task leaves the FIFO as `transferring`
   * until `finishTransfer`, or a fault at `until`.
   */
  async awaitTransfer(task: Task, result: unknown, until: number): Promise<Task | undefined> {
    const t = await this.#d.repo.awaitTransfer(task.id, result, until);
    if (t) {
      this.#d.scheduler.stored(TASK_EXPIRY, String(t.id), until);
      this.#d.log.info({ task: t.id, device: t.deviceId, kind: t.request.kind, until: new Date(until).toISOString() }, 'task waits for its transfer');
    }
    return t;
  }

  /** A transferring task's transfer is over: done with `result`, or a fault. Undefined when it was not transferring. */
  finishTransfer(id: number, result: unknown, fault: TaskFault | null): Promise<Task | undefined> {
    return this.#finish(id, 'transferring', fault ? 'fault' : 'done', result, fault);
  }

  /** The session carrying `task` ended before the answer: back to the head of the FIFO, or a fault after MAX_ATTEMPTS. */
  async requeue(task: Task): Promise<Task | undefined> {
    const m = await this.#d.repo.requeue(task.id, this.#d.clock.now(), MAX_ATTEMPTS);
    if (m) await this.#moved(m);
    return m?.task;
  }

  /** Another node of the cluster finished task `id`: whoever waits for it here gets it (read from the store). */
  async finishedElsewhere(id: number): Promise<void> {
    const waiters = this.#waiters.get(id);
    if (!waiters) return;
    const t = await this.#d.repo.get(id);
    if (t && FINISHED.has(t.status)) for (const w of [...waiters]) w(t);
  }

  /**
   * Resolves with the task once it is finished, or as it is after `ms` (long-poll). Undefined if unknown.
   */
  async wait(id: number, ms: number): Promise<Task | undefined> {
    const { repo, scheduler, clock } = this.#d;
    if (ms <= 0) return repo.get(id);
    // Waiting before reading: a finish between the read and the wait is not missed.
    let last: Task | undefined;
    let handle: TimerHandle | undefined;
    const waiters = this.#waiters.get(id) ?? new Set();
    this.#waiters.set(id, waiters);
    const finished = new Promise<Task | undefined>((resolve) => {
      const done = (task: Task | undefined) => {
        if (handle !== undefined) scheduler.cancel(handle);
        handle = undefined;
        waiters.delete(done);
        if (waiters.size === 0 && this.#waiters.get(id) === waiters) this.#waiters.delete(id);
        resolve(task);
      };
      waiters.add(done);
      handle = scheduler.at(clock.now() + ms, () => {
        handle = undefined;
        repo.get(id).then(
          (t) => done(t ?? last),
          () => done(last),
        );
      });
      repo.get(id).then(
        (t) => {
          last = t;
          if (!t || FINISHED.has(t.status)) done(t);
        },
        () => done(undefined),
      );
    });
    return finished;
  }

  /** Purges finished tasks older than the retention now and every hour (in chunks: no long write lock). */
  async startRetention(): Promise<void> {
    const { repo, clock, scheduler, log } = this.#d;
    try {
      let purged = 0;
      for (let n = PURGE_CHUNK; n === PURGE_CHUNK; purged += n) n = await repo.purgeFinished(clock.now() - this.#d.retentionMs, PURGE_CHUNK);
      if (purged > 0) log.info({ purged }, 'finished tasks past their retention deleted');
    } catch (err) {
      log.error({ err }, 'purging finished tasks failed; tried again in an hour');
    }
    this.#purgeTimer = scheduler.at(clock.now() + PURGE_EVERY_MS, () => void this.startRetention());
  }

  stopRetention(): void {
    if (this.#purgeTimer !== undefined) this.#d.scheduler.cancel(this.#purgeTimer);
    this.#purgeTimer = undefined;
  }

  /** Ends every long-poll now (shutdown): each gets the task as it is. */
  async releaseWaiters(): Promise<void> {
    await Promise.all(
      [...this.#waiters].map(async ([id, waiters]) => {
        const t = await this.#d.repo.get(id).catch(() => undefined);
        for (const w of [...waiters]) w(t);
      }),
    );
  }

  async #expire(id: number): Promise<void> {
    if (await this.#finish(id, 'queued', 'expired', null, null)) return;
    const t = await this.#d.repo.get(id);
    if (t?.status !== 'transferring' || t.expiresAt > this.#d.clock.now()) return;
    const fault = { code: 0, message: `the transfer did not complete by ${new Date(t.expiresAt).toISOString()}: no file or no TransferComplete from the CPE` };
    await this.#finish(id, 'transferring', 'fault', t.result, fault);
  }

  async #finish(id: number, from: TaskStatus, to: TaskStatus, result: unknown, fault: TaskFault | null): Promise<Task | undefined> {
    const t = await this.#d.repo.finish(id, from, to, this.#d.clock.now(), result, fault);
    if (t) await this.#finished(t);
    return t;
  }

  async #moved(m: Moved): Promise<void> {
    const t = m.task;
    if (m.kind === 'finished') return this.#finished(t);
    this.#d.log.warn({ task: t.id, device: t.deviceId, attempts: t.attempts }, 'session lost before the answer; task queued again');
  }

  /** After the store finished `t` (and deleted its expiry deadline). */
  async #finished(t: Task): Promise<void> {
    this.#d.scheduler.removed(TASK_EXPIRY, String(t.id));
    this.#d.log.info({ task: t.id, device: t.deviceId, kind: t.request.kind, status: t.status, ...(t.fault ? { fault: t.fault } : {}) }, 'task finished');
    for (const w of [...(this.#waiters.get(t.id) ?? [])]) w(t);
    await this.#tell((l) => l.finished?.(t), t);
  }

  async #tell(call: (l: TaskListener) => void | Promise<void>, t: Task): Promise<void> {
    for (const l of this.#listeners) {
      try {
        await call(l);
      } catch (err) {
        this.#d.log.error({ err, task: t.id, device: t.deviceId }, 'a task listener failed');
      }
    }
  }
}
