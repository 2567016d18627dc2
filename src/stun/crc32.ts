/**
 * CRC-32 (ISO-HDLC, the one zlib and RFC 5389's FINGERPRINT use) in JavaScript, four bytes a step from four
 * tables ("slicing-by-4", 4 KiB of tables: small enough to stay in cache beside the rest of a keepalive).
 * For the ~80 bytes of a keepalive a call into node:zlib costs more than the sum itself, and this one can
 * read a STUN header with another length field than the one in the buffer, without copying it.
 * Pure: the tables are constants.
 */
const [T0, T1, T2, T3] = (() => {
  const t0 = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t0[n] = c;
  }
  // Each next table: the CRC of a byte followed by one more zero byte.
  const next = (prev: Int32Array) => prev.map((c) => (c >>> 8) ^ (t0[c & 255] as number));
  const t1 = next(t0);
  const t2 = next(t1);
  return [t0, t1, t2, next(t2)] as const;
})();

const step = (c: number, byte: number): number => (T0[(c ^ byte) & 255] as number) ^ (c >>> 8);

/**
 * CRC-32 of `bytes[0, end)`, reading the 16-bit big-endian word at bytes 2–3 as `length16` instead
 * (when ≥ 0; `end` must then be at least 4). Unsigned.
 */
export function crc32(bytes: Uint8Array, end: number, length16 = -1): number {
  let c = -1;
  let i = 0;
  if (length16 >= 0) {
    c = step(c, bytes[0] as number);
    c = step(c, bytes[1] as number);
    c = step(c, (length16 >>> 8) & 255);
    c = step(c, length16 & 255);
    i = 4;
  }
  for (; i + 4 <= end; i += 4) {
    c ^= (bytes[i] as number) | ((bytes[i + 1] as number) << 8) | ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24);
    c = (T3[c & 255] as number) ^ (T2[(c >>> 8) & 255] as number) ^ (T1[(c >>> 16) & 255] as number) ^ (T0[c >>> 24] as number);
  }
  for (; i < end; i++) c = step(c, bytes[i] as number);
  return (c ^ -1) >>> 0;
}
