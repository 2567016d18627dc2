import { createHash } from 'node:crypto';
import t from 'tap';
import { DigestNonces } from '../src/management/digest-nonces.js';
import { CpeHttpAuth, parseAuthorization } from '../src/management/http-auth.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** What a CPE computes from a challenge (RFC 7616, qop=auth; without qop: RFC 2069). */
function digestHeader(challenge: string, username: string, password: string, method: string, uri: string, realmOverride?: string, nc: string | null = '00000001'): string {
  const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
  const realm = realmOverride ?? /realm="([^"]+)"/.exec(challenge)![1]!;
  const cnonce = '0a4f113b';
  const ha1 = md5(`${username}:${realm}:${password}`);
  const ha2 = md5(`${method}:${uri}`);
  if (nc === null) return `Digest username="${username}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${md5(`${ha1}:${nonce}:${ha2}`)}"`;
  const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
  return `Digest username="${username}", realm="${realm}", nonce="${nonce}", uri="${uri}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}"`;
}

t.test('Digest: the right password passes; a wrong one, another realm, a forged nonce fail', async (t) => {
  let now = 1_000_000;
  const auth = new CpeHttpAuth('stbd', () => now);
  const challenge = auth.challenge();
  t.match(challenge, /^Digest realm="stbd", qop="auth", algorithm=MD5, nonce="[^"]+"$/);
  const ok = parseAuthorization(digestHeader(challenge, 'stb-1', 's3cret', 'POST', '/'))!;
  t.equal(ok.username, 'stb-1');
  t.ok(auth.check(ok, 'POST', '/').matches('s3cret'));
  t.notOk(auth.check(ok, 'POST', '/').matches('wrong'));
  t.notOk(auth.check(ok, 'POST', '/other').matches('s3cret'), 'computed for another URI');
  t.notOk(auth.check(parseAuthorization(digestHeader(challenge, 'stb-1', 's3cret', 'POST', '/', 'other'))!, 'POST', '/').matches('s3cret'));
  const forged = challenge.replace(/nonce="([^".]+)\./, 'nonce="zzzz.');
  t.notOk(auth.check(parseAuthorization(digestHeader(forged, 'stb-1', 's3cret', 'POST', '/'))!, 'POST', '/').matches('s3cret'), 'a nonce stbd did not sign');
  t.notOk(new CpeHttpAuth('stbd', () => 1_000_000).check(ok, 'POST', '/').matches('s3cret'), "another process's nonce");
  t.notOk(auth.check(parseAuthorization(digestHeader(challenge, 'stb-1', 's3cret', 'POST', '/', undefined, 'xyz'))!, 'POST', '/').matches('s3cret'), 'an nc that is not hex');
  t.equal(auth.check(ok, 'POST', '/').admit(), 'ok');
  now += 5 * 60_000 + 1;
  const late = parseAuthorization(digestHeader(challenge, 'stb-1', 's3cret', 'POST', '/', undefined, '00000002'))!;
  t.ok(auth.check(late, 'POST', '/').matches('s3cret'), 'an expired nonce with the right response is right...');
  t.equal(auth.check(late, 'POST', '/').admit(), 'stale', '...but stale: the CPE is sent a new one (stale=true)');
  t.match(auth.challenge(true), /, stale=true$/);
});

t.test('Digest: the response is compared as written, in either case, and nothing else passes for it', async (t) => {
  const auth = new CpeHttpAuth('stbd', () => 1_000_000);
  const header = digestHeader(auth.challenge(), 'stb-1', 's3cret', 'POST', '/');
  const right = /response="([0-9a-f]{32})"/.exec(header)![1]!;
  const withResponse = (r: string) => parseAuthorization(header.replace(`response="${right}"`, `response="${r}"`))!;
  t.ok(auth.check(withResponse(right.toUpperCase()), 'POST', '/').matches('s3cret'), 'upper-case hex, as some CPE stacks write it');
  t.notOk(auth.check(withResponse(right.slice(0, 31)), 'POST', '/').matches('s3cret'), 'one digit short');
  t.notOk(auth.check(withResponse(`${right}0`), 'POST', '/').matches('s3cret'), 'one digit more');
  // A character past Latin-1 whose low byte is a hex digit's must not stand for that digit.
  const at = right.search(/[a-f]/);
  const alias = String.fromCharCode(0x100 + right.charCodeAt(at));
  t.notOk(auth.check(withResponse(right.slice(0, at) + alias + right.slice(at + 1)), 'POST', '/').matches('s3cret'), 'a wide character in place of a digit');
  const challenge = auth.challenge();
  const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
  const cut = nonce.lastIndexOf('.') + 1;
  const aliased = nonce.slice(0, cut) + String.fromCharCode(0x100 + nonce.charCodeAt(cut)) + nonce.slice(cut + 1);
  t.ok(auth.check(parseAuthorization(digestHeader(challenge, 'stb-1', 's3cret', 'POST', '/'))!, 'POST', '/').matches('s3cret'));
  t.notOk(auth.check(parseAuthorization(digestHeader(challenge.replace(nonce, aliased), 'stb-1', 's3cret', 'POST', '/'))!, 'POST', '/').matches('s3cret'), "nor in the nonce's signature");
});

t.test('Digest nonces: nc strictly increases; one (nonce, nc) is accepted once', async (t) => {
  const auth = new CpeHttpAuth('stbd', () => 1_000_000);
  const challenge = auth.challenge();
  const withNc = (nc: string) => parseAuthorization(digestHeader(challenge, 'stb-1', 's3cret', 'POST', '/', undefined, nc))!;
  t.equal(auth.check(withNc('00000001'), 'POST', '/').admit(), 'ok');
  t.equal(auth.check(withNc('00000001'), 'POST', '/').admit(), 'replayed', 'the same nc again');
  t.equal(auth.check(withNc('00000002'), 'POST', '/').admit(), 'ok', 'the next nc');
  t.equal(auth.check(withNc('00000001'), 'POST', '/').admit(), 'replayed', 'an older nc');
  t.equal(auth.check(withNc('00000007'), 'POST', '/').admit(), 'ok', 'counts may skip');
  t.equal(auth.check(withNc('00000000'), 'POST', '/').admit(), 'replayed');
  t.equal(auth.check(parseAuthorization(digestHeader(auth.challenge(), 'stb-1', 's3cret', 'POST', '/', undefined, '00000000'))!, 'POST', '/').admit(), 'replayed', 'counts start at 1');
});

t.test('Digest without qop (RFC 2069): refused unless allowed, then each nonce once', async (t) => {
  const strict = new CpeHttpAuth('stbd', () => 0);
  const old = parseAuthorization(digestHeader(strict.challenge(), 'stb-1', 's3cret', 'POST', '/', undefined, null))!;
  t.ok(strict.refusedRfc2069(old));
  t.notOk(strict.check(old, 'POST', '/').matches('s3cret'));
  const lenient = new CpeHttpAuth('stbd', () => 0, { allowRfc2069: true });
  const h = parseAuthorization(digestHeader(lenient.challenge(), 'stb-1', 's3cret', 'POST', '/', undefined, null))!;
  t.notOk(lenient.refusedRfc2069(h));
  t.ok(lenient.check(h, 'POST', '/').matches('s3cret'));
  t.equal(lenient.check(h, 'POST', '/').admit(), 'ok');
  t.equal(lenient.check(h, 'POST', '/').admit(), 'replayed', 'no count to increase: the nonce is spent');
});

t.test('the used-nonce table is bounded; a forgotten nonce is stale, never fresh again', async (t) => {
  let now = 100;
  const nonces = new DigestNonces({ ttlMs: 60_000, capacity: 2, now: () => now });
  const issued = (value: string, issuedAt: number) => ({ value, issuedAt });
  t.equal(nonces.use(issued('n1', 5), 1), 'ok');
  t.equal(nonces.use(issued('n2', 10), 1), 'ok');
  t.equal(nonces.use(issued('n3', 20), 1), 'ok', 'n1 is forgotten');
  t.equal(nonces.size, 2);
  t.equal(nonces.use(issued('n1', 5), 2), 'stale', 'n1 again: stale, not a first use');
  t.equal(nonces.use(issued('n0', 3), 1), 'stale', 'an unused nonce issued before the forgotten one: stale too');
  t.equal(nonces.use(issued('n4', 30), 1), 'ok', 'one issued later is fine');
  now = 60_030;
  t.equal(nonces.use(issued('n4', 30), 2), 'ok', 'up to its lifetime');
  now = 60_031;
  t.equal(nonces.use(issued('n4', 30), 3), 'stale', 'then expired');
  t.equal(nonces.use(issued('n5', 60_000), 1), 'ok');
  t.equal(nonces.use(issued('n6', 60_100), 1), 'stale', 'issued in the future (a forged clock): stale');
  t.throws(() => new DigestNonces({ ttlMs: 1, capacity: 0, now: () => 0 }), RangeError);
});

t.test('Basic, and headers that are not credentials', async (t) => {
  const auth = new CpeHttpAuth('stbd', () => 0);
  const basic = parseAuthorization(`Basic ${Buffer.from('stb-1:pa:ss').toString('base64')}`)!;
  t.same(basic, { scheme: 'basic', username: 'stb-1', password: 'pa:ss' });
  t.ok(auth.check(basic, 'POST', '/').matches('pa:ss'));
  t.notOk(auth.check(basic, 'POST', '/').matches('pa'));
  for (const h of [undefined, '', 'Bearer x', 'Basic bm9jb2xvbg==', 'Digest realm="x"']) t.equal(parseAuthorization(h), undefined, String(h));
  t.same(parseAuthorization('Digest username="a\\"b", uri="/x,y", nc=01')?.username, 'a"b');
});
