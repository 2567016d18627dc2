import t from 'tap';
import { ConnectionRequestSequencer, encodeConnectionRequest } from '../src/management/udp-connection-request.js';
import { Simulator } from '../src/sim/index.js';
import { startInProcess } from './helpers/in-process.js';

const NO_ACS = 'http://127.0.0.1:9/';

t.test('keepalives against the real daemon, then a UDP connection request back', async (t) => {
  const d = await startInProcess(t.testdir());
  t.teardown(() => d.daemon.stop());
  const stunPort = d.daemon.keepalive.addresses.v4!.port;
  const sim = new Simulator({ acsUrl: NO_ACS, bootInform: false, count: 2, prefix: 'stun-', stun: { host: '127.0.0.1', port: stunPort }, keepaliveIntervalS: 60 });
  for (const device of sim.devices) {
    const created = await d.api('POST', '/v1/devices', { json: { id: device.id, ...device.credentials } });
    t.equal(created.status, 201);
  }
  const bindings = Promise.all(sim.devices.map((device) => sim.waitFor('stun-binding', (b) => b.device === device.id)));
  await sim.start();
  t.teardown(() => sim.stop());
  const seen = await bindings;

  for (const device of sim.devices) {
    const port = device.crPort!;
    t.same(seen.find((b) => b.device === device.id), { device: device.id, address: { family: 'IPv4', address: '127.0.0.1', port }, changed: true });
    t.match(d.daemon.keepalive.presenceOf(device.id), { online: true, binding: { address: '127.0.0.1', port } }, 'online at the CR socket');
    t.equal(device.tree.value('InternetGatewayDevice.ManagementServer.UDPConnectionRequestAddress'), `127.0.0.1:${port}`);
    t.equal(device.tree.value('InternetGatewayDevice.ManagementServer.NATDetected'), 'false', 'no NAT on loopback');
  }
  t.equal(sim.stats.stun401, 2, 'each device was challenged once, then sent MESSAGE-INTEGRITY');
  t.equal(sim.stats.stunResponses, 4);

  // The daemon signs a connection request and sends it from its STUN socket: the simulator takes it.
  const device = sim.devices[0]!;
  const sequencer = new ConnectionRequestSequencer(() => d.clock.now());
  const accepted = sim.waitFor('cr-accepted');
  await d.daemon.keepalive.sendToBinding(device.id, encodeConnectionRequest(sequencer.next(device.id, device.credentials.crUsername), device.credentials.crPassword, '127.0.0.1', device.crPort!));
  t.same(await accepted, { device: device.id, transport: 'udp' });
});

t.test('STUN provisioned by SetParameterValues, behind a (pretended) NAT', async (t) => {
  const d = await startInProcess(t.testdir());
  t.teardown(() => d.daemon.stop());
  const stunPort = d.daemon.keepalive.addresses.v4!.port;
  const sim = new Simulator({ acsUrl: NO_ACS, bootInform: false, behindNat: true, dataModel: 'tr181' });
  const device = sim.devices[0]!;
  await d.api('POST', '/v1/devices', { json: { id: device.id, stunUsername: 'provisioned-user', stunPassword: 'provisioned-pw' } });
  await sim.start();
  t.teardown(() => sim.stop());
  t.equal(sim.stats.stunSent, 0, 'no keepalives before STUN is enabled');
  const ms = 'Device.ManagementServer.';
  t.equal(device.tree.value(`${ms}NATDetected`), 'true', 'behind NAT it says so before STUN is on, so an ACS provisions it');
  t.match(device.tree.value(`${ms}ConnectionRequestURL`), /^http:\/\/192\.168\.1\.2:\d+\/$/, 'and shows its LAN address');

  const binding = sim.waitFor('stun-binding');
  device.setParameters(
    [
      { name: `${ms}STUNEnable`, value: 'true' },
      { name: `${ms}STUNServerAddress`, value: '127.0.0.1' },
      { name: `${ms}STUNServerPort`, value: String(stunPort) },
      { name: `${ms}STUNUsername`, value: 'provisioned-user' },
      { name: `${ms}STUNPassword`, value: 'provisioned-pw' },
      { name: `${ms}STUNMinimumKeepAlivePeriod`, value: '45' },
    ],
    'stun-1',
  );
  await binding;
  t.match(d.daemon.keepalive.presenceOf(device.id), { online: true, binding: { port: device.crPort } });
  t.equal(device.tree.value(`${ms}NATDetected`), 'true', '--behind-nat');
  t.equal(device.tree.getValues([`${ms}STUNPassword`])[0]?.value, '', 'read back empty');

  device.setParameters([{ name: `${ms}STUNEnable`, value: 'false' }], 'stun-3');
  t.equal(device.tree.value(`${ms}NATDetected`), 'true', 'still behind NAT with STUN off');
  t.equal(device.tree.value(`${ms}UDPConnectionRequestAddress`), '');
});

t.test('a wrong STUN password: challenged, retried once with MESSAGE-INTEGRITY, then quiet', async (t) => {
  const d = await startInProcess(t.testdir());
  t.teardown(() => d.daemon.stop());
  const stunPort = d.daemon.keepalive.addresses.v4!.port;
  const sim = new Simulator({ acsUrl: NO_ACS, bootInform: false, stun: { host: '127.0.0.1', port: stunPort } });
  const device = sim.devices[0]!;
  await d.api('POST', '/v1/devices', { json: { id: device.id, stunPassword: 'not-what-the-sim-has' } });
  const first = sim.waitFor('stun', (e) => e.outcome === 'unauthorized');
  await sim.start();
  t.teardown(() => sim.stop());
  await first;
  await sim.waitFor('stun', (e) => e.outcome === 'unauthorized');
  t.same([sim.stats.stunSent, sim.stats.stun401], [2, 2]);
  t.notOk(device.stunBinding);
  t.equal(d.daemon.keepalive.presenceOf(device.id)?.online, false);
});
