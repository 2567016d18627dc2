import { isDeepStrictEqual } from 'node:util';
import type { Task, TaskFault, TaskRequest } from './task.js';
import type { QueueOutcome } from './task-repo.js';

/** A queue with an idempotency key the device used already: the same request gives the existing task, another is a conflict. */
export const reuseOutcome = (existing: Task, existingRequest: TaskRequest, request: TaskRequest): QueueOutcome =>
  isDeepStrictEqual(existingRequest, request) ? { kind: 'existing', task: existing } : { kind: 'conflict', existing };

/** What a session lost before the answer means for its task: another session, or a fault after `maxAttempts`. */
export const lostStep = (t: Task, maxAttempts: number): 'requeue' | 'fault' => (t.attempts >= maxAttempts ? 'fault' : 'requeue');

export const lostFault = (t: Task): TaskFault => ({ code: 0, message: `the CPE did not answer in ${t.attempts} sessions` });

/**
 * What to do with the head of a device's FIFO when the device asks for work. A head found sent is one whose
 * session was lost by a stopped daemon: it goes out again (or faults). An expired one is closed.
 */
export function headStep(head: Task, now: number, maxAttempts: number): 'send' | 'expire' | 'requeue' | 'fault' {
  if (head.status === 'sent') return lostStep(head, maxAttempts);
  return head.expiresAt <= now ? 'expire' : 'send';
}
