import type { AuditEvent, Binding, OutboxRow, PoolEntry } from './pool-records.js';

/**
 * The pool's rules (seed 000) as pure decisions: each store engine reads the state a decision needs
 * (locked, in one transaction), asks here what to do, and applies the writes it is given. So the rules
 * are written once, and both engines keep the same guarantees.
 */

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

/**
 * The durable deadline kind pool recycling had before migration 18 (key: the device id). Recycling is now
 * read from `pool_entries.recycle_at`; a row of this kind that an older node still writes is a nudge to recycle.
 */
export const RECYCLE = 'pool-recycle';

/** One row change; an engine applies a list of them in order, in the transaction that read the state. */
export type PoolWrite =
  | { readonly op: 'insertBinding'; readonly binding: Binding }
  | { readonly op: 'activateBinding'; readonly deviceId: string; readonly certificateId: string }
  | { readonly op: 'deleteBinding'; readonly deviceId: string }
  | { readonly op: 'insertEntry'; readonly entry: Pick<PoolEntry, 'deviceId' | 'account' | 'certificateId' | 'pooledAt' | 'recycleAt'> }
  | { readonly op: 'deleteEntry'; readonly deviceId: string }
  | { readonly op: 'setDeregistering'; readonly deviceId: string }
  | { readonly op: 'entryFailed'; readonly deviceId: string; readonly attempts: number; readonly error: string }
  /** A key already queued is not queued twice. */
  | { readonly op: 'insertOutbox'; readonly kind: OutboxRow['op']; readonly deviceId: string; readonly certificateId: string | null; readonly key: string; readonly now: number }
  | { readonly op: 'deleteOutbox'; readonly id: number }
  | { readonly op: 'deleteOutboxByKey'; readonly key: string }
  | { readonly op: 'retryOutbox'; readonly id: number; readonly attempts: number; readonly nextAttemptAt: number; readonly error: string }
  | { readonly op: 'audit'; readonly event: AuditEvent };

/** What a unit of work did: its writes, and what the service learns from it. */
export interface Decision<R> {
  readonly writes: readonly PoolWrite[];
  readonly result: R;
}

const q = JSON.stringify;

// --- bind (seed 000 steps 1–4) ---

export interface BindInput {
  readonly account: string;
  readonly deviceId: string;
  readonly now: number;
  /** The idempotency key of the CAS registration, should one be needed. */
  readonly key: string;
}

export interface BindState {
  /** The device is registered. */
  readonly known: boolean;
  readonly bound: Binding | undefined;
  readonly countBound: number;
  readonly entry: PoolEntry | undefined;
  /** A CAS call for the device is still queued (a deregistration in progress). */
  readonly casBusy: boolean;
}

export type BindOutcome =
  | { readonly kind: 'done'; readonly result: 'confirmed' | 'registered'; readonly fromPool: boolean }
  /** Another bind of the same pair is registering it. */
  | { readonly kind: 'wait' }
  /** Registering: call the CAS with `key`, then `registered` or `registrationFailed`. */
  | { readonly kind: 'register'; readonly key: string };

/** @throws PoolError */
export function decideBind(s: BindState, i: BindInput, rules: PoolRules): Decision<BindOutcome> {
  const { account, deviceId, now } = i;
  if (!s.known) throw new PoolError('unknown-device', `device ${q(deviceId)} not found`);
  if (s.bound) {
    if (s.bound.account !== account) throw new PoolError('bound-elsewhere', `device ${q(deviceId)} is bound to another account`);
    return { writes: [], result: s.bound.state === 'active' ? { kind: 'done', result: s.bound.via === 'pool' ? 'confirmed' : 'registered', fromPool: false } : { kind: 'wait' } };
  }
  if (s.countBound >= rules.maxBoundPerAccount) throw new PoolError('account-limit', `account ${q(account)} already has ${rules.maxBoundPerAccount} bound devices`);
  if (s.entry?.state === 'pooled') {
    return {
      writes: [
        { op: 'deleteEntry', deviceId },
        { op: 'insertBinding', binding: { deviceId, account, state: 'active', via: 'pool', certificateId: s.entry.certificateId, boundAt: now } },
        { op: 'audit', event: { at: now, event: 'bound', deviceId, account, detail: `confirmed from the pool (pooled by ${s.entry.account})` } },
      ],
      result: { kind: 'done', result: 'confirmed', fromPool: true },
    };
  }
  if (s.entry || s.casBusy) throw new PoolError('cas-unavailable', `device ${q(deviceId)}: its previous CAS certificate is still being deregistered; try again later`);
  return {
    writes: [
      { op: 'insertBinding', binding: { deviceId, account, state: 'registering', via: 'cas', certificateId: null, boundAt: now } },
      { op: 'insertOutbox', kind: 'register', deviceId, certificateId: null, key: i.key, now },
      { op: 'audit', event: { at: now, event: 'registering', deviceId, account, detail: null } },
    ],
    result: { kind: 'register', key: i.key },
  };
}

/** The CAS registered the device: the binding becomes active. */
export function registeredWrites(account: string, deviceId: string, certificateId: string, key: string, now: number): PoolWrite[] {
  return [
    { op: 'activateBinding', deviceId, certificateId },
    { op: 'deleteOutboxByKey', key },
    { op: 'audit', event: { at: now, event: 'bound', deviceId, account, detail: `registered by the CAS (certificate ${certificateId})` } },
  ];
}

/** The CAS did not register it; when the outcome is unknown, whatever it may have registered is withdrawn. */
export function registrationFailedWrites(account: string, deviceId: string, key: string, unknownOutcome: boolean, message: string, now: number): PoolWrite[] {
  return [
    { op: 'deleteBinding', deviceId },
    { op: 'deleteOutboxByKey', key },
    ...(unknownOutcome ? [{ op: 'insertOutbox', kind: 'deregister', deviceId, certificateId: null, key: `compensate:${key}`, now } as const] : []),
    { op: 'audit', event: { at: now, event: 'bind-failed', deviceId, account, detail: message } },
  ];
}

/** A registration a crash left without an answer: the caller never heard back, so it is undone and withdrawn. */
export function abandonedWrites(row: OutboxRow, stillRegistering: boolean, now: number): PoolWrite[] {
  return [
    ...(stillRegistering ? [{ op: 'deleteBinding', deviceId: row.deviceId } as const] : []),
    { op: 'deleteOutbox', id: row.id },
    { op: 'insertOutbox', kind: 'deregister', deviceId: row.deviceId, certificateId: null, key: `compensate:${row.idempotencyKey}`, now },
    { op: 'audit', event: { at: now, event: 'bind-abandoned', deviceId: row.deviceId, account: null, detail: 'stbd stopped while the CAS was registering the device' } },
  ];
}

// --- unbind (steps 5–6) ---

export interface UnbindState {
  readonly bound: Binding | undefined;
  readonly countPooled: number;
}

/** @throws PoolError */
export function decideUnbind(s: UnbindState, account: string, deviceId: string, now: number, rules: PoolRules): Decision<{ recycleAt: number }> {
  if (!s.bound || s.bound.account !== account || s.bound.state !== 'active') throw new PoolError('not-bound', `device ${q(deviceId)} is not bound to account ${q(account)}`);
  if (s.countPooled >= rules.maxPooledPerAccount) throw new PoolError('pool-limit', `account ${q(account)} already has ${rules.maxPooledPerAccount} devices in the pool`);
  const at = now + rules.recycleAfterMs;
  return {
    writes: [
      { op: 'deleteBinding', deviceId },
      { op: 'insertEntry', entry: { deviceId, account, certificateId: s.bound.certificateId, pooledAt: now, recycleAt: at } },
      { op: 'audit', event: { at: now, event: 'unbound', deviceId, account, detail: `pooled until ${new Date(at).toISOString()}` } },
    ],
    result: { recycleAt: at },
  };
}

// --- recycling (step 7) ---

/**
 * The entry's buffer time passed (its `recycle_at`, the one record of when it is due): the CAS
 * deregistration is queued and the queued entry returned. Anything else (not due, gone, already
 * deregistering) writes nothing.
 */
export function decideRecycle(entry: PoolEntry | undefined, now: number): Decision<PoolEntry | undefined> {
  if (entry?.state !== 'pooled' || entry.recycleAt > now) return { writes: [], result: undefined };
  const { deviceId, account } = entry;
  return {
    writes: [
      { op: 'setDeregistering', deviceId },
      { op: 'insertOutbox', kind: 'deregister', deviceId, certificateId: entry.certificateId, key: `recycle:${deviceId}:${entry.pooledAt}`, now },
      { op: 'audit', event: { at: now, event: 'recycling', deviceId, account, detail: 'buffer time passed; asking the CAS to deregister' } },
    ],
    result: entry,
  };
}

/** A CAS deregistration failed: retried later; a recycling entry shows the error. */
export function outboxFailedWrites(row: OutboxRow, entry: PoolEntry | undefined, attempts: number, nextAttemptAt: number, error: string): PoolWrite[] {
  return [
    { op: 'retryOutbox', id: row.id, attempts, nextAttemptAt, error },
    ...(entry?.state === 'deregistering' ? [{ op: 'entryFailed', deviceId: row.deviceId, attempts, error } as const] : []),
  ];
}

/** The CAS confirmed a deregistration: the row goes, and so does the pool entry it recycled (returned). */
export function decideOutboxDone(row: OutboxRow, entry: PoolEntry | undefined, now: number): Decision<PoolEntry | undefined> {
  const deviceId = row.deviceId;
  if (entry?.state !== 'deregistering' || (row.certificateId !== null && entry.certificateId !== row.certificateId)) {
    return {
      writes: [
        { op: 'deleteOutbox', id: row.id },
        { op: 'audit', event: { at: now, event: 'compensated', deviceId, account: null, detail: 'CAS deregistered a registration whose outcome was unknown' } },
      ],
      result: undefined,
    };
  }
  return {
    writes: [
      { op: 'deleteOutbox', id: row.id },
      { op: 'deleteEntry', deviceId },
      { op: 'audit', event: { at: now, event: 'recycled', deviceId, account: entry.account, detail: `CAS deregistered certificate ${entry.certificateId ?? '(unknown)'}` } },
    ],
    result: entry,
  };
}
