import { createHash } from 'node:crypto';
import t from 'tap';
import { CpeHttpAuth, parseAuthorization } from '../src/management/http-auth.js';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** What a CPE computes from a challenge (RFC 7616, qop=auth). */
function digestHeader(challenge: string, username: string, password: string, method: string, uri: string, realmOverride?: string): string {
  const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
  const realm = realmOverride ?? /realm="([^"]+)"/.exec(challenge)![1]!;
  const cnonce = '0a4f113b';
  const nc = '00000001';
  const response = md5(`${md5(`${username}:${realm}:${password}`)}:${nonce}:${nc}:${cnonce}:auth:${md5(`${method}:${uri}`)}`);
  return `Digest username="${username}", realm="${realm}", nonce="${nonce}", uri="${uri}", algorithm=MD5, qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}"`;
}

t.test('Digest: the right password passes; a wrong one, another realm, a forged or stale nonce fail', async (t) => {
  let now = 1_000_000;
  const auth = new CpeHttpAuth('stbd', () => now);
  const challenge = auth.challenge();
  t.match(challenge, /^Digest realm="stbd", qop="auth", algorithm=MD5, nonce="[^"]+"$/);
  const ok = parseAuthorization(digestHeader(challenge, 'stb-1', 's3cret', 'POST', '/'))!;
  t.equal(ok.username, 'stb-1');
  t.ok(auth.verify(ok, 's3cret', 'POST', '/'));
  t.notOk(auth.verify(ok, 'wrong', 'POST', '/'));
  t.notOk(auth.verify(ok, 's3cret', 'POST', '/other'), 'computed for another URI');
  t.notOk(auth.verify(parseAuthorization(digestHeader(challenge, 'stb-1', 's3cret', 'POST', '/', 'other'))!, 's3cret', 'POST', '/'));
  const forged = challenge.replace(/nonce="([^".]+)\./, 'nonce="zzzz.');
  t.notOk(auth.verify(parseAuthorization(digestHeader(forged, 'stb-1', 's3cret', 'POST', '/'))!, 's3cret', 'POST', '/'), 'a nonce stbd did not sign');
  now += 5 * 60_000 + 1;
  t.notOk(auth.verify(ok, 's3cret', 'POST', '/'), 'a stale nonce');
  t.notOk(new CpeHttpAuth('stbd', () => 1_000_000).verify(ok, 's3cret', 'POST', '/'), "another process's nonce");
});

t.test('Basic, and headers that are not credentials', async (t) => {
  const auth = new CpeHttpAuth('stbd', () => 0);
  const basic = parseAuthorization(`Basic ${Buffer.from('stb-1:pa:ss').toString('base64')}`)!;
  t.same(basic, { scheme: 'basic', username: 'stb-1', password: 'pa:ss' });
  t.ok(auth.verify(basic, 'pa:ss', 'POST', '/'));
  t.notOk(auth.verify(basic, 'pa', 'POST', '/'));
  for (const h of [undefined, '', 'Bearer x', 'Basic bm9jb2xvbg==', 'Digest realm="x"']) t.equal(parseAuthorization(h), undefined, String(h));
  t.same(parseAuthorization('Digest username="a\\"b", uri="/x,y", nc=01')?.username, 'a"b');
});
