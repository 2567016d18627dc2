/**
 * CRC-32 (ISO-HDLC, the one zlib and RFC 5389's FINGERPRINT use) in JavaScript, byte by byte from a table.
 * For the ~80 bytes of a keepalive a call into node:zlib costs more than the sum itself, and this one can
 * read a STUN header with another length field than the one in the buffer, without copying it.
 * Pure: the table is a constant.
 */
const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/**
 * CRC-32 of `bytes[0, end)`, reading the 16-bit big-endian word at bytes 2–3 as `length16` instead
 * (when ≥ 0; `end` must then be at least 4). Unsigned.
 */
export function crc32(bytes: Uint8Array, end: number, length16 = -1): number {
  let c = -1;
  let i = 0;
  if (length16 >= 0) {
    c = (TABLE[(c ^ (bytes[0] as number)) & 255] as number) ^ (c >>> 8);
    c = (TABLE[(c ^ (bytes[1] as number)) & 255] as number) ^ (c >>> 8);
    c = (TABLE[(c ^ (length16 >>> 8)) & 255] as number) ^ (c >>> 8);
    c = (TABLE[(c ^ length16) & 255] as number) ^ (c >>> 8);
    i = 4;
  }
  for (; i < end; i++) c = (TABLE[(c ^ (bytes[i] as number)) & 255] as number) ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
