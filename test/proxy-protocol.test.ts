import t from 'tap';
import { MAX_PROXY_HEADER, parseProxyHeader, ProxyHeaderError } from '../src/proxy-protocol.js';
import { parseCidr, TrustedProxies } from '../src/trusted-proxies.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SIGNATURE = '0d0a0d0a 000d0a51 5549540a';
const HTTP = Buffer.from('POST /acs HTTP/1.1\r\n');

t.test('v2 PROXY over IPv4: the source address and port, and where the application bytes begin', async (t) => {
  // PROXY, TCP over IPv4, 12 address bytes: 203.0.113.7:51234 → 192.0.2.1:7547.
  const header = hex(`${SIGNATURE} 21 11 000c cb007107 c0000201 c822 1d7b`);
  t.same(parseProxyHeader(Buffer.concat([header, HTTP])), { kind: 'header', length: 28, source: { address: '203.0.113.7', port: 51234 } });
});

t.test('v2 PROXY over IPv6, with a TLV after the addresses (skipped); an IPv4-mapped source is the IPv4 address', async (t) => {
  const v6 = hex(`${SIGNATURE} 21 21 002b
    20010db8 00000000 00000000 000000aa  20010db8 00000000 00000000 00000001  1f90 1d7b
    04 0004 74657374`);
  t.same(parseProxyHeader(v6), { kind: 'header', length: 59, source: { address: '2001:db8::aa', port: 8080 } });
  const mapped = hex(`${SIGNATURE} 21 21 0024 00000000 00000000 0000ffff c6336407 00000000 00000000 0000ffff c0000201 0050 1d7b`);
  t.same(parseProxyHeader(mapped), { kind: 'header', length: 52, source: { address: '198.51.100.7', port: 80 } });
});

t.test('v2 LOCAL (a health check), UNSPEC and Unix families: a header without a client address', async (t) => {
  t.same(parseProxyHeader(hex(`${SIGNATURE} 20 00 0000`)), { kind: 'header', length: 16, source: undefined });
  t.same(parseProxyHeader(hex(`${SIGNATURE} 20 11 000c cb007107 c0000201 c822 1d7b`)), { kind: 'header', length: 28, source: undefined }, 'LOCAL ignores the addresses it carries');
  t.same(parseProxyHeader(hex(`${SIGNATURE} 21 00 0000`)), { kind: 'header', length: 16, source: undefined });
  const unix = Buffer.concat([hex(`${SIGNATURE} 21 31 00d8`), Buffer.alloc(216)]);
  t.same(parseProxyHeader(unix), { kind: 'header', length: 232, source: undefined });
});

t.test('truncated headers ask for more; what is not a PROXY header is left to the application', async (t) => {
  const whole = hex(`${SIGNATURE} 21 11 000c cb007107 c0000201 c822 1d7b`);
  for (const n of [1, 5, 12, 15, 16, 27]) t.same(parseProxyHeader(whole.subarray(0, n)), { kind: 'incomplete' }, `${n} bytes`);
  t.same(parseProxyHeader(Buffer.alloc(0)), { kind: 'incomplete' });
  t.same(parseProxyHeader(Buffer.from('PROX')), { kind: 'incomplete' });
  t.same(parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 512')), { kind: 'incomplete' });
  t.same(parseProxyHeader(HTTP), { kind: 'none' }, 'POST: not a header');
  t.same(parseProxyHeader(Buffer.from('P')), { kind: 'incomplete' }, 'P could still be PROXY');
  t.same(parseProxyHeader(hex('16030100')), { kind: 'none' }, 'a TLS ClientHello');
  t.same(parseProxyHeader(hex('0d0a0d0a 0a')), { kind: 'none' }, 'a near miss of the v2 signature');
});

t.test('malformed headers are refused with what is wrong', async (t) => {
  const refuses = (bytes: Buffer, message: RegExp, why: string) => t.throws(() => parseProxyHeader(bytes), { name: 'ProxyHeaderError', message }, why);
  refuses(hex(`${SIGNATURE} 11 11 000c cb007107 c0000201 c822 1d7b`), /version 1/, 'a version nibble other than 2');
  refuses(hex(`${SIGNATURE} 22 11 000c cb007107 c0000201 c822 1d7b`), /unknown command 2/, 'a command other than LOCAL and PROXY');
  refuses(hex(`${SIGNATURE} 21 41 000c cb007107 c0000201 c822 1d7b`), /unknown address family 0x41/, 'family 4');
  refuses(hex(`${SIGNATURE} 21 13 000c cb007107 c0000201 c822 1d7b`), /unknown address family 0x13/, 'transport 3');
  refuses(hex(`${SIGNATURE} 21 21 000c cb007107 c0000201 c822 1d7b`), /too short for its addresses \(12 bytes, 36 needed\)/, 'IPv6 with an IPv4-sized block');
  const oversize = (MAX_PROXY_HEADER - 16 + 1).toString(16).padStart(4, '0');
  refuses(hex(`${SIGNATURE} 21 11 ${oversize}`), /over the limit of 4096/, 'a length field past the bound, refused before its bytes arrive');
  refuses(hex(`${SIGNATURE} 21 11 ffff`), /65551 bytes/, 'the largest length field');
  refuses(Buffer.from('PROXY TCP5 203.0.113.7 192.0.2.1 51234 7547\r\n'), /protocol "TCP5"/, 'v1 protocol');
  refuses(Buffer.from('PROXY TCP4 203.0.113.7 2001:db8::1 51234 7547\r\n'), /malformed PROXY v1/, 'v1 families mixed');
  refuses(Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 65536 7547\r\n'), /malformed PROXY v1/, 'v1 port out of range');
  refuses(Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 51234\r\n'), /malformed PROXY v1/, 'v1 port missing');
  refuses(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), /without CRLF in its first 107 bytes/, 'a v1 line that never ends');
});

t.test('v1 text lines', async (t) => {
  t.same(parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 51234 7547\r\nPOST')), { kind: 'header', length: 45, source: { address: '203.0.113.7', port: 51234 } });
  t.same(parseProxyHeader(Buffer.from('PROXY TCP6 2001:DB8::AA 2001:db8::1 8080 7547\r\n')), { kind: 'header', length: 47, source: { address: '2001:db8::aa', port: 8080 } });
  t.same(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { kind: 'header', length: 15, source: undefined });
  t.ok(new ProxyHeaderError('x') instanceof Error);
});

t.test('trusted proxies: networks of both families, and X-Forwarded-For read from the right past trusted hops', async (t) => {
  t.same(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
  t.same(parseCidr('2001:DB8::/32'), { address: '2001:db8::', prefix: 32, family: 'ipv6' });
  t.same(parseCidr('192.0.2.7'), { address: '192.0.2.7', prefix: 32, family: 'ipv4' });
  for (const bad of ['10.0.0.0/33', '2001:db8::/129', 'proxy.example.net', '10.0.0.0/', '10.0.0.0/08', '']) t.equal(parseCidr(bad), undefined, bad);

  const trusted = new TrustedProxies([parseCidr('10.0.0.0/8')!, parseCidr('2001:db8:1::/48')!]);
  t.ok(trusted.has('10.1.2.3'));
  t.ok(trusted.has('::ffff:10.1.2.3'), 'IPv4-mapped');
  t.ok(trusted.has('2001:db8:1::9'));
  t.notOk(trusted.has('2001:db8:2::9'));
  t.notOk(trusted.has('192.0.2.1'));
  t.notOk(trusted.has('garbage'));

  t.equal(trusted.clientOf('192.0.2.1', '198.51.100.7'), '192.0.2.1', 'an untrusted peer: its header is ignored');
  t.equal(trusted.clientOf('10.0.0.1', undefined), '10.0.0.1', 'a trusted peer without the header');
  t.equal(trusted.clientOf('10.0.0.1', '198.51.100.7'), '198.51.100.7');
  t.equal(trusted.clientOf('10.0.0.1', '203.0.113.66, 198.51.100.7, 10.0.0.2'), '198.51.100.7', 'the rightmost untrusted: what the client wrote at the left does not count');
  t.equal(trusted.clientOf('::ffff:10.0.0.1', '2001:db8:1::5, 10.9.9.9'), '2001:db8:1::5', 'all trusted: the leftmost');
  t.equal(trusted.clientOf('10.0.0.1', 'unknown, 10.0.0.2'), '10.0.0.2', 'not an address: the last trusted hop');
  t.equal(new TrustedProxies([]).clientOf('10.0.0.1', '198.51.100.7'), '10.0.0.1', 'no trusted proxies: never read');
});
