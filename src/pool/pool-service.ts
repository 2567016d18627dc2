import { randomBytes } from 'node:crypto';
import { type Cas, CasError } from '../cas/cas.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { Scheduler } from '../timer/scheduler.js';
import { CasOutbox } from './cas-outbox.js';
import type { PoolMetrics } from './pool-metrics.js';
import type { AuditEvent, Binding, PoolEntry } from './pool-records.js';
import type { PoolRepo } from './pool-repo.js';
import { PoolError, type PoolRules, RECYCLE } from './pool-rules.js';

export { PoolError, type PoolErrorCode, type PoolRules } from './pool-rules.js';

export interface PoolDeps {
  readonly repo: PoolRepo;
  readonly cas: Cas;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: PoolMetrics;
  /** Called once a device is recycled (its CAS certificate deregistered): its certificates must stop being served. */
  readonly onRecycled?: (deviceId: string) => void;
}

/**
 * Binding devices to accounts through the recycling pool (seed 000). Every check and the write it allows
 * happen in one unit of work of the store (the rules are in pool-rules.ts), so limits hold under any concurrency. The CAS is only called for devices
 * not in the pool (registration) and when a pool entry's buffer time has passed (deregistration); both
 * calls are recorded in the outbox, in the transaction of the state change, with an idempotency key.
 */
export class PoolService {
  readonly #outbox: CasOutbox;
  /** Registrations in flight, so that a repeated bind waits for the first rather than registering twice. */
  readonly #registering = new Map<string, Promise<'registered'>>();

  constructor(
    private readonly deps: PoolDeps,
    private readonly rules: PoolRules,
  ) {
    this.#outbox = new CasOutbox(deps);
    deps.scheduler.handle(RECYCLE, (deviceId) => this.#recycleDue(deviceId));
  }

  /**
   * Settles registrations a crash left without an answer (the caller never heard back: the binding is
   * undone and whatever the CAS may have registered is deregistered), then resumes the outbox.
   * Overdue recycling is the scheduler's: its deadlines fire at start.
   */
  async start(): Promise<void> {
    for (const row of await this.deps.repo.abandonInterrupted(this.deps.clock.now())) {
      this.deps.log.warn({ device: row.deviceId }, 'registration interrupted by a restart: binding undone, CAS registration being withdrawn');
    }
    this.#outbox.kick();
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.#registering.values());
    await this.#outbox.stop();
  }

  /** Seed 000 steps 1–4: binds `deviceId` to `account`. Idempotent for the same pair. */
  async bind(account: string, deviceId: string): Promise<'confirmed' | 'registered'> {
    try {
      const result = await this.#bind(account, deviceId);
      this.deps.metrics.binds.inc({ result });
      return result;
    } catch (err) {
      if (err instanceof PoolError) this.deps.metrics.binds.inc({ result: err.code });
      throw err;
    }
  }

  async #bind(account: string, deviceId: string): Promise<'confirmed' | 'registered'> {
    const { repo, clock, scheduler, log } = this.deps;
    const now = clock.now();
    const plan = await repo.bind({ account, deviceId, now, key: `register:${deviceId}:${now}:${randomBytes(4).toString('hex')}` }, this.rules);
    if (plan.kind === 'done') {
      if (plan.fromPool) {
        scheduler.removed(RECYCLE, deviceId);
        log.info({ device: deviceId, account }, 'device bound from the pool');
      }
      return plan.result;
    }
    if (plan.kind === 'wait') {
      const inFlight = this.#registering.get(deviceId);
      if (!inFlight) throw new PoolError('cas-unavailable', `device ${JSON.stringify(deviceId)} is being registered; try again`);
      return inFlight;
    }
    const registration = this.#register(account, deviceId, plan.key);
    this.#registering.set(deviceId, registration);
    try {
      return await registration;
    } finally {
      this.#registering.delete(deviceId);
    }
  }

  async #register(account: string, deviceId: string, key: string): Promise<'registered'> {
    const { repo, cas, clock, log, metrics } = this.deps;
    const stopTimer = metrics.casDuration.startTimer({ op: 'register' });
    let certificateId: string;
    try {
      certificateId = (await cas.register(deviceId, key)).certificateId;
      stopTimer();
    } catch (err) {
      stopTimer();
      metrics.casErrors.inc({ op: 'register' });
      const message = err instanceof Error ? err.message : String(err);
      // A refusal registered nothing; anything else may have: withdraw it through the outbox.
      const unknownOutcome = !(err instanceof CasError) || err.retryable;
      await repo.registrationFailed(account, deviceId, key, unknownOutcome, message, clock.now());
      if (unknownOutcome) this.#outbox.kick();
      log.warn({ device: deviceId, account, err: message }, 'bind refused: the CAS did not register the device');
      throw new PoolError('cas-unavailable', `the CAS did not register device ${JSON.stringify(deviceId)}: ${message}`);
    }
    try {
      await repo.registered(account, deviceId, certificateId, key, clock.now());
    } catch (err) {
      // The CAS registered it but the store did not take the answer (PostgreSQL away, say): withdraw the
      // registration as one of unknown outcome. Should the store still be away, the start after the next
      // restart settles it (abandonInterrupted).
      const message = err instanceof Error ? err.message : String(err);
      log.error({ device: deviceId, account, err: message }, 'bind failed: the store did not record the CAS registration; withdrawing it');
      await repo.registrationFailed(account, deviceId, key, true, `the store failed: ${message}`, clock.now()).catch(() => undefined);
      this.#outbox.kick();
      throw new PoolError('cas-unavailable', `device ${JSON.stringify(deviceId)} was registered by the CAS but the store failed; try again`);
    }
    log.info({ device: deviceId, account, certificateId }, 'device bound after CAS registration');
    return 'registered';
  }

  /** Seed 000 steps 5–6: unbinds and parks the device in the pool until its recycle time. */
  async unbind(account: string, deviceId: string): Promise<{ recycleAt: number }> {
    const { repo, clock, scheduler, log, metrics } = this.deps;
    try {
      const { recycleAt } = await repo.unbind(account, deviceId, clock.now(), this.rules);
      scheduler.stored(RECYCLE, deviceId, recycleAt);
      metrics.unbinds.inc({ result: 'unbound' });
      log.info({ device: deviceId, account, recycleAt: new Date(recycleAt).toISOString() }, 'device unbound into the pool');
      return { recycleAt };
    } catch (err) {
      if (err instanceof PoolError) metrics.unbinds.inc({ result: err.code });
      throw err;
    }
  }

  /** Seed 000 step 7: the buffer time passed; queue the CAS deregistration (the entry goes once it is confirmed). */
  async #recycleDue(deviceId: string): Promise<void> {
    const { repo, clock, scheduler, log } = this.deps;
    const outcome = await repo.startRecycling(deviceId, clock.now());
    if (outcome.kind === 'later') return scheduler.stored(RECYCLE, deviceId, outcome.at);
    if (outcome.kind === 'none') return;
    log.info({ device: deviceId, account: outcome.entry.account }, 'pool entry due: CAS deregistration queued');
    this.#outbox.kick();
  }

  bindingsOf(account: string): Promise<Binding[]> {
    return this.deps.repo.bindingsOf(account);
  }

  list(account: string | undefined, after: string, limit: number): Promise<PoolEntry[]> {
    return this.deps.repo.list(account, after, limit);
  }

  history(deviceId: string | undefined, limit: number): Promise<AuditEvent[]> {
    return this.deps.repo.history(deviceId, limit);
  }
}
