import { BoundedTable } from './bounded-table.js';

/**
 * Aggregates repeated events per key (a source address, say) into at most one log line per key per
 * interval, with a count. The first event of a quiet key is emitted at once (count 1), so an operator
 * sees a new problem immediately; further events in that interval are counted, and the count is emitted
 * when the interval ends (by flush(), which the owner calls on a timer, or by the key's next event),
 * opening the next interval. A steady flood is thus one line a minute per source. Pure: the owner does
 * the logging in `emit` and drives flush(); the clock is injected. The table has a fixed capacity: the
 * oldest key without an event since it was inserted is emitted early (if it has a count) and forgotten.
 */
export interface LogThrottleLine<D> {
  readonly key: string;
  /** Events this line stands for. */
  readonly count: number;
  /** The most recent event's detail. */
  readonly detail: D;
  /** Start of the period the count covers (ms). */
  readonly since: number;
}

export interface LogThrottleOptions<D> {
  readonly intervalMs: number;
  readonly capacity: number;
  readonly now: () => number;
  readonly emit: (line: LogThrottleLine<D>) => void;
}

interface Window<D> {
  /** When the interval opened. */
  start: number;
  /** Events since the last line. */
  pending: number;
  detail: D;
  /** Start of the pending events' period. */
  since: number;
  /** Had an event since it was (re)inserted: spared once at eviction. */
  used: boolean;
}

export class LogThrottle<D> {
  readonly #o: LogThrottleOptions<D>;
  /** Insertion order with a second chance at eviction (see TokenBuckets for why not a re-insert per event). */
  readonly #windows = new BoundedTable<Window<D>>();

  constructor(options: LogThrottleOptions<D>) {
    if (!(options.intervalMs > 0)) throw new RangeError('intervalMs must be positive');
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.#o = options;
  }

  /** Counts one event for key; emits a line now if key's interval allows one. */
  record(key: string, detail: D): void {
    const now = this.#o.now();
    const w = this.#windows.get(key);
    if (w && now - w.start < this.#o.intervalMs) {
      if (w.pending === 0) w.since = now;
      w.pending += 1;
      w.detail = detail;
      w.used = true;
      return;
    }
    if (w) {
      // The interval is over: this event and the ones counted since the last line make one line.
      this.#windows.delete(key);
      this.#o.emit({ key, count: w.pending + 1, detail, since: w.pending > 0 ? w.since : now });
    } else {
      if (this.#windows.size >= this.#o.capacity) this.#evictOldest();
      this.#o.emit({ key, count: 1, detail, since: now });
    }
    this.#windows.set(key, { start: now, pending: 0, detail, since: now, used: false });
  }

  /** Emits the counts of intervals that have ended and forgets quiet keys. Call it about once an interval. */
  flush(): void {
    const now = this.#o.now();
    for (const [key, w] of this.#windows.entries()) {
      if (now - w.start < this.#o.intervalMs) continue;
      if (w.pending === 0) {
        this.#windows.delete(key);
        continue;
      }
      this.#o.emit({ key, count: w.pending, detail: w.detail, since: w.since });
      w.start = now;
      w.pending = 0;
    }
  }

  /** Emits every pending count now (at shutdown). */
  drain(): void {
    for (const [key, w] of this.#windows.entries()) if (w.pending > 0) this.#o.emit({ key, count: w.pending, detail: w.detail, since: w.since });
    this.#windows.clear();
  }

  /** Keys remembered now (at most capacity). */
  get size(): number {
    return this.#windows.size;
  }

  #evictOldest(): void {
    for (let o = this.#windows.oldest(); o; o = this.#windows.oldest()) {
      const [key, w] = o;
      if (w.used) {
        w.used = false;
        this.#windows.requeueOldest();
        continue;
      }
      this.#windows.shift();
      if (w.pending > 0) this.#o.emit({ key, count: w.pending, detail: w.detail, since: w.since });
      return;
    }
  }
}
