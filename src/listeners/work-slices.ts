/**
 * Bursts of work started in slices of event-loop time. Node reads every socket that is ready in one turn of
 * its loop and calls the handlers one after the other: 500 CWMP sessions arriving together (a campaign
 * wave, a power cut ending) would keep a keepalive that arrived meanwhile waiting for all 500. Jobs run at
 * once while this turn has spent less than `budgetMs` on them; past it they wait, in arrival order, and
 * run one slice per later turn (in its check phase, after the loop has read its sockets again), so a
 * keepalive waits for about one slice whatever the burst.
 *
 * A job's time counts until its synchronous part and the promise continuations that run right after it
 * end (with SQLite, the whole request); work it awaits on I/O (PostgreSQL) lands in later turns anyway.
 */
export class WorkSlices {
  readonly #waiting: (() => void)[] = [];
  #head = 0;
  /** When this turn's slice began; undefined: no job ran since the last slice ended. */
  #sliceStart: number | undefined;
  #deferred = false;

  constructor(
    private readonly budgetMs: number,
    /** A monotonic clock in ms (performance.now in the daemon). */
    private readonly now: () => number,
    /** Runs `fn` in a later phase of the loop, after its sockets were read (setImmediate in the daemon). */
    private readonly defer: (fn: () => void) => void,
  ) {}

  /** Jobs waiting for a later slice. */
  get waiting(): number {
    return this.#waiting.length - this.#head;
  }

  /** Runs `job` now if this turn's slice has time left and nothing waits; else after those waiting. */
  run(job: () => void): void {
    if (this.waiting === 0 && this.#hasTime()) return job();
    this.#waiting.push(job);
    this.#later();
  }

  /**
   * For a loop over many items (queueing a campaign's tasks): resolves at once while this slice has time,
   * else in a later slice, so the loop gives the turn back to the sockets between slices.
   */
  next(): Promise<void> {
    if (this.waiting === 0 && this.#hasTime()) return DONE;
    return new Promise((resolve) => this.run(resolve));
  }

  #hasTime(): boolean {
    const t = this.now();
    if (this.#sliceStart === undefined) {
      this.#sliceStart = t;
      this.#later();
    }
    return t - this.#sliceStart < this.budgetMs;
  }

  #later(): void {
    if (this.#deferred) return;
    this.#deferred = true;
    this.defer(() => this.#slice());
  }

  /** One slice of the waiting jobs; the rest wait for the next turn. */
  #slice(): void {
    this.#deferred = false;
    this.#sliceStart = undefined;
    while (this.waiting > 0 && this.#hasTime()) {
      const job = this.#waiting[this.#head]!;
      this.#waiting[this.#head++] = NOOP;
      job();
    }
    if (this.waiting === 0) {
      this.#waiting.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting.splice(0, this.#head);
      this.#head = 0;
    }
  }
}

const NOOP = (): void => {};
const DONE = Promise.resolve();
