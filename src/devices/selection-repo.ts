import type { DeviceRecord } from './device.js';
import type { Condition } from './selector/ast.js';

/** A selector as the store evaluates it. */
export interface SelectionQuery {
  readonly condition: Condition;
  /** What now() is (the injected clock), in ms. */
  readonly now: number;
  /** Every device online now has a persisted last keepalive at or after this (after a presence flush). */
  readonly seenSince: number;
}

/**
 * A device that may match. Presence is memory's to decide: for a condition on `online` the store answers
 * both ways, and the caller picks by whether the device is online now. Equal (true) otherwise.
 */
export interface Candidate {
  readonly id: string;
  readonly ifOnline: boolean;
  readonly ifOffline: boolean;
}

/** One keyset page: `next` is the last device examined when more may follow, else null. */
export interface CandidatePage<T extends Candidate> {
  readonly rows: T[];
  readonly next: string | null;
}

/**
 * Devices by selector, in id order, a bounded number at a time: each page examines at most `scan` devices
 * (those after `after`), so no statement ever walks the whole registry however few devices match, and no
 * caller ever holds a whole selection (a million devices are a thousand pages).
 */
export interface SelectionRepo {
  candidates(q: SelectionQuery, after: string, scan: number): Promise<CandidatePage<Candidate>>;
  /** The same, with each device's record (for listings). */
  devices(q: SelectionQuery, after: string, scan: number): Promise<CandidatePage<Candidate & { readonly record: DeviceRecord }>>;
  /** Those of `ids` (at most a page of them) that may match. */
  among(q: SelectionQuery, ids: readonly string[]): Promise<Candidate[]>;
}
