import { createHash } from 'node:crypto';
import t from 'tap';
import { addDevice, IGD, inform, param, setup, XML } from './helpers/cwmp-wire.js';
import { RawCpe, type RawReply } from './helpers/raw-cpe.js';

/** Digest on the wire: a captured Authorization cannot be used again, with another body or elsewhere. */

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const note = (value: string) => inform({ serial: 'S1', params: param(`${IGD}ConnectionRequestURL`, 'http://127.0.0.1:1/cr') + param(`${IGD}X_Note`, value) });
const auth = (challenge: string, nc: string): [string, string][] => [...XML, ['Authorization', RawCpe.digest(challenge, 'stb-1', 'stb-1-pw', '/acs', nc)]];
const challengeOf = (r: RawReply) => r.headers['www-authenticate'] ?? '';

async function noteOf(d: Awaited<ReturnType<typeof setup>>['d']): Promise<string | undefined> {
  const params = (await d.api('GET', '/v1/devices/stb-1')).body.management.parameters as { name: string; value: string }[];
  return params.find((p) => p.name === `${IGD}X_Note`)?.value;
}

t.test('the same Authorization is accepted once: not with another body, not on another connection; a higher nc works', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const a = new RawCpe(port);
  const challenge = challengeOf(await a.request(note('first'), XML));
  const captured = auth(challenge, '00000001');
  t.equal((await a.request(note('first'), captured)).status, 200);
  t.equal((await a.request('')).status, 204);

  const thief = new RawCpe(port);
  const replay = await thief.request(note('forged'), captured);
  t.equal(replay.status, 401, 'the captured header with another body, from another connection');
  t.match(challengeOf(replay), /stale=true$/, 'a new nonce, stale=true: the thief cannot answer it, a CPE that resent its request retries at once');
  thief.close();
  t.equal((await a.request(note('forged'), captured)).status, 401, 'and on the connection it came on (a new session, the same nc)');
  t.equal(await noteOf(d), 'first', 'the forged body changed nothing');

  t.equal((await a.request(note('second'), auth(challenge, '00000002'))).status, 200, 'the next nc on the same nonce');
  t.equal((await a.request('')).status, 204);
  t.equal(await noteOf(d), 'second');
  t.match(await (await fetch(`${d.url}/metrics`)).text(), /stbd_cwmp_logins_refused_total\{reason="replay"\} 2/);
});

t.test('replaying a CPE\'s header from its own address does not lock that address out: replays are not failed logins', async (t) => {
  const { d, port } = await setup(t, { cwmp: { auth_failures_per_minute: 6, auth_failure_burst: 2 } });
  await addDevice(d, 'stb-1');
  const cpe = new RawCpe(port);
  const challenge = challengeOf(await cpe.request(note('a'), XML));
  const used = auth(challenge, '00000001');
  t.equal((await cpe.request(note('a'), used)).status, 200);
  t.equal((await cpe.request('')).status, 204);
  let last = '';
  for (let i = 0; i < 5; i++) {
    const replay = await new RawCpe(port).request(note('forged'), used);
    t.equal(replay.status, 401, `replay ${i + 1}: 401, not 503`);
    last = challengeOf(replay);
  }
  t.equal((await new RawCpe(port).request(note('b'), auth(last, '00000001'))).status, 200, 'the CPE answers the new nonce and is in');
  t.equal(await noteOf(d), 'b');
  t.match(await (await fetch(`${d.url}/metrics`)).text(), /stbd_cwmp_logins_refused_total\{reason="replay"\} 5/);
});

t.test('a CPE that answers the 401 on a new connection gets in; the count, not the connection, stops replays', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const first = new RawCpe(port);
  const challenge = challengeOf(await first.request(note('a'), XML));
  first.close(); // some stacks close after the 401
  const second = new RawCpe(port);
  t.equal((await second.request(note('a'), auth(challenge, '00000001'))).status, 200, 'answered on a new connection');
  t.equal((await second.request('')).status, 204);
  second.close();
  const third = new RawCpe(port);
  t.equal((await third.request(note('b'), auth(challenge, '00000001'))).status, 401, 'a used nc from a third connection');
  t.equal(await noteOf(d), 'a');
  t.equal((await third.request(note('b'), auth(challenge, '00000002'))).status, 200, 'a CPE reusing its nonce for its next session counts up');
  t.equal(await noteOf(d), 'b');
});

t.test('an expired nonce gets stale=true, and the CPE logs in again with the new one', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const cpe = new RawCpe(port);
  const challenge = challengeOf(await cpe.request(note('a'), XML));
  t.equal((await cpe.request(note('a'), auth(challenge, '00000001'))).status, 200);
  t.equal((await cpe.request('')).status, 204);
  d.clock.advance(5 * 60_000 + 1000);
  const stale = await cpe.request(note('b'), auth(challenge, '00000002'));
  t.equal(stale.status, 401);
  t.match(challengeOf(stale), /^Digest realm="stbd", qop="auth", algorithm=MD5, nonce="[^"]+", stale=true$/);
  t.equal((await cpe.request(note('b'), auth(challengeOf(stale), '00000001'))).status, 200);
  t.equal(await noteOf(d), 'b');
});

/** RFC 2069 Digest: no qop, no nc, no cnonce. */
function rfc2069(challenge: string, uri = '/acs'): [string, string][] {
  const p = (k: string) => new RegExp(`${k}="([^"]*)"`).exec(challenge)?.[1] ?? '';
  const response = md5(`${md5(`stb-1:${p('realm')}:stb-1-pw`)}:${p('nonce')}:${md5(`POST:${uri}`)}`);
  return [...XML, ['Authorization', `Digest username="stb-1", realm="${p('realm')}", nonce="${p('nonce')}", uri="${uri}", response="${response}"`]];
}

t.test('Digest without qop (RFC 2069) is refused by default, with a line naming the key', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const cpe = new RawCpe(port);
  const challenge = challengeOf(await cpe.request(note('a'), XML));
  t.equal((await cpe.request(note('a'), rfc2069(challenge))).status, 401);
  t.match(d.logText(), /CWMP session refused: Digest without qop \(RFC 2069\) is refused; \[cwmp\] digest_allow_rfc2069 = true accepts it/);
});

t.test('digest_allow_rfc2069 = true: accepted, each nonce once', async (t) => {
  const { d, port } = await setup(t, { cwmp: { digest_allow_rfc2069: true } });
  await addDevice(d, 'stb-1');
  const cpe = new RawCpe(port);
  const challenge = challengeOf(await cpe.request(note('a'), XML));
  const header = rfc2069(challenge);
  t.equal((await cpe.request(note('a'), header)).status, 200);
  t.equal((await cpe.request('')).status, 204);
  const thief = new RawCpe(port);
  t.equal((await thief.request(note('forged'), header)).status, 401, 'no count: the nonce is spent');
  t.equal(await noteOf(d), 'a');
});
