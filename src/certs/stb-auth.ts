import { createHmac, timingSafeEqual } from 'node:crypto';
import { NonceMemory } from './nonce-memory.js';

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

/** `unproven-fresh`: within the window, but older than what the full nonce memory still remembers. */
export type StbAuthFailure = 'bad-mac' | 'stale' | 'replayed' | 'unproven-fresh';

export interface StbAuthOptions {
  /** How far an STB's timestamp may be from the proxy's clock, either way. */
  readonly windowMs: number;
  /** Most nonces remembered (see NonceMemory). */
  readonly nonceCapacity: number;
  readonly onNoncesEvicted?: (n: number) => void;
}

/**
 * Checks STB proofs: the MAC in constant time, the timestamp within ±`windowMs` of now, and the nonce not
 * seen before from that STB while its timestamp is within the window (in bounded memory).
 */
export class StbAuthenticator {
  readonly #nonces: NonceMemory;

  constructor(
    private readonly nowMs: () => number,
    private readonly o: StbAuthOptions,
  ) {
    this.#nonces = new NonceMemory(o.nonceCapacity, o.onNoncesEvicted);
  }

  /**
   * A failure, `refused` when the proof holds but `admit` (asked last, e.g. a rate limit) says no, or
   * undefined: accepted, and its nonce remembered. A refused request leaves no nonce behind.
   */
  check(p: StbProof, secret: string, admit: () => boolean = () => true): StbAuthFailure | 'refused' | undefined {
    const now = this.nowMs();
    const expected = Buffer.from(stbMac(secret, p), 'hex');
    const given = Buffer.from(/^[0-9a-f]{64}$/.test(p.mac) ? p.mac : '', 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad-mac';
    if (Math.abs(now - p.timestamp * 1000) > this.o.windowMs) return 'stale';
    const key = `${p.stbId}\0${p.nonce}`;
    const seen = this.#nonces.check(key, p.timestamp);
    if (seen !== undefined) return seen === 'replayed' ? 'replayed' : 'unproven-fresh';
    if (!admit()) return 'refused';
    this.#nonces.remember(key, p.timestamp, Math.ceil((now - this.o.windowMs) / 1000));
    return undefined;
  }
}
