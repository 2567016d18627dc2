import t from 'tap';
import { PeriodicInformProfile } from '../src/profiles/builtin-periodic-inform.js';
import { evaluate } from '../src/profiles/desired.js';
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

t.test('the built-in profile sets the three parameters under the root of the device\'s data model, each device its own time', async (t) => {
  const p = new PeriodicInformProfile(3_600_000);
  const igd = p.for('InternetGatewayDevice.');
  t.equal(p.for('InternetGatewayDevice.'), igd, 'built once, not per Inform');
  const sent = (deviceId: string) =>
    evaluate({ profiles: [igd], root: 'InternetGatewayDevice.', facts: { id: deviceId, serialNumber: 'SN', secret: undefined }, known: () => 'unset', renewed: new Set(), active: new Set([igd.name]) }).differences.map((v) => [v.name, v.value, v.type]);
  for (const id of ['stb-0001', 'stb-0002']) {
    t.same(sent(id), [
      ['InternetGatewayDevice.ManagementServer.PeriodicInformEnable', 'true', 'xsd:boolean'],
      ['InternetGatewayDevice.ManagementServer.PeriodicInformInterval', '3600', 'xsd:unsignedInt'],
      ['InternetGatewayDevice.ManagementServer.PeriodicInformTime', periodicInformTime(id, 3600), 'xsd:dateTime'],
    ], `${id}: its own time`);
  }
  t.match(p.for('Device.').values[0], { name: 'Device.ManagementServer.PeriodicInformEnable' });
  t.equal(p.for('Device.').revision, igd.revision, 'one revision: a device is evaluated again when the interval changes');
  t.not(new PeriodicInformProfile(600_000).for('Device.').revision, igd.revision);
});
