import t from 'tap';
import { PeriodicInformProfile } from '../src/profiles/builtin-periodic-inform.js';
import { informPhaseSeconds, periodicInformTime } from '../src/profiles/periodic-inform-time.js';

t.test('PeriodicInformTime is spread evenly over the interval: each tenth holds 10 % ± 2 % of 10,000 devices', async (t) => {
  const interval = 3600;
  const tenths = new Array<number>(10).fill(0);
  let outside = 0;
  for (let i = 0; i < 10_000; i++) {
    const phase = informPhaseSeconds(`STB-${String(i).padStart(6, '0')}`, interval);
    if (phase < 0 || phase >= interval) outside++;
    else tenths[Math.floor((phase / interval) * 10)]!++;
  }
  t.equal(outside, 0, 'every time within the interval');
  for (const [i, n] of tenths.entries()) t.ok(n >= 800 && n <= 1200, `tenth ${i + 1} holds ${n / 100} %`);
});

t.test('a device keeps its time: the same id gives the same PeriodicInformTime; another interval, a time within it', async (t) => {
  t.equal(periodicInformTime('stb-0001', 3600), periodicInformTime('stb-0001', 3600));
  t.match(periodicInformTime('stb-0001', 3600), /^1970-01-01T00:[0-5][0-9]:[0-5][0-9]Z$/);
  t.not(periodicInformTime('stb-0001', 3600), periodicInformTime('stb-0002', 3600));
  t.ok(informPhaseSeconds('stb-0001', 300) < 300);
});

t.test('the built-in profile sets the three parameters under the root of the device\'s data model', async (t) => {
  const p = new PeriodicInformProfile(3_600_000);
  t.same(
    p.for('stb-0001', 'InternetGatewayDevice.').values.map((v) => [v.name, v.template, v.type]),
    [
      ['InternetGatewayDevice.ManagementServer.PeriodicInformEnable', 'true', 'xsd:boolean'],
      ['InternetGatewayDevice.ManagementServer.PeriodicInformInterval', '3600', 'xsd:unsignedInt'],
      ['InternetGatewayDevice.ManagementServer.PeriodicInformTime', periodicInformTime('stb-0001', 3600), 'xsd:dateTime'],
    ],
  );
  t.match(p.for('stb-0001', 'Device.').values[0], { name: 'Device.ManagementServer.PeriodicInformEnable' });
  t.equal(p.for('a', 'Device.').revision, p.for('b', 'InternetGatewayDevice.').revision, 'one revision: a device is evaluated again when the interval changes');
  t.not(new PeriodicInformProfile(600_000).for('a', 'Device.').revision, p.for('a', 'Device.').revision);
});
