import { createHmac, randomBytes } from 'node:crypto';
import t from 'tap';
import { HmacSha256 } from '../src/hmac-sha256.js';

t.test('RFC 4231 test cases 1, 2 and 6 (a key longer than a block)', async (t) => {
  const hex = (key: Buffer, data: string) => new HmacSha256(key).digest(data).toString('hex');
  t.equal(hex(Buffer.alloc(20, 0x0b), 'Hi There'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7');
  t.equal(hex(Buffer.from('Jefe'), 'what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  t.equal(hex(Buffer.alloc(131, 0xaa), 'Test Using Larger Than Block-Size Key - Hash Key First'), '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54');
});

t.test('equal to createHmac on random keys (0-200 bytes) and messages (0-300 characters, non-ASCII among them)', async (t) => {
  const alphabet = 'abcXYZ019.:-_ é€😀\u0000\n';
  let differ = 0;
  for (let i = 0; i < 20_000; i++) {
    const key = randomBytes(i % 201);
    const chars = Array.from({ length: (i * 7919) % 301 }, () => alphabet[Math.floor(Math.random() * alphabet.length)]!);
    const message = chars.join('');
    const mac = new HmacSha256(key);
    if (!mac.digest(message).equals(createHmac('sha256', key).update(message).digest())) differ++;
    // The same instance again: nothing of one message is left over for the next.
    if (!mac.digest('next').equals(createHmac('sha256', key).update('next').digest())) differ++;
  }
  t.equal(differ, 0);
});
