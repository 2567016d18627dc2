import { createHmac, timingSafeEqual } from 'node:crypto';

/** What an STB sends to prove who it is (seed 002 steps 2–3). */
export interface StbProof {
  readonly stbId: string;
  readonly certId: string;
  /** Unix seconds. */
  readonly timestamp: number;
  readonly nonce: string;
  /** Lowercase hex HMAC-SHA256(key = device secret, text = stbId "|" certId "|" timestamp "|" nonce). */
  readonly mac: string;
}

export const stbMac = (secret: string, p: Omit<StbProof, 'mac'>): string =>
  createHmac('sha256', secret).update(`${p.stbId}|${p.certId}|${p.timestamp}|${p.nonce}`).digest('hex');

export type StbAuthFailure = 'bad-mac' | 'stale' | 'replayed';

/**
 * Checks STB proofs: the MAC in constant time, the timestamp within ±`windowMs` of now, and the nonce not
 * seen before from that STB within the window (nonces are remembered for twice the window, in memory).
 */
export class StbAuthenticator {
  readonly #seen = new Map<string, number>();
  #sweepAt = 0;

  constructor(
    private readonly nowMs: () => number,
    private readonly windowMs = 5 * 60_000,
  ) {}

  check(p: StbProof, secret: string): StbAuthFailure | undefined {
    const now = this.nowMs();
    const expected = Buffer.from(stbMac(secret, p), 'hex');
    const given = Buffer.from(/^[0-9a-f]{64}$/.test(p.mac) ? p.mac : '', 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad-mac';
    if (Math.abs(now - p.timestamp * 1000) > this.windowMs) return 'stale';
    this.#sweep(now);
    const key = `${p.stbId}\0${p.nonce}`;
    if (this.#seen.has(key)) return 'replayed';
    this.#seen.set(key, now + 2 * this.windowMs);
    return undefined;
  }

  #sweep(now: number): void {
    if (now < this.#sweepAt) return;
    this.#sweepAt = now + 10_000;
    for (const [k, until] of this.#seen) if (until <= now) this.#seen.delete(k);
  }
}
