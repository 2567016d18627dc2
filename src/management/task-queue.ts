import { isDeepStrictEqual } from 'node:util';
import type { Clock } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { Scheduler } from '../timer/scheduler.js';
import type { TimerHandle } from '../timer/wheel.js';
import { FINISHED, type Task, type TaskFault, type TaskOrigin, type TaskRequest } from './task.js';
import type { TaskRepo } from './task-repo.js';

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
  readonly idempotencyKey?: string;
  /** Overrides the default expiry. */
  readonly expiresInMs?: number;
}

export interface TaskListener {
  /** A task was queued for `deviceId` (a connection request may be due). */
  queued?(task: Task): void;
  finished?(task: Task): void;
}

/** A session lost before the CPE answered sends the RPC again in the next one, this many times in all. */
export const MAX_ATTEMPTS = 3;
const EXPIRY = 'task-expiry';

export interface TaskQueueDeps {
  readonly repo: TaskRepo;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  readonly deviceExists: (id: string) => boolean;
  readonly defaultExpiryMs: number;
  /** Finished tasks are deleted this long after they finished. */
  readonly retentionMs: number;
}

const PURGE_EVERY_MS = 3_600_000;
const PURGE_CHUNK = 1000;

/**
 * The durable per-device FIFO of CWMP work. SQLite holds every task and its state; this class enforces
 * the state machine (queued → sent → done | fault; queued → expired | cancelled) and wakes long-polls.
 */
export class TaskQueue {
  readonly #d: TaskQueueDeps;
  readonly #listeners: TaskListener[] = [];
  readonly #waiters = new Map<number, Set<(t: Task) => void>>();
  #purgeTimer: TimerHandle | undefined;

  constructor(deps: TaskQueueDeps) {
    this.#d = deps;
    deps.scheduler.handle(EXPIRY, (key) => this.#expire(Number(key)));
  }

  subscribe(listener: TaskListener): void {
    this.#listeners.push(listener);
  }

  /**
   * Queues a task. With an idempotency key the device already used: the same request gives the existing
   * task (`created: false`); another request is a conflict. Keys are per device.
   */
  queue(deviceId: string, request: TaskRequest, opts: QueueOptions = {}): { task: Task; created: boolean } {
    const { repo, clock, scheduler } = this.#d;
    if (!this.#d.deviceExists(deviceId)) throw new TaskError('unknown-device', `device ${JSON.stringify(deviceId)} is not registered`);
    const key = opts.idempotencyKey ?? null;
    const outcome = repo.db.transaction(() => {
      const existing = key === null ? undefined : repo.byIdempotencyKey(deviceId, key);
      if (existing) {
        if (!isDeepStrictEqual(repo.sendable(existing), request)) {
          throw new TaskError('idempotency-conflict', `idempotency key ${JSON.stringify(key)} was used for task ${existing.id}, a different request`);
        }
        return { task: existing, created: false };
      }
      const now = clock.now();
      const task = repo.insert({ deviceId, request, origin: opts.origin ?? 'api', idempotencyKey: key, createdAt: now, expiresAt: now + (opts.expiresInMs ?? this.#d.defaultExpiryMs) });
      scheduler.set(EXPIRY, String(task.id), task.expiresAt);
      return { task, created: true };
    })();
    if (outcome.created) {
      this.#d.log.info({ task: outcome.task.id, device: deviceId, kind: request.kind, origin: outcome.task.origin }, 'task queued');
      for (const l of this.#listeners) l.queued?.(outcome.task);
    }
    return outcome;
  }

  get(id: number): Task | undefined {
    return this.#d.repo.get(id);
  }

  /** A task's request with its secrets (tasks show them masked): for the RPC on the wire, never to be shown. */
  sendable(task: Task): TaskRequest {
    return this.#d.repo.sendable(task);
  }

  ofDevice(deviceId: string, before = Number.MAX_SAFE_INTEGER, limit = 100): Task[] {
    return this.#d.repo.ofDevice(deviceId, before, limit);
  }

  hasOpen(deviceId: string): boolean {
    return this.#d.repo.hasOpen(deviceId);
  }

  devicesWithOpenTasks(): string[] {
    return this.#d.repo.devicesWithOpenTasks();
  }

  /** Cancels a queued task. @throws TaskError not-found | not-cancellable */
  cancel(id: number): Task {
    const done = this.#finish(id, 'queued', 'cancelled', null, null);
    if (done) return done;
    const t = this.#d.repo.get(id);
    if (!t) throw new TaskError('not-found', `no task ${id}`);
    throw new TaskError('not-cancellable', `task ${id} is ${t.status}: only a queued task can be cancelled`);
  }

  /**
   * The next RPC for a device in session: its oldest open task, marked sent. Expired tasks met on the way
   * are closed. A task found `sent` is one whose session was lost by a stopped daemon: it goes out again.
   */
  next(deviceId: string): Task | undefined {
    const { repo, clock } = this.#d;
    for (;;) {
      let head = repo.nextOpen(deviceId);
      if (!head) return undefined;
      if (head.status === 'sent') {
        const again = this.requeue(head);
        if (!again) return undefined;
        if (again.status !== 'queued') continue;
        head = again;
      }
      if (head.expiresAt <= clock.now()) {
        this.#finish(head.id, 'queued', 'expired', null, null);
        continue;
      }
      const sent = repo.markSent(head.id, clock.now());
      if (sent) return sent;
    }
  }

  /** The CPE answered the RPC. */
  complete(task: Task, result: unknown): Task | undefined {
    return this.#finish(task.id, 'sent', 'done', result, null);
  }

  /** The CPE answered with a fault (or a wrong answer). */
  fail(task: Task, fault: TaskFault, result: unknown = null): Task | undefined {
    return this.#finish(task.id, 'sent', 'fault', result, fault);
  }

  /**
   * Adds to a done task's result what the CPE reported later (a TransferComplete after a DownloadResponse);
   * with a fault the task turns into a fault.
   */
  amend(id: number, result: unknown, fault: TaskFault | null): Task | undefined {
    return fault ? this.#finish(id, 'done', 'fault', result, fault) : this.#d.repo.setResult(id, result);
  }

  /** The session carrying `task` ended before the answer: back to the head of the FIFO, or a fault after MAX_ATTEMPTS. */
  requeue(task: Task): Task | undefined {
    if (task.attempts >= MAX_ATTEMPTS) {
      return this.#finish(task.id, 'sent', 'fault', null, { code: 0, message: `the CPE did not answer in ${task.attempts} sessions` });
    }
    const t = this.#d.repo.requeue(task.id);
    if (t) this.#d.log.warn({ task: t.id, device: t.deviceId, attempts: t.attempts }, 'session lost before the answer; task queued again');
    return t;
  }

  /**
   * Resolves with the task once it is finished, or as it is after `ms` (long-poll). Undefined if unknown.
   */
  wait(id: number, ms: number): Promise<Task | undefined> {
    const t = this.#d.repo.get(id);
    if (!t || FINISHED.has(t.status) || ms <= 0) return Promise.resolve(t);
    return new Promise((resolve) => {
      let handle: TimerHandle | undefined;
      const waiters = this.#waiters.get(id) ?? new Set();
      this.#waiters.set(id, waiters);
      const done = (task: Task) => {
        if (handle !== undefined) this.#d.scheduler.cancel(handle);
        waiters.delete(done);
        if (waiters.size === 0) this.#waiters.delete(id);
        resolve(task);
      };
      waiters.add(done);
      handle = this.#d.scheduler.at(this.#d.clock.now() + ms, () => {
        handle = undefined;
        done(this.#d.repo.get(id) ?? t);
      });
    });
  }

  /** Purges finished tasks older than the retention now and every hour (in chunks: no long write lock). */
  startRetention(): void {
    const { repo, clock, scheduler, log } = this.#d;
    let purged = 0;
    for (let n = PURGE_CHUNK; n === PURGE_CHUNK; purged += n) n = repo.purgeFinished(clock.now() - this.#d.retentionMs, PURGE_CHUNK);
    if (purged > 0) log.info({ purged }, 'finished tasks past their retention deleted');
    this.#purgeTimer = scheduler.at(clock.now() + PURGE_EVERY_MS, () => this.startRetention());
  }

  stopRetention(): void {
    if (this.#purgeTimer !== undefined) this.#d.scheduler.cancel(this.#purgeTimer);
    this.#purgeTimer = undefined;
  }

  /** Ends every long-poll now (shutdown): each gets the task as it is. */
  releaseWaiters(): void {
    for (const [id, waiters] of this.#waiters) {
      const t = this.#d.repo.get(id);
      if (t) for (const w of [...waiters]) w(t);
    }
  }

  #expire(id: number): void {
    this.#finish(id, 'queued', 'expired', null, null);
  }

  #finish(id: number, from: Task['status'], to: Task['status'], result: unknown, fault: TaskFault | null): Task | undefined {
    const { repo, clock, scheduler, log } = this.#d;
    const t = repo.db.transaction(() => {
      const done = repo.finish(id, from, to, clock.now(), result, fault);
      if (done) scheduler.clear(EXPIRY, String(id));
      return done;
    })();
    if (!t) return undefined;
    log.info({ task: t.id, device: t.deviceId, kind: t.request.kind, status: t.status, ...(fault ? { fault } : {}) }, 'task finished');
    for (const w of [...(this.#waiters.get(id) ?? [])]) w(t);
    for (const l of this.#listeners) l.finished?.(t);
    return t;
  }
}
