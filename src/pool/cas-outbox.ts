import type { Cas } from '../cas/cas.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { Scheduler } from '../timer/scheduler.js';
import type { TimerHandle } from '../timer/wheel.js';
import type { PoolMetrics } from './pool-metrics.js';
import type { OutboxRow } from './pool-records.js';
import type { PoolRepo } from './pool-repo.js';

const CONCURRENCY = 8;
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 10 * 60_000;

/** Exponential backoff with jitter (half to all of the step), so a recovering CAS is not hit all at once. */
export function backoffMs(attempts: number, random: () => number): number {
  const step = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempts - 1, 20));
  return Math.round(step * (0.5 + random() / 2));
}

/**
 * Sends the queued CAS deregistrations (recycling, and compensations for registrations whose outcome is
 * unknown). A row is deleted only after the CAS confirms, in the same transaction as the state change
 * it completes; failures are retried with backoff for as long as it takes. One call per device at a
 * time, in queue order; up to CONCURRENCY devices at once.
 */
export class CasOutbox {
  readonly #inFlight = new Set<string>();
  #running = false;
  #stopped = false;
  #wakeup: TimerHandle | undefined;
  #idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: { repo: PoolRepo; cas: Cas; clock: Clock; scheduler: Scheduler; log: Logger; metrics: PoolMetrics; random?: () => number; onRecycled?: (deviceId: string) => void },
  ) {}

  /** Looks for due work now (after a state change queued some). */
  kick(): void {
    if (this.#stopped || this.#running) return;
    this.#running = true;
    this.#idle = this.#pass()
      .catch((err: unknown) => {
        // The store failed (PostgreSQL away, say): nothing was lost; look again shortly.
        this.deps.log.error({ err: err instanceof Error ? err.message : String(err) }, 'CAS outbox: the store failed; trying again in a second');
        this.#wakeAt(this.deps.clock.now() + 1000);
      })
      .finally(() => {
        this.#running = false;
      });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#wakeup !== undefined) this.deps.scheduler.cancel(this.#wakeup);
    await this.#idle;
  }

  async #pass(): Promise<void> {
    const { repo, clock } = this.deps;
    const calls: Promise<void>[] = [];
    for (const row of await repo.dueOutbox(clock.now(), CONCURRENCY * 4)) {
      if (this.#inFlight.size >= CONCURRENCY) break;
      if (row.op !== 'deregister' || this.#inFlight.has(row.deviceId)) continue;
      this.#inFlight.add(row.deviceId);
      calls.push(this.#deregister(row).finally(() => this.#inFlight.delete(row.deviceId)));
    }
    await Promise.all(calls);
    if (this.#stopped) return;
    if (calls.length > 0) return void setImmediate(() => this.kick());
    await this.#armWakeup();
  }

  /** Sleeps until the next row is due (the scheduler's wheel covers the longest backoff). */
  async #armWakeup(): Promise<void> {
    const next = await this.deps.repo.nextOutboxAt();
    if (next === null) {
      if (this.#wakeup !== undefined) this.deps.scheduler.cancel(this.#wakeup);
      this.#wakeup = undefined;
      return;
    }
    this.#wakeAt(Math.min(Math.max(next, this.deps.clock.now()), this.deps.clock.now() + this.deps.scheduler.horizonMs - 1000));
  }

  #wakeAt(at: number): void {
    if (this.#stopped) return;
    if (this.#wakeup !== undefined) this.deps.scheduler.cancel(this.#wakeup);
    this.#wakeup = this.deps.scheduler.at(at, () => {
      this.#wakeup = undefined;
      this.kick();
    });
  }

  async #deregister(row: OutboxRow): Promise<void> {
    const { repo, cas, clock, log, metrics } = this.deps;
    const stopTimer = metrics.casDuration.startTimer({ op: 'deregister' });
    try {
      await cas.deregister(row.deviceId, row.certificateId, row.idempotencyKey);
      stopTimer();
    } catch (err) {
      stopTimer();
      metrics.casErrors.inc({ op: 'deregister' });
      const attempts = row.attempts + 1;
      const message = err instanceof Error ? err.message : String(err);
      const next = clock.now() + backoffMs(attempts, this.deps.random ?? Math.random);
      await repo.outboxFailed(row, attempts, next, message);
      log.warn({ device: row.deviceId, attempts, retryInMs: next - clock.now(), err: message }, 'CAS deregistration failed; will retry');
      return;
    }
    const recycled = await repo.outboxDone(row, clock.now());
    if (recycled) {
      metrics.recycled.inc();
      log.info({ device: row.deviceId, account: recycled.account }, 'pool entry recycled: CAS deregistration confirmed');
      this.deps.onRecycled?.(row.deviceId);
    }
  }
}
