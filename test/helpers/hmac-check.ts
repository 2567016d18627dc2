import { createHmac } from 'node:crypto';
import { HmacSha1 } from '../../src/stun/hmac-sha1.js';

/** A seeded generator (mulberry32): the same cases on every run of a seed. */
function generator(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}

/**
 * Compares HmacSha1 with node:crypto's createHmac on `cases` random keys (0–100 bytes: longer than a block
 * too) and messages (0–300 bytes, with and without the length word replaced and zero padding), one
 * HmacSha1 reused throughout, the key sometimes kept from the case before (set again, or reused), and
 * sometimes another of the same length. Returns a description of the
 * first difference, or undefined if there was none.
 */
export function sameAsNodeCrypto(cases: number, seed = 17): string | undefined {
  const random = generator(seed);
  const bytes = (n: number) => {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = random(256);
    return b;
  };
  const hmac = new HmacSha1();
  const got = Buffer.alloc(20);
  let key = bytes(20);
  for (let c = 0; c < cases; c++) {
    const r = random(8);
    if (r === 0) key = bytes(random(101));
    else if (r < 4) key = bytes(key.length);
    else if (r < 7) key = bytes(16 + random(17));
    const end = random(3) === 0 ? random(301) : 20 + 4 * random(20);
    const msg = bytes(end + random(8));
    const zeros = random(2) === 0 ? 0 : random(64);
    const length16 = end >= 4 && random(2) === 0 ? random(65536) : -1;
    const hashed = Buffer.from(msg.subarray(0, end));
    if (length16 >= 0) hashed.writeUInt16BE(length16, 2);
    const want = createHmac('sha1', key).update(hashed).update(Buffer.alloc(zeros)).digest();
    (random(2) === 0 ? hmac.setKey(key) : hmac.useKey(key)).macInto(msg, end, length16, zeros, got, 0);
    const flipped = Buffer.from(want);
    flipped[random(20)]! ^= 1 << random(8);
    if (!got.equals(want) || !hmac.matches(msg, end, length16, zeros, want, 0) || hmac.matches(msg, end, length16, zeros, flipped, 0)) {
      return `case ${c} (seed ${seed}): key ${key.toString('hex')}, message ${hashed.toString('hex')} + ${zeros} zeros: ${got.toString('hex')}, createHmac ${want.toString('hex')}`;
    }
  }
  return undefined;
}
