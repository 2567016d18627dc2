/**
 * One token bucket per key (a source address, say), in a table of fixed capacity. A key that has not
 * been seen, or whose bucket was evicted, starts full: eviction can only forgive, never punish, so a
 * flood of spoofed keys costs the evicted keys at most one extra burst. Pure: no timers, the clock is
 * injected, refill is computed from the elapsed time on each call.
 */
export interface TokenBucketsOptions {
  /** Tokens added per second (may be fractional: 10 a minute is 1/6). */
  readonly ratePerSec: number;
  /** Bucket size: how many takes in a row a quiet key is allowed. */
  readonly burst: number;
  /** Most keys remembered; past it the least recently used key is forgotten. */
  readonly capacity: number;
  /** Milliseconds since the epoch (or any monotonic origin). */
  readonly now: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  readonly #o: TokenBucketsOptions;
  /** Insertion order is recency order: every touch re-inserts, so the first key is the least recent. */
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: TokenBucketsOptions) {
    if (!(options.ratePerSec > 0) || !Number.isFinite(options.ratePerSec)) throw new RangeError('ratePerSec must be a positive number');
    if (!(options.burst >= 1) || !Number.isFinite(options.burst)) throw new RangeError('burst must be at least 1');
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.#o = options;
  }

  /** Takes one token from key's bucket; false (and nothing taken) when it is empty. */
  take(key: string): boolean {
    const bucket = this.#touch(key);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Whether take(key) would succeed now, without taking anything. */
  peek(key: string): boolean {
    return this.#current(key) >= 1;
  }

  /** Milliseconds until key's bucket holds a whole token again (0 when it does now). */
  retryAfterMs(key: string): number {
    const tokens = this.#current(key);
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) / this.#o.ratePerSec) * 1000);
  }

  /** Keys remembered now (at most capacity). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Tokens in key's bucket now, without touching its recency. */
  #current(key: string): number {
    const bucket = this.#buckets.get(key);
    return bucket ? this.#refilled(bucket, this.#o.now()) : this.#o.burst;
  }

  #refilled(bucket: Bucket, now: number): number {
    // A clock that steps back refills nothing rather than draining.
    const elapsedSec = Math.max(0, now - bucket.at) / 1000;
    return Math.min(this.#o.burst, bucket.tokens + elapsedSec * this.#o.ratePerSec);
  }

  #touch(key: string): Bucket {
    const now = this.#o.now();
    let bucket = this.#buckets.get(key);
    if (bucket) {
      bucket.tokens = this.#refilled(bucket, now);
      bucket.at = now;
      this.#buckets.delete(key);
    } else {
      bucket = { tokens: this.#o.burst, at: now };
      if (this.#buckets.size >= this.#o.capacity) this.#buckets.delete(this.#buckets.keys().next().value as string);
    }
    this.#buckets.set(key, bucket);
    return bucket;
  }
}
