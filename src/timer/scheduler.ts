import type { Clock } from '../clock.js';
import type { TimerHandle } from './wheel.js';
import { type TimerHost, Timers } from './timers.js';

/** A deadline that must survive restarts: a feature's `kind` and its own `key` (a pool entry, a certificate…). */
export interface Deadline {
  readonly kind: string;
  readonly key: string;
  readonly dueAt: number;
}

/** Where durable deadlines live (SQLite in the daemon). */
export interface DeadlineStore {
  /** Deletes (kind, key), but only while it is still due at `dueAt` (it may have been moved meanwhile). */
  deleteIfDue(deadline: Deadline): Promise<void>;
  /** Deadlines due before `time`, in due order, after the `after` cursor, at most `limit`. */
  dueBefore(time: number, limit: number, after?: Deadline): Promise<Deadline[]>;
  /** How many deadlines are stored, and the earliest due time among them. */
  summary(): Promise<{ count: number; earliestDueAt: number | undefined }>;
  /**
   * Before firing: takes the deadline for this node (a cluster fires each once). `held`: another live node has
   * it (asked again later: it may die); `gone`: it was fired or moved meanwhile. Absent: one node, every
   * deadline its own (fired at once, in the tick that finds it due).
   */
  claim?(deadline: Deadline, now: number): Promise<{ readonly kind: 'claimed' | 'held' | 'gone' }>;
}

/** What is waiting: every durable deadline, and how late the most overdue one is (0 when none is). */
export interface Backlog {
  readonly pending: number;
  readonly oldestOverdueMs: number;
}

export type DeadlineHandler = (key: string, dueAt: number) => void | Promise<void>;

export interface SchedulerOptions {
  readonly clock: Clock;
  readonly store: DeadlineStore;
  /** For `set` and `clear` (SQLite features whose transactions they join). */
  readonly onError: (err: unknown, context: string) => void;
  readonly tickMs?: number;
  readonly slots?: number;
  readonly host?: TimerHost;
  /** A deadline another node holds is asked for again this much later (the cluster lease); default 15 s. */
  readonly claimRetryMs?: number;
  /**
   * A cluster: every this many ms, the deadlines due within twice that are loaded too, so that those written by
   * another node (which may die before firing them) are found in time. Undefined: one node, which wrote them all.
   */
  readonly scanMs?: number;
}

type Entry = { readonly fn: () => void };
const PAGE = 10_000;

/**
 * Timers for the whole daemon, on one wheel. In-memory timers (`at`) are for near, disposable work
 * (retries, timeouts). Durable deadlines are written to the store by the unit of work they belong to (then `stored`) and only the ones due within the
 * wheel's horizon are held in memory; the rest are loaded as they come near, so days-long waits and
 * restarts are safe. A durable deadline is deleted after its handler succeeds; one whose handler fails
 * stays and is tried again at the next refill (handlers must therefore be idempotent).
 */
export class Scheduler {
  readonly #timers: Timers<Entry>;
  readonly #clock: Clock;
  readonly #store: DeadlineStore;
  readonly #onError: SchedulerOptions['onError'];
  readonly #handlers = new Map<string, DeadlineHandler>();
  /** Durable deadlines currently in the wheel, by kind\0key. */
  readonly #loaded = new Map<string, { dueAt: number; handle: TimerHandle }>();
  #refill: TimerHandle | undefined;
  #scan: TimerHandle | undefined;
  readonly #claimRetryMs: number;
  readonly #scanMs: number | undefined;

  constructor(opts: SchedulerOptions) {
    this.#clock = opts.clock;
    this.#claimRetryMs = opts.claimRetryMs ?? 15_000;
    this.#scanMs = opts.scanMs;
    this.#store = opts.store;
    this.#onError = opts.onError;
    this.#timers = new Timers<Entry>({
      clock: opts.clock,
      tickMs: opts.tickMs ?? 100,
      slots: opts.slots ?? 65_536,
      fire: (e) => e.fn(),
      onError: (err) => opts.onError(err, 'timer'),
      ...(opts.host ? { host: opts.host } : {}),
    });
  }

  get horizonMs(): number {
    return this.#timers.horizonMs;
  }

  /** Runs `fn` at `dueAt` (in memory only). @throws RangeError past the horizon. */
  at(dueAt: number, fn: () => void): TimerHandle {
    return this.#timers.schedule(dueAt, { fn });
  }

  cancel(handle: TimerHandle): boolean {
    return this.#timers.cancel(handle);
  }

  /** Registers the handler of a durable deadline kind (before `start`). */
  handle(kind: string, handler: DeadlineHandler): void {
    this.#handlers.set(kind, handler);
  }

  /**
   * A feature's own transaction stored (or moved) this deadline: hold it in memory too. Should the process
   * die before this call, the refill at start loads it from the store.
   */
  stored(kind: string, key: string, dueAt: number): void {
    this.#unload(kind, key);
    if (dueAt < this.#clock.now() + this.horizonMs) this.#load({ kind, key, dueAt });
  }

  /** A feature's own transaction deleted this deadline: forget it in memory too. */
  removed(kind: string, key: string): void {
    this.#unload(kind, key);
  }

  async backlog(): Promise<Backlog> {
    const { count, earliestDueAt } = await this.#store.summary();
    const late = earliestDueAt === undefined ? 0 : this.#clock.now() - earliestDueAt;
    return { pending: count, oldestOverdueMs: Math.max(0, late) };
  }

  /** Loads what is due within the horizon (overdue deadlines fire at once) and keeps refilling. */
  async start(): Promise<void> {
    this.#timers.start();
    await this.#refillNow();
    if (this.#scanMs !== undefined) this.#scan = this.#timers.schedule(this.#clock.now() + this.#scanMs, { fn: () => void this.#scanNow() });
  }

  stop(): void {
    if (this.#refill !== undefined) this.#timers.cancel(this.#refill);
    if (this.#scan !== undefined) this.#timers.cancel(this.#scan);
    this.#timers.stop();
  }

  /** Fires what is due now (the host timer does this; tests that move the clock call it). */
  tick(): void {
    this.#timers.tick();
  }

  /** Loads what is due soon and not loaded yet (one page: the near future of a cluster), then again in scanMs. */
  async #scanNow(): Promise<void> {
    const scanMs = this.#scanMs!;
    try {
      for (const d of await this.#store.dueBefore(this.#clock.now() + 2 * scanMs, PAGE)) if (!this.#loaded.has(keyOf(d.kind, d.key))) this.#load(d);
    } catch (err) {
      this.#onError(err, 'looking for durable deadlines of other nodes');
    }
    this.#scan = this.#timers.schedule(this.#clock.now() + scanMs, { fn: () => void this.#scanNow() });
  }

  async #refillNow(): Promise<void> {
    const until = this.#clock.now() + this.horizonMs;
    let after: Deadline | undefined;
    try {
      for (;;) {
        const page = await this.#store.dueBefore(until, PAGE, after);
        // A deadline moved or cleared while the page was read may load here too: handlers are idempotent.
        for (const d of page) if (!this.#loaded.has(keyOf(d.kind, d.key))) this.#load(d);
        if (page.length < PAGE) break;
        after = page.at(-1);
      }
    } catch (err) {
      // The store is away: what was not loaded now is loaded by the next refill.
      this.#onError(err, 'loading durable deadlines');
    }
    this.#refill = this.#timers.schedule(this.#clock.now() + this.horizonMs / 2, { fn: () => void this.#refillNow() });
  }

  /** Arms the deadline at `d.dueAt`; `storedDueAt`: its due time in the store, when it is asked for again later. */
  #load(d: Deadline, storedDueAt = d.dueAt): void {
    const stored = { kind: d.kind, key: d.key, dueAt: storedDueAt };
    const handle = this.#timers.schedule(d.dueAt, { fn: () => this.#fireDurable(stored) });
    this.#loaded.set(keyOf(d.kind, d.key), { dueAt: storedDueAt, handle });
  }

  #unload(kind: string, key: string): void {
    const k = keyOf(kind, key);
    const loaded = this.#loaded.get(k);
    if (loaded) this.#timers.cancel(loaded.handle);
    this.#loaded.delete(k);
  }


  #fireDurable(d: Deadline): void {
    this.#loaded.delete(keyOf(d.kind, d.key));
    const handler = this.#handlers.get(d.kind);
    if (!handler) return this.#onError(new Error(`no handler for deadline kind ${JSON.stringify(d.kind)}`), d.kind);
    const failed = (err: unknown) => this.#onError(err, `${d.kind} ${d.key}`);
    if (!this.#store.claim) return this.#run(d, handler, failed);
    this.#store.claim(d, this.#clock.now()).then((claim) => {
      if (claim.kind === 'claimed') return this.#run(d, handler, failed);
      // Another node fires it; should that node die, its claim is taken over here.
      if (claim.kind === 'held' && !this.#loaded.has(keyOf(d.kind, d.key))) this.#load({ ...d, dueAt: Math.max(d.dueAt, this.#clock.now() + this.#claimRetryMs) }, d.dueAt);
    }, failed);
  }

  #run(d: Deadline, handler: DeadlineHandler, failed: (err: unknown) => void): void {
    const done = () => void this.#store.deleteIfDue(d).catch(failed);
    try {
      const result = handler(d.key, d.dueAt);
      if (result instanceof Promise) result.then(done, failed);
      else done();
    } catch (err) {
      failed(err);
    }
  }
}

const keyOf = (kind: string, key: string) => `${kind}\u0000${key}`;
