import { randomBytes } from 'node:crypto';
import { type Cas, CasError } from '../cas/cas.js';
import type { Clock } from '../clock.js';
import type { DeviceRegistry } from '../devices/registry.js';
import type { Logger } from '../log/logger.js';
import type { Scheduler } from '../timer/scheduler.js';
import { CasOutbox } from './cas-outbox.js';
import type { PoolMetrics } from './pool-metrics.js';
import type { AuditEvent, Binding, PoolEntry, PoolRepo } from './pool-repo.js';

export type PoolErrorCode = 'account-limit' | 'bound-elsewhere' | 'cas-unavailable' | 'pool-limit' | 'not-bound' | 'unknown-device';

/** A refused bind or unbind, with the code the BSS acts on. */
export class PoolError extends Error {
  constructor(
    readonly code: PoolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PoolError';
  }
}

export interface PoolRules {
  /** Threshold 1. */
  readonly maxBoundPerAccount: number;
  /** Threshold 2. */
  readonly maxPooledPerAccount: number;
  /** The buffer recycling time. */
  readonly recycleAfterMs: number;
}

export interface PoolDeps {
  readonly repo: PoolRepo;
  readonly cas: Cas;
  readonly registry: DeviceRegistry;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: PoolMetrics;
  /** Called once a device is recycled (its CAS certificate deregistered): its certificates must stop being served. */
  readonly onRecycled?: (deviceId: string) => void;
}

const RECYCLE = 'pool-recycle';

type Plan = { readonly done: 'confirmed' | 'registered' } | { readonly wait: true } | { readonly register: string };

/**
 * Binding devices to accounts through the recycling pool (seed 000). Every check and the write it allows
 * happen in one transaction, so limits hold under any concurrency. The CAS is only called for devices
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
  start(): void {
    const { repo, clock, log } = this.deps;
    for (const row of repo.registers()) {
      repo.transaction(() => {
        if (repo.binding(row.deviceId)?.state === 'registering') repo.deleteBinding(row.deviceId);
        repo.deleteOutbox(row.id);
        repo.insertOutbox('deregister', row.deviceId, null, `compensate:${row.idempotencyKey}`, clock.now());
        repo.audit({ at: clock.now(), event: 'bind-abandoned', deviceId: row.deviceId, account: null, detail: 'stbd stopped while the CAS was registering the device' });
      });
      log.warn({ device: row.deviceId }, 'registration interrupted by a restart: binding undone, CAS registration being withdrawn');
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
    const { repo, clock, registry, scheduler, log } = this.deps;
    if (!registry.get(deviceId)) throw new PoolError('unknown-device', `device ${JSON.stringify(deviceId)} not found`);
    const plan = repo.transaction((): Plan => {
      const now = clock.now();
      const bound = repo.binding(deviceId);
      if (bound) {
        if (bound.account !== account) throw new PoolError('bound-elsewhere', `device ${JSON.stringify(deviceId)} is bound to another account`);
        return bound.state === 'active' ? { done: bound.via === 'pool' ? 'confirmed' : 'registered' } : { wait: true };
      }
      if (repo.countBound(account) >= this.rules.maxBoundPerAccount) {
        throw new PoolError('account-limit', `account ${JSON.stringify(account)} already has ${this.rules.maxBoundPerAccount} bound devices`);
      }
      const entry = repo.entry(deviceId);
      if (entry?.state === 'pooled') {
        repo.deleteEntry(deviceId);
        scheduler.clear(RECYCLE, deviceId);
        repo.insertBinding({ deviceId, account, state: 'active', via: 'pool', certificateId: entry.certificateId, boundAt: now });
        repo.audit({ at: now, event: 'bound', deviceId, account, detail: `confirmed from the pool (pooled by ${entry.account})` });
        return { done: 'confirmed' };
      }
      if (entry || repo.outboxOf(deviceId).length > 0) {
        throw new PoolError('cas-unavailable', `device ${JSON.stringify(deviceId)}: its previous CAS certificate is still being deregistered; try again later`);
      }
      const key = `register:${deviceId}:${now}:${randomBytes(4).toString('hex')}`;
      repo.insertBinding({ deviceId, account, state: 'registering', via: 'cas', certificateId: null, boundAt: now });
      repo.insertOutbox('register', deviceId, null, key, now);
      repo.audit({ at: now, event: 'registering', deviceId, account, detail: null });
      return { register: key };
    });
    if ('done' in plan) {
      if (plan.done === 'confirmed') log.info({ device: deviceId, account }, 'device bound from the pool');
      return plan.done;
    }
    if ('wait' in plan) {
      const inFlight = this.#registering.get(deviceId);
      if (!inFlight) throw new PoolError('cas-unavailable', `device ${JSON.stringify(deviceId)} is being registered; try again`);
      return inFlight;
    }
    const registration = this.#register(account, deviceId, plan.register);
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
      repo.transaction(() => {
        repo.deleteBinding(deviceId);
        repo.deleteOutboxByKey(key);
        if (unknownOutcome) repo.insertOutbox('deregister', deviceId, null, `compensate:${key}`, clock.now());
        repo.audit({ at: clock.now(), event: 'bind-failed', deviceId, account, detail: message });
      });
      if (unknownOutcome) this.#outbox.kick();
      log.warn({ device: deviceId, account, err: message }, 'bind refused: the CAS did not register the device');
      throw new PoolError('cas-unavailable', `the CAS did not register device ${JSON.stringify(deviceId)}: ${message}`);
    }
    repo.transaction(() => {
      repo.activateBinding(deviceId, certificateId);
      repo.deleteOutboxByKey(key);
      repo.audit({ at: clock.now(), event: 'bound', deviceId, account, detail: `registered by the CAS (certificate ${certificateId})` });
    });
    log.info({ device: deviceId, account, certificateId }, 'device bound after CAS registration');
    return 'registered';
  }

  /** Seed 000 steps 5–6: unbinds and parks the device in the pool until its recycle time. */
  unbind(account: string, deviceId: string): { recycleAt: number } {
    const { repo, clock, scheduler, log, metrics } = this.deps;
    try {
      const recycleAt = repo.transaction(() => {
        const now = clock.now();
        const bound = repo.binding(deviceId);
        if (!bound || bound.account !== account || bound.state !== 'active') {
          throw new PoolError('not-bound', `device ${JSON.stringify(deviceId)} is not bound to account ${JSON.stringify(account)}`);
        }
        if (repo.countPooled(account) >= this.rules.maxPooledPerAccount) {
          throw new PoolError('pool-limit', `account ${JSON.stringify(account)} already has ${this.rules.maxPooledPerAccount} devices in the pool`);
        }
        const at = now + this.rules.recycleAfterMs;
        repo.deleteBinding(deviceId);
        repo.insertEntry({ deviceId, account, certificateId: bound.certificateId, pooledAt: now, recycleAt: at });
        scheduler.set(RECYCLE, deviceId, at);
        repo.audit({ at: now, event: 'unbound', deviceId, account, detail: `pooled until ${new Date(at).toISOString()}` });
        return at;
      });
      metrics.unbinds.inc({ result: 'unbound' });
      log.info({ device: deviceId, account, recycleAt: new Date(recycleAt).toISOString() }, 'device unbound into the pool');
      return { recycleAt };
    } catch (err) {
      if (err instanceof PoolError) metrics.unbinds.inc({ result: err.code });
      throw err;
    }
  }

  /** Seed 000 step 7: the buffer time passed; queue the CAS deregistration (the entry goes once it is confirmed). */
  #recycleDue(deviceId: string): void {
    const { repo, clock, scheduler, log } = this.deps;
    const queued = repo.transaction(() => {
      const entry = repo.entry(deviceId);
      if (entry?.state !== 'pooled') return undefined;
      if (entry.recycleAt > clock.now()) {
        scheduler.set(RECYCLE, deviceId, entry.recycleAt);
        return undefined;
      }
      repo.setDeregistering(deviceId);
      repo.insertOutbox('deregister', deviceId, entry.certificateId, `recycle:${deviceId}:${entry.pooledAt}`, clock.now());
      repo.audit({ at: clock.now(), event: 'recycling', deviceId, account: entry.account, detail: 'buffer time passed; asking the CAS to deregister' });
      return entry;
    });
    if (!queued) return;
    log.info({ device: deviceId, account: queued.account }, 'pool entry due: CAS deregistration queued');
    this.#outbox.kick();
  }

  bindingsOf(account: string): Binding[] {
    return this.deps.repo.bindingsOf(account);
  }

  list(account: string | undefined, after: string, limit: number): PoolEntry[] {
    return this.deps.repo.list(account, after, limit);
  }

  history(deviceId: string | undefined, limit: number): AuditEvent[] {
    return this.deps.repo.history(deviceId, limit);
  }
}
