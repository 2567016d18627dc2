/**
 * Bursts of work started in slices of event-loop time. Node reads every socket that is ready in one turn of
 * its loop and calls the handlers one after the other: 500 CWMP sessions arriving together (a campaign
 * wave, a power cut ending) would keep a keepalive that arrived meanwhile waiting for all 500. Jobs run at
 * once while this turn has spent less than `budgetMs` on them; past it they wait, in arrival order, and
 * run one slice per later turn (in its check phase, after the loop has read its sockets again), so a
 * keepalive waits for about one slice whatever the burst. (The loop also reads at most 32 datagrams of a
 * UDP socket per turn: long turns in a burst are a queue of keepalives, not one late one.)
 *
 * A job's time counts until its synchronous part and the promise continuations that run right after it
 * end (with SQLite, the whole request); work it awaits on I/O (PostgreSQL) lands in later turns anyway.
 * So a waiting job runs in a deferred call of its own: Node runs the continuations of one before the next
 * deferred call, and the next one's look at the clock sees them.
 */
export class WorkSlices {
  readonly #waiting: (() => void)[] = [];
  #head = 0;
  /** When this turn's slice began; undefined: no job ran since the last slice ended. */
  #sliceStart: number | undefined;
  /** Deferred steps not run yet, and the batch (the steps of one later turn) new ones join. */
  #pending = 0;
  #batch: Batch | undefined;

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
    this.#steps();
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
      // The first step of a later turn ends this slice, whether or not a job waits for it.
      this.#defer(1);
    }
    return t - this.#sliceStart < this.budgetMs;
  }

  /** A step per waiting job that has none (at most STEPS_PER_TURN in one turn). */
  #steps(): void {
    this.#defer(this.waiting - this.#pending);
  }

  #defer(n: number): void {
    if (this.#batch === undefined || this.#batch.started) this.#batch = { started: false, steps: 0 };
    const batch = this.#batch;
    for (let i = 0; i < n && batch.steps < STEPS_PER_TURN; i++) {
      batch.steps++;
      this.#pending++;
      this.defer(() => this.#step(batch));
    }
  }

  /** The first step of a turn starts a new slice; each step runs the first waiting job if the slice has time. */
  #step(batch: Batch): void {
    this.#pending--;
    if (!batch.started) {
      batch.started = true;
      this.#sliceStart = undefined;
    }
    if (this.waiting > 0 && this.#hasTime()) {
      const job = this.#waiting[this.#head]!;
      this.#waiting[this.#head++] = NOOP;
      job();
    }
    if (this.waiting === 0) {
      this.#waiting.length = 0;
      this.#head = 0;
    } else {
      if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
        this.#waiting.splice(0, this.#head);
        this.#head = 0;
      }
      // Steps for the jobs still waiting, in the next turn (this one's are running).
      if (this.waiting > this.#pending) this.#steps();
    }
  }
}

interface Batch {
  started: boolean;
  steps: number;
}

/** Deferred steps in one turn at most: past the slice's time the rest find nothing to do (a check each). */
const STEPS_PER_TURN = 64;
const NOOP = (): void => {};
const DONE = Promise.resolve();
