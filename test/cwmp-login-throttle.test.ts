import t from 'tap';
import { addDevice, basicInform, digestInform, inform, setup, XML } from './helpers/cwmp-wire.js';
import { until } from './helpers/in-process.js';
import { RawCpe } from './helpers/raw-cpe.js';

/** Floods from one address: throttled there, logged once a minute, while other addresses go on. */

const throttledCount = async (url: string) => Number(/^stbd_auth_throttled_total\{listener="cwmp"\} (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1] ?? 0);
const refusedLines = (log: string, source: string) => log.split('\n').filter((l) => l.includes('CWMP session refused') && l.includes(`"source":"${source}"`));

t.test('a flood of bad logins from one address gets 503 + Retry-After; another address still logs in', async (t) => {
  const { d, port } = await setup(t, { cwmp: { auth_failures_per_minute: 6, auth_failure_burst: 5 } });
  await addDevice(d, 'stb-1');
  await addDevice(d, 'stb-2');
  for (let i = 0; i < 5; i++) t.equal((await basicInform(new RawCpe(port, '127.0.0.1', { localAddress: '127.0.0.2' }), 'stb-1', `guess-${i}`, inform({ serial: 'S1' }))).status, 401);
  const flooder = new RawCpe(port, '127.0.0.1', { localAddress: '127.0.0.2' });
  const shed = await basicInform(flooder, 'stb-1', 'guess-5', inform({ serial: 'S1' }));
  t.equal(shed.status, 503, 'past the burst');
  t.equal(shed.headers['retry-after'], '10', 'one refused login per 10 s refills');
  t.equal(shed.headers['connection'], 'close');
  t.equal((await basicInform(new RawCpe(port, '127.0.0.1', { localAddress: '127.0.0.2' }), 'stb-1', 'stb-1-pw', inform({ serial: 'S1' }))).status, 503, 'even the right password: nothing is checked while throttled');
  t.equal(await throttledCount(d.url), 2);

  const other = new RawCpe(port, '127.0.0.1', { localAddress: '127.0.0.1' });
  t.equal((await digestInform(other, 'stb-2', 'stb-2-pw', inform({ serial: 'S2' }))).status, 200, 'another address logs in meanwhile');
  other.close();

  d.clock.advance(10_000);
  t.equal((await basicInform(new RawCpe(port, '127.0.0.1', { localAddress: '127.0.0.2' }), 'stb-1', 'stb-1-pw', inform({ serial: 'S1' }))).status, 200, 'once a token is back, the real STB there gets in');
  t.match(d.logText(), /CWMP source over its limit \(answered 503\): too many refused logins/);
});

t.test('a flood of unauthenticated requests from one address: 401 challenges up to the limit, then 503', async (t) => {
  const { d, port } = await setup(t, { cwmp: { challenges_per_second: 1, challenge_burst: 3 } });
  await addDevice(d, 'stb-2');
  for (let i = 0; i < 3; i++) t.equal((await new RawCpe(port, '127.0.0.1', { localAddress: '127.0.0.2' }).request(inform({ serial: 'S1' }), XML)).status, 401);
  const shed = await new RawCpe(port, '127.0.0.1', { localAddress: '127.0.0.2' }).request(inform({ serial: 'S1' }), XML);
  t.equal(shed.status, 503);
  t.equal(shed.headers['retry-after'], '1');
  t.equal(await throttledCount(d.url), 1);
  t.equal((await digestInform(new RawCpe(port), 'stb-2', 'stb-2-pw', inform({ serial: 'S2' }))).status, 200, 'another address is challenged and logs in');
});

t.test('refused logins are logged once per address a minute, with a count', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  for (let i = 0; i < 10; i++) t.equal((await basicInform(new RawCpe(port, '127.0.0.1', { localAddress: '127.0.0.3' }), 'stb-1', `guess-${i}`, inform({ serial: 'S1' }))).status, 401);
  t.equal((await basicInform(new RawCpe(port, '127.0.0.1', { localAddress: '127.0.0.4' }), 'stb-1', 'guess', inform({ serial: 'S1' }))).status, 401);
  let lines = refusedLines(d.logText(), '127.0.0.3');
  t.equal(lines.length, 1, 'the first refusal from an address is logged at once, the next nine are counted');
  t.match(lines[0], /"count":1.*CWMP session refused: wrong credentials/);
  t.equal(refusedLines(d.logText(), '127.0.0.4').length, 1, 'another address has its own line');
  d.clock.advance(60_000);
  t.ok(await until(d, () => refusedLines(d.logText(), '127.0.0.3').length === 2), 'the minute over, the count is written');
  lines = refusedLines(d.logText(), '127.0.0.3');
  t.match(lines[1], /"count":9.*CWMP session refused 9 times from this source since 2026-01-01T00:00:00\.000Z; the last: wrong credentials/);
  t.match(lines[1], /"username":"stb-1"/);
  t.equal(refusedLines(d.logText(), '127.0.0.4').length, 1, 'nothing more to say about the quiet one');
});

t.test('an Inform whose DeviceId is not the authenticated device is refused, counted and logged', async (t) => {
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  const own = new RawCpe(port);
  t.equal((await basicInform(own, 'stb-1', 'stb-1-pw', inform({ serial: 'S1' }))).status, 200, 'the device reports its DeviceId');
  own.close();
  const other = new RawCpe(port);
  t.equal((await basicInform(other, 'stb-1', 'stb-1-pw', inform({ serial: 'S2' }))).status, 401, 'its credentials from another DeviceId');
  t.match(d.logText(), /CWMP session refused: CWMP username \\"stb-1\\" belongs to device stb-1 \(DeviceId 00D09E-STB-S1\), but a CPE with DeviceId 00D09E-STB-S2 presented it/);
  const metrics = await (await fetch(`${d.url}/metrics`)).text();
  t.match(metrics, /stbd_cwmp_logins_refused_total\{reason="deviceid_mismatch"\} 1/);
  t.equal((await d.api('GET', '/v1/devices/stb-1')).body.management.deviceInfo.serialNumber, 'S1', 'nothing of the other CPE recorded');
});
