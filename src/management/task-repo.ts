import type { Task, TaskFault, TaskOrigin, TaskRequest, TaskStatus } from './task.js';

export interface NewTask {
  readonly deviceId: string;
  /** With its secrets: stored masked, and sealed beside that for the RPC. */
  readonly request: TaskRequest;
  readonly origin: TaskOrigin;
  readonly idempotencyKey: string | null;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Origin 'profile': the profiles whose work it carries. */
  readonly profiles?: readonly string[];
}

export type QueueOutcome =
  | { readonly kind: 'created'; readonly task: Task }
  /** The device used the idempotency key already, for the same request. */
  | { readonly kind: 'existing'; readonly task: Task }
  /** The device used the idempotency key already, for another request. */
  | { readonly kind: 'conflict'; readonly existing: Task }
  /** The device is not (any more) registered. */
  | { readonly kind: 'unknown-device' };

/** A task a unit of work moved besides what it was asked for: back to the queue, or finished (expired, faulted). */
export type Moved = { readonly kind: 'requeued' | 'finished'; readonly task: Task };

/** The durable deadline each queued task has, written and deleted by the repo's units of work. */
export const TASK_EXPIRY = 'task-expiry';

/**
 * The task queue's store, one method per unit of work (task-rules.ts decides; both engines apply). A device's
 * tasks form a FIFO with at most one task sent at a time: the oldest open task is the only one ever sent.
 * State changes are guarded by the expected current status. A task's request is stored as it may be shown
 * (secrets masked) and, when that differs, sealed beside it for the RPC; results are stored as they may be shown.
 */
export interface TaskRepo {
  /**
   * Queues a task and writes its expiry deadline (TASK_EXPIRY), unless the device used the idempotency key
   * already (keys are per device): then the task of the key, or a conflict when its request differs.
   */
  queue(t: NewTask): Promise<QueueOutcome>;
  get(id: number): Promise<Task | undefined>;
  /** The request with its secrets: to send it to the CPE, or for stbd's own bookkeeping. Never to be shown. */
  sendable(t: Task): Promise<TaskRequest>;
  /** A device's tasks, newest first, with ids below `before`. */
  ofDevice(deviceId: string, before: number, limit: number): Promise<Task[]>;
  hasOpen(deviceId: string): Promise<boolean>;
  devicesWithOpenTasks(): Promise<string[]>;
  /**
   * The head of the device's FIFO marked sent. On the way, expired tasks are closed, and a head found sent
   * (its session lost by a stopped daemon) is sent again, or faulted after `maxAttempts` sessions.
   */
  next(deviceId: string, now: number, maxAttempts: number): Promise<{ readonly sent: Task | undefined; readonly moved: readonly Moved[] }>;
  /** The session carrying a sent task ended before the answer: queued again (at the head), or faulted after `maxAttempts`. */
  requeue(id: number, now: number, maxAttempts: number): Promise<Moved | undefined>;
  /** `from` → a finished status, its expiry deadline deleted; undefined when the task was not in `from` any more. */
  finish(id: number, from: TaskStatus, to: TaskStatus, at: number, result: unknown, fault: TaskFault | null): Promise<Task | undefined>;
  setResult(id: number, result: unknown): Promise<Task | undefined>;
  /**
   * sent → transferring (the CPE accepted a transfer it reports later), with `result` and a new expiry
   * deadline at `until`; undefined when the task was not sent any more.
   */
  awaitTransfer(id: number, result: unknown, until: number): Promise<Task | undefined>;
  /** Deletes up to `limit` tasks finished before `before`; returns how many. */
  purgeFinished(before: number, limit: number): Promise<number>;
  countsByStatus(): Promise<Record<string, number>>;
}
