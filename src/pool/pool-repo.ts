import type { AuditEvent, Binding, OutboxRow, PoolEntry } from './pool-records.js';
import type { BindInput, BindOutcome, PoolRules, RecycleOutcome } from './pool-rules.js';

/**
 * The pool's store, one method per unit of work: each runs in one transaction, reads what its rule in
 * pool-rules.ts needs, and writes what the rule says (durable recycling deadlines included), so limits and
 * the CAS outbox order hold under any concurrency on either engine. The caller arms in-memory timers
 * after a method returns; a crash in between is repaired by the scheduler reloading deadlines at start.
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
  /** Step 7: the buffer time of the device's entry passed (or so its deadline says). */
  startRecycling(deviceId: string, now: number): Promise<RecycleOutcome>;

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
