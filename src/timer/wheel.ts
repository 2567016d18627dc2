import { grown } from '../typed-arrays.js';

/** Opaque handle of a scheduled entry; stale handles (fired or cancelled) are recognised and ignored. */
export type TimerHandle = number;

const INDEX_BITS = 2 ** 24;
const NONE = -1;

export interface WheelOptions {
  /** Resolution: entries fire on the first tick at or after their due time. */
  readonly tickMs: number;
  /** Number of slots, a power of two. The horizon is (slots − 1) × tickMs. */
  readonly slots: number;
  /** The clock's time when the wheel is created (ms). */
  readonly now: number;
}

/**
 * A hashed timing wheel: O(1) schedule and cancel, and firing costs O(entries due). Every entry is due
 * within one revolution (schedule refuses anything past the horizon), so a slot holds only entries due
 * at its tick and firing never skips over entries of later revolutions.
 *
 * Entries live in typed arrays (doubly linked lists of indices), not objects: a million pending entries
 * cost about 30 bytes each. Pure: time comes in through `schedule` and `advance`.
 */
export class TimerWheel<T> {
  readonly tickMs: number;
  readonly horizonMs: number;
  readonly #mask: number;
  readonly #heads: Int32Array;
  readonly #tails: Int32Array;
  #next = new Int32Array(0);
  #prev = new Int32Array(0);
  #slotOf = new Int32Array(0);
  #gen = new Uint32Array(0);
  #payload: (T | undefined)[] = [];
  #free = NONE;
  #used = 0;
  #size = 0;
  /** The next tick to process. */
  #cursor: number;

  constructor(opts: WheelOptions) {
    if (!Number.isInteger(Math.log2(opts.slots)) || opts.slots < 2) throw new RangeError('slots must be a power of two');
    if (!(opts.tickMs > 0)) throw new RangeError('tickMs must be positive');
    this.tickMs = opts.tickMs;
    this.horizonMs = (opts.slots - 1) * opts.tickMs;
    this.#mask = opts.slots - 1;
    this.#heads = new Int32Array(opts.slots).fill(NONE);
    this.#tails = new Int32Array(opts.slots).fill(NONE);
    this.#cursor = Math.floor(opts.now / opts.tickMs);
  }

  /** Entries pending. */
  get size(): number {
    return this.#size;
  }

  /** The latest due time `schedule` accepts now: the wheel's horizon. */
  get latestDue(): number {
    return (this.#cursor + this.#mask) * this.tickMs;
  }

  /**
   * Schedules `payload` to fire at `dueAt` (ms). A time already past fires on the next advance.
   * @throws RangeError past the horizon: keep such deadlines elsewhere (see Scheduler) until they come near.
   */
  schedule(dueAt: number, payload: T): TimerHandle {
    const tick = Math.max(Math.ceil(dueAt / this.tickMs), this.#cursor);
    if (tick - this.#cursor > this.#mask) throw new RangeError(`due ${dueAt} is past the wheel's horizon (${this.latestDue})`);
    const i = this.#allocate();
    const slot = tick & this.#mask;
    this.#payload[i] = payload;
    this.#slotOf[i] = slot;
    // Appended at the tail: entries due at the same tick fire in the order they were scheduled.
    const tail = this.#tails[slot] as number;
    this.#prev[i] = tail;
    this.#next[i] = NONE;
    if (tail === NONE) this.#heads[slot] = i;
    else this.#next[tail] = i;
    this.#tails[slot] = i;
    this.#size++;
    return (this.#gen[i] as number) * INDEX_BITS + i;
  }

  /** Cancels a pending entry. Returns false if it already fired or was cancelled. */
  cancel(handle: TimerHandle): boolean {
    const i = handle % INDEX_BITS;
    if (i >= this.#used || (this.#gen[i] as number) !== Math.floor(handle / INDEX_BITS) || this.#slotOf[i] === NONE) return false;
    this.#unlink(i);
    this.#release(i);
    return true;
  }

  /**
   * Fires, in tick order, every entry due at or before `now`, and returns how many fired. An entry that
   * `fire` schedules for a time already past lands on a later tick than the one being fired, so a callback
   * that keeps rescheduling itself cannot loop forever. If `fire` throws, the other due entries still fire
   * and the first error is rethrown at the end.
   */
  advance(now: number, fire: (payload: T) => void): number {
    const target = Math.floor(now / this.tickMs);
    if (target < this.#cursor) return 0;
    if (target - this.#cursor > this.#mask) {
      // A stall longer than a revolution: everything pending is due. Detach every slot (in tick order)
      // before moving the cursor, so entries scheduled while firing are placed after the new cursor.
      const chains: number[] = [];
      for (let k = 0; k <= this.#mask; k++) {
        const slot = (this.#cursor + k) & this.#mask;
        if (this.#heads[slot] !== NONE) chains.push(this.#heads[slot] as number);
        this.#heads[slot] = NONE;
        this.#tails[slot] = NONE;
      }
      this.#cursor = target + 1;
      let fired = 0;
      for (const head of chains) fired += this.#fireChain(head, fire);
      return this.#settle(fired);
    }
    let fired = 0;
    while (this.#cursor <= target) {
      const slot = this.#cursor & this.#mask;
      const head = this.#heads[slot] as number;
      this.#heads[slot] = NONE;
      this.#tails[slot] = NONE;
      this.#cursor++;
      if (head !== NONE) fired += this.#fireChain(head, fire);
    }
    return this.#settle(fired);
  }

  #firstError: { error: unknown } | undefined;

  #settle(fired: number): number {
    const failure = this.#firstError;
    this.#firstError = undefined;
    if (failure) throw failure.error;
    return fired;
  }

  #fireChain(head: number, fire: (payload: T) => void): number {
    let fired = 0;
    for (let i = head; i !== NONE; ) {
      const next = this.#next[i] as number;
      const payload = this.#payload[i] as T;
      this.#release(i);
      fired++;
      try {
        fire(payload);
      } catch (error) {
        this.#firstError ??= { error };
      }
      i = next;
    }
    return fired;
  }

  #unlink(i: number): void {
    const prev = this.#prev[i] as number;
    const next = this.#next[i] as number;
    const slot = this.#slotOf[i] as number;
    if (prev === NONE) this.#heads[slot] = next;
    else this.#next[prev] = next;
    if (next === NONE) this.#tails[slot] = prev;
    else this.#prev[next] = prev;
  }

  #release(i: number): void {
    this.#slotOf[i] = NONE;
    this.#payload[i] = undefined;
    this.#gen[i] = ((this.#gen[i] as number) + 1) % 2 ** 28;
    this.#next[i] = this.#free;
    this.#free = i;
    this.#size--;
  }

  #allocate(): number {
    if (this.#free !== NONE) {
      const i = this.#free;
      this.#free = this.#next[i] as number;
      return i;
    }
    if (this.#used === this.#next.length) this.#grow();
    return this.#used++;
  }

  #grow(): void {
    const capacity = Math.max(1024, this.#next.length * 2);
    if (capacity > INDEX_BITS) throw new RangeError('timer wheel is full');
    this.#next = grown(this.#next, capacity);
    this.#prev = grown(this.#prev, capacity);
    this.#slotOf = grown(this.#slotOf, capacity);
    this.#gen = grown(this.#gen, capacity);
  }
}
