import { createHash, createHmac } from 'node:crypto';
import t from 'tap';
import { decode, DecodeError, encode, HmacSha1, MessageType, verifyIntegrity } from '../src/stun/index.js';
import { sameAsNodeCrypto } from './helpers/hmac-check.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const mac = (hmac: HmacSha1, data: Buffer) => {
  const out = Buffer.alloc(20);
  hmac.macInto(data, data.length, -1, 0, out, 0);
  return out.toString('hex');
};

t.test('the RFC 2202 HMAC-SHA1 test cases, keys of 20 to 80 bytes', async (t) => {
  const cases: [Buffer, Buffer, string][] = [
    [Buffer.alloc(20, 0x0b), Buffer.from('Hi There'), 'b617318655057264e28bc0b6fb378c8ef146be00'],
    [Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'), 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79'],
    [Buffer.alloc(20, 0xaa), Buffer.alloc(50, 0xdd), '125d7342b9ac11cd91a39af48aa17b4f63f175d3'],
    [hex('0102030405060708090a0b0c0d0e0f10111213141516171819'), Buffer.alloc(50, 0xcd), '4c9007f4026250c6bc8414f9bf50c86c2d7235da'],
    [Buffer.alloc(20, 0x0c), Buffer.from('Test With Truncation'), '4c1a03424b55e07fe7f27be1d58bb9324a9a5a04'],
    [Buffer.alloc(80, 0xaa), Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First'), 'aa4ae5e15272d00e95705637ce8a3b55ed402112'],
    [Buffer.alloc(80, 0xaa), Buffer.from('Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data'), 'e8e99d0f45237d786d6bbaa7965c7808bbff1a91'],
  ];
  const hmac = new HmacSha1();
  for (const [key, data, want] of cases) {
    t.equal(mac(hmac.setKey(key), data), want, `${key.length}-byte key, ${data.length}-byte data`);
    t.equal(mac(hmac.useKey(key), data), want, 'again with the key kept');
  }
});

t.test('equal to node:crypto on 200,000 random keys and messages (bench:hmac --check N for millions)', async (t) => {
  t.equal(sameAsNodeCrypto(200_000), undefined);
});

t.test('a key replaced by another of the same length is used, not the one before', async (t) => {
  const hmac = new HmacSha1();
  const data = Buffer.from('keepalive');
  for (const key of ['password-one', 'password-two', 'password-one']) {
    t.equal(mac(hmac.useKey(Buffer.from(key)), data), createHmac('sha1', key).update(data).digest('hex'), key);
  }
});

t.test('one HmacSha1 checks and signs STUN messages in every layout, as node:crypto does', async (t) => {
  const hmac = new HmacSha1();
  // RFC 5769 §2.4's long-term key: MD5(username ":" realm ":" password), 16 bytes.
  const keys = ['VOkJxbRl1RmTxUk/WvJxBt', createHash('md5').update('user:example.org:TheMatrIX').digest()];
  for (const key of keys) {
    for (const variant of ['rfc5389', 'rfc3489', 'zero-length'] as const) {
      for (const username of ['a', 'stb-0001', 'x'.repeat(61)]) {
        const bytes = encode({ type: MessageType.BindingRequest, transactionId: Buffer.alloc(16, 7), attributes: [{ kind: 'USERNAME', value: username }], integrity: { key, variant, hmac } });
        const packet = decode(bytes);
        if (packet instanceof DecodeError) throw new Error(packet.detail);
        // The reference: node:crypto over the text as the variant lays it out.
        const miStart = bytes.length - 24;
        const text = Buffer.from(bytes.subarray(0, miStart));
        text.writeUInt16BE(variant === 'zero-length' ? 0 : bytes.length - 20, 2);
        const zeros = variant === 'rfc3489' && miStart % 64 !== 0 ? 64 - (miStart % 64) : 0;
        const want = createHmac('sha1', key).update(text).update(Buffer.alloc(zeros)).digest();
        t.same(bytes.subarray(miStart + 4), want, `${variant}, ${miStart}-byte text`);
        t.equal(verifyIntegrity(packet, key, [variant], hmac), variant);
        t.equal(verifyIntegrity(packet, 'wrong', [variant], hmac), undefined, 'a wrong key does not pass');
      }
    }
  }
});
