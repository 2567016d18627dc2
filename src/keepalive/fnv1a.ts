/** FNV-1a over `buf[start, end)`: cheap, and good enough to hash usernames and transaction ids. */
export function fnv1a(buf: Buffer, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
  return h >>> 0;
}
