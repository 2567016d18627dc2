import t from 'tap';
import {
  ConnectionRequestSequencer,
  encodeConnectionRequest,
  parseConnectionRequest,
  signature,
  verifySignature,
} from '../src/management/udp-connection-request.js';

t.test('the tr111.md §2 example signs as documented', async (t) => {
  const req = { ts: 1700000000, id: 305419896, un: 'stb-0001', cn: '6b2f1d0c9a8e7f31' };
  t.equal(signature(req, 'crpass'), 'e68b7aadec6870a98a0e65d5daace18ec4375887');
  const bytes = encodeConnectionRequest(req, 'crpass', '203.0.113.7', 50123);
  t.equal(
    bytes.toString(),
    'GET http://203.0.113.7:50123?ts=1700000000&id=305419896&un=stb-0001&cn=6b2f1d0c9a8e7f31&sig=e68b7aadec6870a98a0e65d5daace18ec4375887 HTTP/1.1\r\nHost: 203.0.113.7:50123\r\n\r\n',
  );
  const parsed = parseConnectionRequest(bytes);
  t.same(parsed, { ...req, sig: 'e68b7aadec6870a98a0e65d5daace18ec4375887' });
  if ('error' in parsed) throw new Error(parsed.error);
  t.ok(verifySignature(parsed, 'crpass'));
  t.notOk(verifySignature(parsed, 'crpasS'));
  t.notOk(verifySignature({ ...parsed, ts: parsed.ts + 1 }, 'crpass'), 'a changed field breaks the signature');
});

t.test('usernames that need escaping survive the round trip; IPv6 bindings are bracketed', async (t) => {
  const req = { ts: 5, id: 0, un: 'user name&x=1', cn: 'abc' };
  const bytes = encodeConnectionRequest(req, 'pw', '2001:db8::7', 7547);
  t.match(bytes.toString(), /^GET http:\/\/\[2001:db8::7\]:7547\?/);
  t.match(parseConnectionRequest(bytes), { un: 'user name&x=1' });
});

t.test('bad datagrams are reported, not thrown', async (t) => {
  for (const text of ['', 'POST http://x HTTP/1.1\r\n', 'GET /relative HTTP/1.1\r\n', 'GET http://h:1?ts=x&id=1&un=a&cn=b&sig=00 HTTP/1.1\r\n', 'GET http://h:1?ts=1&id=1&un=a&cn=b HTTP/1.1\r\n']) {
    t.match(parseConnectionRequest(Buffer.from(text)), { error: String }, JSON.stringify(text));
  }
});

t.test('ts strictly increases per device, even twice in one second; ids and cnonces are fresh', async (t) => {
  let now = 1_700_000_000_500;
  const seq = new ConnectionRequestSequencer(() => now);
  const a = seq.next('dev-1', 'u');
  const b = seq.next('dev-1', 'u');
  const other = seq.next('dev-2', 'u');
  t.equal(a.ts, 1_700_000_000);
  t.equal(b.ts, 1_700_000_001, 'bumped by one');
  t.equal(other.ts, 1_700_000_000, 'per device');
  now += 10_000;
  t.equal(seq.next('dev-1', 'u').ts, 1_700_000_010, 'back to the clock once it is ahead');
  t.not(a.id, b.id);
  t.not(a.cn, b.cn);
  t.match(a.cn, /^[0-9a-f]{16}$/);
});
