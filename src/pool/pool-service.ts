import { randomBytes } from 'node:crypto';
import { type Cas, CasError } from '../cas/cas.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { Scheduler } from '../timer/scheduler.js';
import type { TimerHandle } from '../timer/wheel.js';
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
  /**
   * A cluster: the store is swept at least this often (entries other nodes pooled come due there too, and
   * one whose node died is recycled here). Undefined: one node, which pooled them all.
   */
  readonly recycleScanMs?: number;
  /** Gives the thread back between pages of a sweep (a backlog of thousands of due entries): the daemon's WorkSlices. */
  readonly pace?: { next(): Promise<void> };
}

/** Due entries recycled per unit of work of the sweep. */
const RECYCLE_PAGE = 500;
/** A sweep that failed, or found due entries it could not take (another node holds them), runs again this much later. */
const RECYCLE_RETRY_MS = 1000;

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
  /** The one timer of recycling: the next sweep, and when it is armed for. */
  #sweepTimer: { handle: TimerHandle; at: number } | undefined;
  #sweeping: Promise<void> | undefined;
  #sweepAgain = false;
  #stopped = false;

  constructor(
    private readonly deps: PoolDeps,
    private readonly rules: PoolRules,
  ) {
    this.#outbox = new CasOutbox(deps);
    // No deadline row is written per entry any more (migration 18 deleted those there were); a row of the
    // old kind that a node of an older version writes during an upgrade just brings the sweep forward.
    deps.scheduler.handle(RECYCLE, () => this.#sweep());
  }

  /**
   * Settles registrations a crash left without an answer (the caller never heard back: the binding is
   * undone and whatever the CAS may have registered is deregistered, once recycleInBackground runs).
   */
  async start(): Promise<void> {
    for (const row of await this.deps.repo.abandonInterrupted(this.deps.clock.now())) {
      this.deps.log.warn({ device: row.deviceId }, 'registration interrupted by a restart: binding undone, CAS registration being withdrawn');
    }
  }

  /**
   * Once the daemon is up: resumes the outbox and sweeps, so entries whose buffer time passed while stbd was
   * down are recycled now. Not waited for, and not begun during start-up: a backlog of overdue entries (its
   * CAS calls, its store writes) would share the thread with it and hold it up.
   */
  recycleInBackground(): void {
    this.#outbox.kick();
    void this.#sweep();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#sweepTimer) this.deps.scheduler.cancel(this.#sweepTimer.handle);
    this.#sweepTimer = undefined;
    await this.#sweeping;
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
    const { repo, clock, log } = this.deps;
    const now = clock.now();
    const plan = await repo.bind({ account, deviceId, now, key: `register:${deviceId}:${now}:${randomBytes(4).toString('hex')}` }, this.rules);
    if (plan.kind === 'done') {
      if (plan.fromPool) {
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
    const { repo, clock, log, metrics } = this.deps;
    try {
      const { recycleAt } = await repo.unbind(account, deviceId, clock.now(), this.rules);
      this.#armSweep(recycleAt);
      metrics.unbinds.inc({ result: 'unbound' });
      log.info({ device: deviceId, account, recycleAt: new Date(recycleAt).toISOString() }, 'device unbound into the pool');
      return { recycleAt };
    } catch (err) {
      if (err instanceof PoolError) metrics.unbinds.inc({ result: err.code });
      throw err;
    }
  }

  /**
   * Seed 000 step 7 for every entry whose buffer time passed (its recycle_at): their CAS deregistrations
   * queued, a page per unit of work; then the timer is armed for the next entry due. One sweep at a time
   * (one asked for meanwhile runs after it).
   */
  #sweep(): Promise<void> {
    if (this.#sweeping) {
      this.#sweepAgain = true;
      return this.#sweeping;
    }
    this.#sweeping = (async () => {
      do {
        this.#sweepAgain = false;
        await this.#sweepOnce();
      } while (this.#sweepAgain && !this.#stopped);
    })().finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  async #sweepOnce(): Promise<void> {
    const { repo, clock, log } = this.deps;
    let next: number;
    try {
      let page: { queued: PoolEntry[]; more: boolean };
      let stuck = false;
      do {
        page = await repo.recycleDue(clock.now(), RECYCLE_PAGE);
        for (const e of page.queued) log.info({ device: e.deviceId, account: e.account }, 'pool entry due: CAS deregistration queued');
        if (page.queued.length > 0) this.#outbox.kick();
        stuck = page.more && page.queued.length === 0;
        if (page.more && !stuck) await this.deps.pace?.next();
      } while (page.more && !stuck && !this.#stopped);
      const due = await repo.nextRecycleAt();
      // Due entries left are another node's (it holds them now): look again shortly, should it die.
      next = due === null ? Infinity : due <= clock.now() ? clock.now() + RECYCLE_RETRY_MS : due;
    } catch (err) {
      log.error({ err }, 'recycling the pool entries due failed; trying again');
      next = clock.now() + RECYCLE_RETRY_MS;
    }
    // An earlier timer (an unbind meanwhile) stays.
    this.#armSweep(next);
  }

  /** The next sweep at `at` at the latest (sooner in a cluster, and never past the timer wheel's horizon). */
  #armSweep(at: number): void {
    if (this.#stopped) return;
    const { clock, scheduler } = this.deps;
    const latest = clock.now() + (this.deps.recycleScanMs ?? scheduler.horizonMs / 2);
    const when = Math.min(at, latest);
    if (this.#sweepTimer && this.#sweepTimer.at <= when) return;
    if (this.#sweepTimer) scheduler.cancel(this.#sweepTimer.handle);
    this.#sweepTimer = {
      at: when,
      handle: scheduler.at(when, () => {
        this.#sweepTimer = undefined;
        void this.#sweep();
      }),
    };
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
