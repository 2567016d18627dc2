import { randomBytes, randomInt } from 'node:crypto';
import { crc32 as zlibCrc32 } from 'node:zlib';
import t from 'tap';
import { crc32 } from '../src/stun/crc32.js';

t.test('equals node:zlib on random messages, and with a replaced length word', async (t) => {
  let same = 0;
  for (let k = 0; k < 20_000; k++) {
    const bytes = randomBytes(randomInt(4, 600));
    const end = randomInt(4, bytes.length + 1);
    if (crc32(bytes, end) === zlibCrc32(bytes.subarray(0, end))) same++;
    const length16 = randomInt(0, 0x10000);
    const patched = Buffer.from(bytes.subarray(0, end));
    patched.writeUInt16BE(length16, 2);
    if (crc32(bytes, end, length16) === zlibCrc32(patched)) same++;
  }
  t.equal(same, 40_000, 'every sum matches');
  t.equal(crc32(Buffer.from('123456789'), 9), 0xcbf43926, 'the CRC-32 check value');
  t.equal(crc32(Buffer.alloc(0), 0), 0, 'empty input');
  // Four bytes a step, then the rest one by one: every short length, and every offset of the rest.
  const bytes = randomBytes(16);
  t.same(Array.from({ length: 17 }, (_, end) => crc32(bytes, end)), Array.from({ length: 17 }, (_, end) => zlibCrc32(bytes.subarray(0, end))), 'lengths 0–16');
});
