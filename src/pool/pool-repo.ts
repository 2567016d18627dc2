import type { AuditEvent, Binding, OutboxRow, PoolEntry } from './pool-records.js';
import type { BindInput, BindOutcome, PoolRules } from './pool-rules.js';

/**
 * The pool's store, one method per unit of work: each runs in one transaction, reads what its rule in
 * pool-rules.ts needs, and writes what the rule says, so limits and the CAS outbox order hold under any
 * concurrency on either engine. When an entry is due is its `recycle_at` (no deadline row of its own): the
 * service asks `nextRecycleAt` and sweeps with `recycleDue`, at start too, so a crash loses no recycling.
 */
export interface PoolRepo {
  /** Seed 000 steps 1–4. @throws PoolError */
  bind(input: BindInput, rules: PoolRules): Promise<BindOutcome>;
  /** The CAS registered the device. */
  registered(account: string, deviceId: string, certificateId: string, key: string, now: number): Promise<void>;
  /** The CAS did not; `unknownOutcome` queues a withdrawal of whatever it may have registered. */
  registrationFailed(account: string, deviceId: string, key: string, unknownOutcome: boolean, message: string, now: number): Promise<void>;
  /** At start: registrations a crash left without an answer, undone and queued for withdrawal. */
  abandonInterrupted(now: number): Promise<OutboxRow[]>;
  /** Steps 5–6. @throws PoolError */
  unbind(account: string, deviceId: string, now: number, rules: PoolRules): Promise<{ recycleAt: number }>;
  /**
   * Step 7 for up to `limit` entries whose buffer time has passed, oldest first: each one's CAS
   * deregistration queued, once in a whole cluster. `more`: there may be more due (call again).
   */
  recycleDue(now: number, limit: number): Promise<{ queued: PoolEntry[]; more: boolean }>;
  /** The earliest `recycle_at` of the entries still pooled (null: none). */
  nextRecycleAt(): Promise<number | null>;

  /** The oldest row of each device whose turn has come: one call per device at a time, in order. */
  dueOutbox(now: number, limit: number): Promise<OutboxRow[]>;
  nextOutboxAt(): Promise<number | null>;
  /** A CAS deregistration failed: retried at `nextAttemptAt`. */
  outboxFailed(row: OutboxRow, attempts: number, nextAttemptAt: number, error: string): Promise<void>;
  /** The CAS confirmed a deregistration; returns the pool entry it recycled, if it was one. */
  outboxDone(row: OutboxRow, now: number): Promise<PoolEntry | undefined>;

  bindingsOf(account: string): Promise<Binding[]>;
  list(account: string | undefined, after: string, limit: number): Promise<PoolEntry[]>;
  history(deviceId: string | undefined, limit: number): Promise<AuditEvent[]>;
  countEntries(): Promise<number>;
  countDeregistering(): Promise<number>;
}
