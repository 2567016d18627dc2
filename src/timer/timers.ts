import type { Clock } from '../clock.js';
import { type TimerHandle, TimerWheel } from './wheel.js';

/** The host's timer functions; tests pass their own to step time by hand. */
export interface TimerHost {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const nodeTimers: TimerHost = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface TimersOptions<T> {
  readonly clock: Clock;
  readonly tickMs: number;
  readonly slots: number;
  /** Called with each payload when it is due. */
  readonly fire: (payload: T) => void;
  /** Hears what `fire` throws; the other due entries still fire. */
  readonly onError: (err: unknown) => void;
  readonly host?: TimerHost;
}

/**
 * A timer wheel driven by real time. It keeps one host timer of one tick armed while entries are pending
 * (never anywhere near the 2^31−1 ms past which Node fires a timer at once) and none while idle.
 */
export class Timers<T> {
  readonly #wheel: TimerWheel<T>;
  readonly #clock: Clock;
  readonly #fire: (payload: T) => void;
  readonly #onError: (err: unknown) => void;
  readonly #host: TimerHost;
  #handle: unknown;
  #running = false;

  constructor(opts: TimersOptions<T>) {
    this.#clock = opts.clock;
    this.#fire = opts.fire;
    this.#onError = opts.onError;
    this.#host = opts.host ?? nodeTimers;
    this.#wheel = new TimerWheel<T>({ tickMs: opts.tickMs, slots: opts.slots, now: opts.clock.now() });
  }

  get horizonMs(): number {
    return this.#wheel.horizonMs;
  }

  get size(): number {
    return this.#wheel.size;
  }

  /** Fires `payload` at `dueAt`. @throws RangeError past the horizon (`now + horizonMs`). */
  schedule(dueAt: number, payload: T): TimerHandle {
    // An idle wheel's cursor stands where it stopped: bring it up to now (not past it, so that something due
    // now still fires at a tick() now) so that the horizon is measured from now.
    if (this.#wheel.size === 0) this.#wheel.advance(this.#clock.now() - this.#wheel.tickMs, this.#fire);
    const handle = this.#wheel.schedule(dueAt, payload);
    this.#arm();
    return handle;
  }

  cancel(handle: TimerHandle): boolean {
    return this.#wheel.cancel(handle);
  }

  start(): void {
    this.#running = true;
    this.#arm();
  }

  stop(): void {
    this.#running = false;
    if (this.#handle !== undefined) this.#host.clearTimeout(this.#handle);
    this.#handle = undefined;
  }

  /** Fires what is due now. The host timer calls it; tests that move the clock by hand call it too. */
  tick(): void {
    try {
      this.#wheel.advance(this.#clock.now(), this.#fire);
    } catch (err) {
      this.#onError(err);
    }
  }

  #arm(): void {
    if (!this.#running || this.#handle !== undefined || this.#wheel.size === 0) return;
    this.#handle = this.#host.setTimeout(() => {
      this.#handle = undefined;
      this.tick();
      this.#arm();
    }, this.#wheel.tickMs);
  }
}
