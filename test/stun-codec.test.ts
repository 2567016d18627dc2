import { createHash, randomBytes } from 'node:crypto';
import t from 'tap';
import {
  AttributeType,
  decode,
  DecodeError,
  encode,
  INTEGRITY_VARIANTS,
  ipv6ToBytes,
  bytesToIpv6,
  MessageType,
  parseAttributes,
  type StunAttribute,
  type StunPacket,
  verifyIntegrity,
} from '../src/stun/index.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 5769 §2.1–2.4, byte for byte.
const SAMPLE_REQUEST = hex(`
  00010058 2112a442 b7e7a701 bc34d686 fa87dfae
  80220010 5354554e 20746573 7420636c 69656e74
  00240004 6e0001ff
  80290008 932ff9b1 51263b36
  00060009 6576746a 3a683676 59202020
  00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2
  80280004 e57a3bcf`);
const SAMPLE_IPV4_RESPONSE = hex(`
  0101003c 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200008 0001a147 e112a643
  00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
  80280004 c07d4c96`);
const SAMPLE_IPV6_RESPONSE = hex(`
  01010048 2112a442 b7e7a701 bc34d686 fa87dfae
  8022000b 74657374 20766563 746f7220
  00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
  00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
  80280004 c8fb0b4c`);
const SAMPLE_LONG_TERM_REQUEST = hex(`
  00010060 2112a442 78ad3433 c6ad72c0 29da412e
  00060012 e3839ee3 8388e383 aae38383 e382afe3 82b90000
  0015001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679 36347341
  0014000b 6578616d 706c652e 6f726700
  00080014 f6702465 6dd64a3e 02b8e071 2e85c9a2 8ca89666`);
const SHORT_TERM_PASSWORD = 'VOkJxbRl1RmTxUk/WvJxBt';

function decoded(bytes: Buffer): StunPacket {
  const p = decode(bytes);
  if (p instanceof DecodeError) throw new Error(`decode failed: ${p.code} ${p.detail}`);
  return p;
}
function attrs(p: StunPacket): StunAttribute[] {
  const a = parseAttributes(p);
  if (a instanceof DecodeError) throw new Error(`attributes failed: ${a.code}`);
  return a;
}
/** Re-encodes a decoded vector from its parsed attributes (MESSAGE-INTEGRITY and FINGERPRINT recomputed). */
function reencode(p: StunPacket, key: Buffer | string, padding: number): Buffer {
  const body = attrs(p).filter((a) => a.kind !== 'MESSAGE-INTEGRITY' && a.kind !== 'FINGERPRINT');
  const fp = attrs(p).some((a) => a.kind === 'FINGERPRINT');
  return encode({ type: p.type, transactionId: p.transactionId, attributes: body, integrity: { key, variant: 'rfc5389' }, fingerprint: fp, padding });
}

t.test('RFC 5769 §2.1 sample request', async (t) => {
  const p = decoded(SAMPLE_REQUEST);
  t.equal(p.dialect, 'rfc5389');
  t.equal(p.type, MessageType.BindingRequest);
  const a = attrs(p);
  t.same(a[0], { kind: 'SOFTWARE', value: 'STUN test client' });
  t.same(a[3], { kind: 'USERNAME', value: 'evtj:h6vY' });
  t.equal(verifyIntegrity(p, SHORT_TERM_PASSWORD), 'rfc5389');
  t.equal(verifyIntegrity(p, 'wrong'), undefined);
  t.same(reencode(p, SHORT_TERM_PASSWORD, 0x20), SAMPLE_REQUEST, 'encodes back byte for byte');
});

t.test('RFC 5769 §2.2 sample IPv4 response', async (t) => {
  const p = decoded(SAMPLE_IPV4_RESPONSE);
  t.equal(p.type, MessageType.BindingSuccess);
  t.same(attrs(p)[1], { kind: 'XOR-MAPPED-ADDRESS', address: { family: 'IPv4', address: '192.0.2.1', port: 32853 } });
  t.equal(verifyIntegrity(p, SHORT_TERM_PASSWORD), 'rfc5389');
  t.same(reencode(p, SHORT_TERM_PASSWORD, 0x20), SAMPLE_IPV4_RESPONSE);
});

t.test('RFC 5769 §2.3 sample IPv6 response', async (t) => {
  const p = decoded(SAMPLE_IPV6_RESPONSE);
  t.same(attrs(p)[1], { kind: 'XOR-MAPPED-ADDRESS', address: { family: 'IPv6', address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 } });
  t.equal(verifyIntegrity(p, SHORT_TERM_PASSWORD), 'rfc5389');
  t.same(reencode(p, SHORT_TERM_PASSWORD, 0x20), SAMPLE_IPV6_RESPONSE);
});

t.test('RFC 5769 §2.4 sample request with long-term authentication', async (t) => {
  const p = decoded(SAMPLE_LONG_TERM_REQUEST);
  const a = attrs(p);
  t.same(a[0], { kind: 'USERNAME', value: '\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9' });
  t.same(a[2], { kind: 'OTHER', type: 0x0014, value: Buffer.from('example.org') });
  // Long-term key: MD5(username ":" realm ":" SASLprep(password)).
  const key = createHash('md5').update('\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9:example.org:TheMatrIX').digest();
  t.equal(verifyIntegrity(p, key), 'rfc5389');
  t.same(reencode(p, key, 0x00), SAMPLE_LONG_TERM_REQUEST);
});

t.test('a corrupted fingerprint is refused', async (t) => {
  const bytes = Buffer.from(SAMPLE_REQUEST);
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
  t.match(decode(bytes), { code: 'bad-fingerprint' });
  const flipped = Buffer.from(SAMPLE_REQUEST);
  flipped[30] = (flipped[30] as number) ^ 1;
  t.match(decode(flipped), { code: 'bad-fingerprint' }, 'any change in the body breaks it');
});

t.test('the tr111.md §1 example: RFC 3489, space-padded USERNAME, CONNECTION-REQUEST-BINDING', async (t) => {
  const p = decoded(hex(`00010028 00112233 44556677 8899aabb ccddeeff
    0006000c 7374756e 2d757365 72202020
    c0010014 64736c66 6f72756d 2e6f7267 2f54522d 31313120`));
  t.equal(p.dialect, 'rfc3489');
  t.same(p.transactionId, hex('00112233445566778899aabbccddeeff'));
  t.same(attrs(p), [
    { kind: 'USERNAME', value: 'stun-user   ' },
    { kind: 'CONNECTION-REQUEST-BINDING', value: 'dslforum.org/TR-111 ' },
  ]);
  t.equal(p.integrityIndex, -1);
});

t.test('each MESSAGE-INTEGRITY variant of tr111.md §1 is recognised, and only with the right key', async (t) => {
  const id = hex('00112233445566778899aabbccddeeff');
  for (const variant of INTEGRITY_VARIANTS) {
    const bytes = encode({
      type: MessageType.BindingRequest,
      transactionId: id,
      attributes: [{ kind: 'USERNAME', value: 'stb-0001' }, { kind: 'CONNECTION-REQUEST-BINDING', value: 'dslforum.org/TR-111 ' }, { kind: 'BINDING-CHANGE' }],
      integrity: { key: 'secret', variant },
    });
    const p = decoded(bytes);
    t.equal(verifyIntegrity(p, 'secret'), variant, `${variant} found`);
    t.equal(verifyIntegrity(p, 'secret', [variant]), variant, `${variant} found first when tried first`);
    t.equal(verifyIntegrity(p, 'Secret'), undefined, `${variant}: wrong key refused`);
    const others = INTEGRITY_VARIANTS.filter((v) => v !== variant);
    t.equal(verifyIntegrity(p, 'secret', others), undefined, `${variant} is not mistaken for another variant`);
  }
});

t.test('every attribute round-trips', async (t) => {
  const all: StunAttribute[] = [
    { kind: 'MAPPED-ADDRESS', address: { family: 'IPv4', address: '203.0.113.7', port: 50123 } },
    { kind: 'MAPPED-ADDRESS', address: { family: 'IPv6', address: '2001:db8::7', port: 1 } },
    { kind: 'XOR-MAPPED-ADDRESS', address: { family: 'IPv4', address: '198.51.100.254', port: 65535 } },
    { kind: 'XOR-MAPPED-ADDRESS', address: { family: 'IPv6', address: '::ffff:192.0.2.1', port: 3478 } },
    { kind: 'USERNAME', value: 'stb-0001' },
    { kind: 'ERROR-CODE', code: 401, reason: 'Unauthorized' },
    { kind: 'ERROR-CODE', code: 420, reason: '' },
    { kind: 'UNKNOWN-ATTRIBUTES', types: [0x0024, 0x7fff, 0x0015] },
    { kind: 'SOFTWARE', value: 'stbd 0.1 ✓' },
    { kind: 'CHANGE-REQUEST', changeIp: true, changePort: false },
    { kind: 'CHANGE-REQUEST', changeIp: false, changePort: true },
    { kind: 'CONNECTION-REQUEST-BINDING', value: 'dslforum.org/TR-111 ' },
    { kind: 'BINDING-CHANGE' },
    { kind: 'OTHER', type: 0x8055, value: Buffer.from([1, 2, 3]) },
  ];
  for (const transactionId of [hex('2112a442 000102030405060708090a0b'), randomBytes(16)]) {
    const bytes = encode({ type: MessageType.BindingSuccess, transactionId, attributes: all, integrity: { key: 'k', variant: 'rfc5389' }, fingerprint: true });
    const p = decoded(bytes);
    const back = attrs(p);
    t.same(back.slice(0, all.length), all);
    t.same(back.slice(all.length).map((a) => a.kind), ['MESSAGE-INTEGRITY', 'FINGERPRINT']);
    t.equal(verifyIntegrity(p, 'k'), 'rfc5389');
  }
  // Answers come from Node's shared buffer pool, which holds whatever was there before: every byte is written,
  // the padding after each value too (a padding byte other than 0 shows which were).
  for (let round = 0; round < 16; round++) {
    const bytes = encode({ type: MessageType.BindingSuccess, transactionId: randomBytes(16), attributes: all, fingerprint: true, padding: 0x20 });
    const unpadded = decoded(bytes).attributes.flatMap((a) => Array.from({ length: ((a.length + 3) & ~3) - a.length }, (_, k) => a.offset + a.length + k)).filter((i) => bytes[i] !== 0x20);
    t.same(unpadded, [], 'every padding byte is the one asked for');
    t.same(attrs(decoded(bytes)).slice(0, all.length), all);
  }
});

t.test('IPv6 text ⇄ bytes', async (t) => {
  const cases: [string, string][] = [
    ['2001:db8::1', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::1:0:0:1', 'fe80::1:0:0:1'],
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['::ffff:c000:201', '::ffff:192.0.2.1'],
  ];
  for (const [text, canonical] of cases) t.equal(bytesToIpv6(ipv6ToBytes(text)!), canonical, text);
  t.equal(ipv6ToBytes('1.2.3.4'), undefined);
});

t.test('decoding never throws: malformed input gets a typed error', async (t) => {
  t.match(decode(Buffer.alloc(0)), { code: 'too-short' });
  t.match(decode(Buffer.alloc(19)), { code: 'too-short' });
  t.match(decode(hex('c001 0000 2112a442 000000000000000000000000')), { code: 'not-stun' });
  t.match(decode(hex('0001 0008 2112a442 000000000000000000000000')), { code: 'truncated' });
  t.match(decode(hex('0001 0002 2112a442 000000000000000000000000 0000')), { code: 'bad-attribute-length' });
  t.match(decode(hex('0001 0008 2112a442 000000000000000000000000 0006 0008 0000 0000')), { code: 'truncated' });
  t.match(decode(hex('0001 000c 2112a442 000000000000000000000000 8028 0004 00000000 c002 0000')), { code: 'attribute-after-fingerprint' });
  // An RFC 3489 agent that does not pad is still understood.
  const unpadded = decoded(hex('0001 0009 00112233445566778899aabbccddeeff 0006 0005 68656c6c6f'));
  t.same(attrs(unpadded), [{ kind: 'USERNAME', value: 'hello' }]);
  // Trailing bytes after the declared length are not part of the message.
  t.equal(decoded(Buffer.concat([hex('0001 0000 2112a442 000000000000000000000000'), Buffer.from('junk')])).bytes.length, 20);

  const seeds = [SAMPLE_REQUEST, SAMPLE_IPV4_RESPONSE, SAMPLE_IPV6_RESPONSE, SAMPLE_LONG_TERM_REQUEST];
  let messages = 0;
  for (let i = 0; i < 100_000; i++) {
    let bytes: Buffer;
    if (i % 2 === 0) {
      bytes = randomBytes(i % 120);
    } else {
      bytes = Buffer.from(seeds[i % seeds.length] as Buffer);
      for (let k = 0; k < 1 + (i % 4); k++) bytes[(i * 7919 + k * 104729) % bytes.length] = (i * 31 + k) & 0xff;
      if (i % 3 === 0) bytes = bytes.subarray(0, i % bytes.length);
    }
    const p = decode(bytes);
    if (!(p instanceof DecodeError)) {
      messages++;
      parseAttributes(p);
      verifyIntegrity(p, SHORT_TERM_PASSWORD);
    }
  }
  t.ok(messages > 0, `${messages} of 100,000 random or mutated datagrams still decoded, none threw`);
});

t.test('attribute type constants match the registries', async (t) => {
  t.equal(AttributeType.CONNECTION_REQUEST_BINDING, 0xc001);
  t.equal(AttributeType.BINDING_CHANGE, 0xc002);
  t.equal(AttributeType.XOR_MAPPED_ADDRESS, 0x0020);
});
