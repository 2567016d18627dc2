import { BoundedTable } from '../rate-limit/bounded-table.js';

/**
 * The memory of Digest nonces that have been used (RFC 7616 §3.3: the server checks the nonce count).
 * A nonce is signed by stbd and carries its issue time, so issuing one costs no memory (a flood of 401
 * challenges fills nothing); a nonce is remembered from its first accepted use, and only for its lifetime.
 *
 * Rules, for a nonce whose response was right for the password:
 * - its `nc` must be greater than any `nc` accepted with it before: one (nonce, nc) is accepted once,
 *   from any connection, so the same Authorization again (with another body, or elsewhere) is refused;
 * - expired, or forgotten because the table was full, it is stale: the CPE gets a new one (stale=true).
 *
 * The table has a fixed capacity; past it the nonce first used longest ago is forgotten, and every nonce
 * issued up to that one's issue time is stale from then on (a forgotten nonce must never look unused).
 */
export type NonceVerdict = 'ok' | 'stale' | 'replayed';

export interface IssuedNonce {
  /** The nonce as the CPE sent it (the table's key). */
  readonly value: string;
  /** When stbd issued it (ms). */
  readonly issuedAt: number;
}

interface Use {
  readonly issuedAt: number;
  nc: number;
}

export interface DigestNoncesOptions {
  readonly ttlMs: number;
  readonly capacity: number;
  readonly now: () => number;
}

export class DigestNonces {
  readonly #o: DigestNoncesOptions;
  /** In order of first use: the head is the oldest. */
  readonly #uses = new BoundedTable<Use>();
  /** Nonces issued at or before this time and not in the table were forgotten: stale. */
  #floor = -Infinity;

  constructor(options: DigestNoncesOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.#o = options;
  }

  /** Is this use of the nonce, with this nc, acceptable? Remembered when it is. */
  use(nonce: IssuedNonce, nc: number): NonceVerdict {
    const now = this.#o.now();
    this.#expire(now);
    const age = now - nonce.issuedAt;
    if (age < 0 || age > this.#o.ttlMs) return 'stale';
    const known = this.#uses.get(nonce.value);
    if (known) {
      if (nc <= known.nc) return 'replayed';
      known.nc = nc;
      return 'ok';
    }
    if (nonce.issuedAt <= this.#floor) return 'stale';
    if (nc < 1) return 'replayed';
    if (this.#uses.size >= this.#o.capacity) this.#forgetOldest();
    this.#uses.set(nonce.value, { issuedAt: nonce.issuedAt, nc });
    return 'ok';
  }

  /** Nonces remembered now (at most capacity). */
  get size(): number {
    return this.#uses.size;
  }

  /** Drops expired uses from the head (first uses come soon after issue, so the head is about the oldest). */
  #expire(now: number): void {
    for (let o = this.#uses.oldest(); o && now - o[1].issuedAt > this.#o.ttlMs; o = this.#uses.oldest()) this.#uses.shift();
  }

  #forgetOldest(): void {
    const [, use] = this.#uses.oldest()!;
    this.#uses.shift();
    this.#floor = Math.max(this.#floor, use.issuedAt);
  }
}
