/**
 * The nonces of accepted STB requests, kept while the request's timestamp is within the freshness window
 * (a replay of an older one is refused as stale anyway), grouped by that timestamp's second.
 *
 * At most `capacity` are kept. When full, the second with the oldest timestamps is forgotten whole, and
 * from then on every request stamped at or before that second is refused as not provably fresh (the
 * floor): a forgotten nonce can never be replayed. The price is paid only under pressure: the accepted
 * window shrinks from its old end, by as much as the memory cannot hold.
 */
export class NonceMemory {
  /** Timestamp second → the keys accepted with it. */
  readonly #bySecond = new Map<number, Set<string>>();
  #size = 0;
  #floor = Number.NEGATIVE_INFINITY;
  #sweptBelow = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly capacity: number,
    /** Called with how many nonces were forgotten early (pressure). */
    private readonly onEvicted: (n: number) => void = () => {},
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
  }

  /** Nonces held now (at most capacity). */
  get size(): number {
    return this.#size;
  }

  /**
   * Whether a request stamped `second` with `key` may be accepted: `replayed` if it was, `unproven` if it
   * is at or below the floor. Changes nothing.
   */
  check(key: string, second: number): 'replayed' | 'unproven' | undefined {
    if (second <= this.#floor) return 'unproven';
    return this.#bySecond.get(second)?.has(key) ? 'replayed' : undefined;
  }

  /** Remembers an accepted request; `oldestFresh` is the oldest second still inside the window now. */
  remember(key: string, second: number, oldestFresh: number): void {
    this.#forgetBefore(oldestFresh);
    while (this.#size >= this.capacity) this.#evictOldest();
    let keys = this.#bySecond.get(second);
    if (!keys) this.#bySecond.set(second, (keys = new Set()));
    if (!keys.has(key)) {
      keys.add(key);
      this.#size++;
    }
  }

  /** Seconds out of the window are refused as stale before they get here: drop them, no floor needed. */
  #forgetBefore(oldestFresh: number): void {
    if (oldestFresh <= this.#sweptBelow) return;
    this.#sweptBelow = oldestFresh;
    for (const [second, keys] of this.#bySecond) {
      if (second >= oldestFresh) continue;
      this.#size -= keys.size;
      this.#bySecond.delete(second);
    }
  }

  #evictOldest(): void {
    let oldest = Number.POSITIVE_INFINITY;
    for (const second of this.#bySecond.keys()) if (second < oldest) oldest = second;
    const keys = this.#bySecond.get(oldest)!;
    this.#bySecond.delete(oldest);
    this.#size -= keys.size;
    this.#floor = Math.max(this.#floor, oldest);
    this.onEvicted(keys.size);
  }
}
