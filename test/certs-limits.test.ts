import t from 'tap';
import { NonceMemory } from '../src/certs/nonce-memory.js';
import { postHttps, TestStb } from './helpers/certs.js';
import type { ConfigOverrides } from './helpers/daemon.js';
import { startInProcess } from './helpers/in-process.js';

/** What an authenticated STB can make the certificate endpoint hold or do is bounded: nonces, request rate. */
async function setup(t: { testdir(): string; teardown(fn: () => unknown): void }, certs: ConfigOverrides[string]) {
  const d = await startInProcess(t.testdir(), { certs });
  t.teardown(() => d.daemon.stop());
  for (const id of ['stb-1', 'stb-2']) await d.api('POST', '/v1/devices', { json: { id, cwmpPassword: `${id}-pw` } });
  await d.api('POST', '/v1/certificates', { json: { device: 'stb-1', id: 'c1' } });
  await d.api('POST', '/v1/certificates', { json: { device: 'stb-2', id: 'c2' } });
  const port = d.daemon.certsEndpoint.port;
  return { d, stb1: new TestStb(port, 'stb-1', 'stb-1-pw', () => d.clock.now()), stb2: new TestStb(port, 'stb-2', 'stb-2-pw', () => d.clock.now()) };
}

const metrics = async (url: string) => (await fetch(`${url}/metrics`)).text();
const FAILED = [401, { status: 'auth-failed' }];

t.test('NonceMemory: never more than its capacity, and every nonce it took is refused again, remembered or not', async (t) => {
  // 10,000 requests, 50 a second, stamped up to 2 s off: capacity 400 holds 8 s of them, 100 only 2 s.
  for (const [capacity, allTaken] of [[400, true], [100, false]] as const) {
    let evicted = 0;
    let largest = 0;
    const m = new NonceMemory(capacity, (n) => (evicted += n));
    const taken: [string, number][] = [];
    for (let i = 0; i < 10_000; i++) {
      const now = 1_000_000 + Math.floor(i / 50);
      const second = now + ((i * 7) % 5) - 2;
      const key = `stb-${i % 13}\0nonce-${i}`;
      if (m.check(key, second) !== undefined) continue;
      m.remember(key, second, now - 300);
      taken.push([key, second]);
      largest = Math.max(largest, m.size);
    }
    t.ok(largest <= capacity, `capacity ${capacity}: at most ${capacity} held (${largest})`);
    t.ok(evicted > 0, `capacity ${capacity}: it had to forget some`);
    t.equal(taken.length === 10_000, allTaken, `capacity ${capacity}: ${taken.length} taken`);
    t.ok(
      taken.every(([key, second]) => m.check(key, second) !== undefined),
      `capacity ${capacity}: a replay of any of them is refused`,
    );
    t.equal(m.check('stb-0\0never-seen', 1_000_000 + 200), undefined, 'a new nonce at the current second is taken');
  }
});

t.test('[certs] nonce_capacity: the endpoint keeps at most that many; a replay is still refused; the window shrinks, then recovers', async (t) => {
  const { d, stb1 } = await setup(t, { nonce_capacity: 4 });
  const now = Math.floor(d.clock.now() / 1000);
  const sent: { timestamp: number; nonce: string }[] = [];
  for (const timestamp of [now - 3, now - 2, now - 1, now]) {
    const r = await stb1.request('c1', { timestamp });
    t.equal(r.body.status, 'valid');
    sent.push({ timestamp, nonce: r.nonce });
  }
  t.same(await stb1.request('c1', sent[0]).then((r) => [r.status, r.body]), FAILED, 'a replay while remembered');
  // A fifth: the oldest second is forgotten, and anything stamped that early is refused from now on.
  t.equal((await stb1.request('c1')).body.status, 'valid');
  t.match(await metrics(d.url), /stbd_certificate_nonces_evicted_total 1\b/);
  t.same(await stb1.request('c1', sent[0]).then((r) => [r.status, r.body]), FAILED, 'a replay of a forgotten nonce is refused all the same');
  t.same(await stb1.request('c1', { timestamp: now - 3 }).then((r) => [r.status, r.body]), FAILED, 'a new request as old as the forgotten ones: not provably fresh');
  t.same(await stb1.request('c1', sent[1]).then((r) => [r.status, r.body]), FAILED, 'the next one, still remembered: replayed');
  t.match(d.logText(), /"reason":"unproven-fresh".*STB request refused: authentication failed/);
  t.equal((await stb1.request('c1', { timestamp: now })).body.status, 'valid', 'current requests go on being served');
  // Time passes: the old seconds leave the window, and with them the pressure.
  d.clock.advance(10 * 60_000);
  for (let i = 0; i < 4; i++) t.equal((await stb1.request('c1')).body.status, 'valid');
});

t.test('per-device rate limit: 429 with Retry-After past the burst, counted, logged once; another STB unaffected; refills with time', async (t) => {
  const { d, stb1, stb2 } = await setup(t, { device_requests_per_minute: 6, device_request_burst: 3 });
  // Failed proofs in stb-1's name take nothing from its allowance.
  for (let i = 0; i < 5; i++) t.same(await stb1.request('c1', { secret: 'guess' }).then((r) => [r.status, r.body]), FAILED);
  for (let i = 0; i < 3; i++) t.equal((await stb1.request('c1')).body.status, 'valid', `request ${i + 1} of the burst`);
  const over = await stb1.request('c1');
  t.same([over.status, over.body], [429, { status: 'rate-limited', message: 'too many requests from this STB; try again in 10 s' }]);
  const overAck = await stb1.ack('c1');
  t.equal(overAck.status, 429, 'the acknowledgement route shares the allowance');
  const raw = await postHttps(stb1.port, '/v1/certificate', { json: stb1.proof('c1') });
  t.equal(raw.status, 429);

  for (let i = 0; i < 3; i++) t.equal((await stb2.request('c2')).body.status, 'valid', 'stb-2 is served');

  const m = await metrics(d.url);
  t.match(m, /stbd_certificate_requests_total\{status="rate-limited"\} 3\b/);
  t.equal(d.logText().match(/STB (request|acknowledgement) refused: rate limit/g)?.length, 1, 'one log line for the three refusals');

  // A refused request left no nonce: sent again once there is a token, it is served (not a replay).
  d.clock.advance(10_000);
  t.equal((await stb1.request('c1', { nonce: over.nonce })).body.status, 'valid', 'one token back after 10 s');
  t.equal((await stb1.request('c1')).status, 429, 'and only one');
});

t.test('failed authentications from one source are logged once a minute per route and reason, every one counted', async (t) => {
  const { d, stb1 } = await setup(t, {});
  // A stranger guessing: unknown STB ids and wrong secrets, 20 of each.
  for (let i = 0; i < 20; i++) {
    t.same([(await stb1.request('c1', { stbId: `guess-${i}` })).status], [401]);
    t.same([(await stb1.request('c1', { secret: `guess-${i}` })).status], [401]);
  }
  const lines = d.logText().split('\n').filter((l) => l.includes('STB request refused: authentication failed'));
  t.equal(lines.length, 2, 'one line for unknown STBs, one for wrong secrets');
  t.match(lines.join('\n'), /"source":"(::ffff:)?127\.0\.0\.1"/);
  t.match(await metrics(d.url), /stbd_certificate_requests_total\{status="auth-failed"\} 40/);
  d.clock.advance(61_000);
  t.equal((await stb1.request('c1', { secret: 'again' })).status, 401);
  t.equal(d.logText().split('\n').filter((l) => l.includes('STB request refused: authentication failed')).length, 3, 'a minute later: a line again');
});
