/**
 * HMAC-SHA1 (RFC 2104) for MESSAGE-INTEGRITY, in JavaScript over preallocated words: no allocation and no
 * call into node:crypto per message. For a STUN keepalive `createHmac` spends most of its ~3 µs on the
 * per-call overhead (a native object, several calls across the boundary); the hash itself is three SHA-1
 * blocks (an 84-byte message: two inner blocks, one outer) plus two to key it.
 * HMAC(K, m) = H((K ^ opad) || H((K ^ ipad) || m)): the two keyed states (the "midstates" after the first
 * block of each hash) are kept for the current key, so a request checked and answered with one device's
 * password derives them once. Nothing per device is kept: at a million devices 40 bytes each would be
 * 40 MB, and a device sends one signed keepalive per period, so a bounded cache would rarely hit.
 *
 * One instance per thread that uses it (it is scratch space); pure: no I/O, no clock.
 */
import { compressBlock } from './sha1-block.js';

const IV = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0] as const;
const BLOCK = 64;
/** The words of an outer-hash block after the 20-byte inner digest: 0x80, zeros, the bit length (64 + 20) * 8. */
const OUTER_BITS = (BLOCK + 20) * 8;

export class HmacSha1 {
  /** The block being compressed, as 16 big-endian words. */
  readonly #w = new Int32Array(16);
  /** The last (padded) blocks of a message: at most 63 bytes of it, 63 zeros, 0x80 and the length. */
  readonly #tail = new Uint8Array(3 * BLOCK);
  readonly #inner = new Int32Array(5);
  readonly #outer = new Int32Array(5);
  readonly #h = new Int32Array(5);
  /** The key the midstates are of (keys up to one block; longer ones are not remembered). */
  readonly #key = new Uint8Array(BLOCK);
  #keyLength = -1;

  /**
   * Makes `key` the current key (RFC 2104: a key longer than 64 bytes is hashed first), deriving its keyed
   * states every time: what checking a request costs must not depend on the request before it.
   */
  setKey(key: Uint8Array): this {
    return this.#derive(key);
  }

  /**
   * The same, but cheap when `key` is already the current key (signing the answer to a request just
   * checked with it). The bytes are compared in constant time for keys of one length.
   */
  useKey(key: Uint8Array): this {
    if (key.length <= BLOCK && key.length === this.#keyLength) {
      let diff = 0;
      for (let i = 0; i < key.length; i++) diff |= (key[i] as number) ^ (this.#key[i] as number);
      if (diff === 0) return this;
    }
    return this.#derive(key);
  }

  #derive(key: Uint8Array): this {
    const block = this.#tail;
    if (key.length > BLOCK) {
      this.#sha1(key, block);
      block.fill(0, 20, BLOCK);
      this.#keyLength = -1;
    } else {
      block.fill(0, 0, BLOCK);
      block.set(key);
      this.#key.set(key);
      this.#keyLength = key.length;
    }
    this.#keyed(block, 0x36, this.#inner);
    this.#keyed(block, 0x5c, this.#outer);
    return this;
  }

  /**
   * HMAC with the current key over `msg[0, end)` followed by `zeros` zero bytes (0–63), where the 16-bit
   * word at bytes 2–3 is read as `length16` instead when that is ≥ 0 (STUN hashes its header with a length
   * other than the one on the wire). The 20 bytes go to `out[at, at + 20)`.
   */
  macInto(msg: Uint8Array, end: number, length16: number, zeros: number, out: Uint8Array, at: number): void {
    this.#mac(msg, end, length16, zeros);
    const h = this.#h;
    for (let i = 0; i < 5; i++) {
      const v = h[i] as number;
      out[at + 4 * i] = v >>> 24;
      out[at + 4 * i + 1] = (v >>> 16) & 255;
      out[at + 4 * i + 2] = (v >>> 8) & 255;
      out[at + 4 * i + 3] = v & 255;
    }
  }

  /** Whether that HMAC equals `expected[at, at + 20)`; constant time. */
  matches(msg: Uint8Array, end: number, length16: number, zeros: number, expected: Uint8Array, at: number): boolean {
    this.#mac(msg, end, length16, zeros);
    const h = this.#h;
    let diff = 0;
    for (let i = 0; i < 5; i++) diff |= (h[i] as number) ^ word(expected, at + 4 * i);
    return diff === 0;
  }

  #mac(msg: Uint8Array, end: number, length16: number, zeros: number): void {
    if (!(zeros >= 0 && zeros < BLOCK)) throw new RangeError('zeros must be 0–63');
    if (end > msg.length || end < 0) throw new RangeError('end is outside the message');
    const h = this.#h;
    h.set(this.#inner);
    this.#absorb(h, msg, end, length16, zeros, BLOCK);
    const w = this.#w;
    for (let i = 0; i < 5; i++) w[i] = h[i] as number;
    w[5] = 0x80000000 | 0;
    w.fill(0, 6, 15);
    w[15] = OUTER_BITS;
    h.set(this.#outer);
    compressBlock(h, w);
  }

  /** The midstate after one block of `key ^ pad` (key zero-padded in `block`). */
  #keyed(block: Uint8Array, pad: number, into: Int32Array): void {
    const w = this.#w;
    const p = pad * 0x01010101;
    for (let i = 0; i < 16; i++) w[i] = word(block, 4 * i) ^ p;
    for (let i = 0; i < 5; i++) into[i] = IV[i] as number;
    compressBlock(into, w);
  }

  /** Plain SHA-1 of `data` into `out[0, 20)` (keys longer than a block). */
  #sha1(data: Uint8Array, out: Uint8Array): void {
    const h = this.#h;
    for (let i = 0; i < 5; i++) h[i] = IV[i] as number;
    this.#absorb(h, data, data.length, -1, 0, 0);
    for (let i = 0; i < 5; i++) {
      const v = h[i] as number;
      out[4 * i] = v >>> 24;
      out[4 * i + 1] = (v >>> 16) & 255;
      out[4 * i + 2] = (v >>> 8) & 255;
      out[4 * i + 3] = v & 255;
    }
  }

  /**
   * Runs `msg[0, end)` + `zeros` zero bytes, with the SHA-1 padding, through the compression from state
   * `h`, `prefix` bytes having been hashed before (the keyed block).
   */
  #absorb(h: Int32Array, msg: Uint8Array, end: number, length16: number, zeros: number, prefix: number): void {
    const w = this.#w;
    let p = 0;
    for (; p + BLOCK <= end; p += BLOCK) {
      for (let i = 0; i < 16; i++) w[i] = word(msg, p + 4 * i);
      if (p === 0 && length16 >= 0) w[0] = ((w[0] as number) & 0xffff0000) | (length16 & 0xffff);
      compressBlock(h, w);
    }
    const tail = this.#tail;
    const rest = end - p;
    const n = rest + zeros;
    const blocks = n + 9 <= BLOCK ? 1 : n + 9 <= 2 * BLOCK ? 2 : 3;
    for (let i = 0; i < rest; i++) tail[i] = msg[p + i] as number;
    if (p === 0 && length16 >= 0 && rest >= 4) {
      tail[2] = (length16 >>> 8) & 255;
      tail[3] = length16 & 255;
    }
    tail.fill(0, rest, blocks * BLOCK);
    tail[n] = 0x80;
    const bits = (prefix + end + zeros) * 8;
    const last = blocks * BLOCK - 8;
    const hi = Math.floor(bits / 0x100000000);
    tail[last] = hi >>> 24;
    tail[last + 1] = (hi >>> 16) & 255;
    tail[last + 2] = (hi >>> 8) & 255;
    tail[last + 3] = hi & 255;
    tail[last + 4] = bits >>> 24;
    tail[last + 5] = (bits >>> 16) & 255;
    tail[last + 6] = (bits >>> 8) & 255;
    tail[last + 7] = bits & 255;
    for (let b = 0; b < blocks; b++) {
      for (let i = 0; i < 16; i++) w[i] = word(tail, b * BLOCK + 4 * i);
      compressBlock(h, w);
    }
  }
}

/** The big-endian 32-bit word at `bytes[at, at + 4)`, as an int32. */
function word(bytes: Uint8Array, at: number): number {
  return ((bytes[at] as number) << 24) | ((bytes[at + 1] as number) << 16) | ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number);
}
