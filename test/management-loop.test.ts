import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Simulator } from '../src/sim/index.js';
import { cpeRequest } from './helpers/cpe.js';
import { run, spawnDaemon, STBCTL, writeTestConfig } from './helpers/daemon.js';
import { UdpPeer } from './helpers/udp.js';

/**
 * The whole loop over loopback, with nothing stood in: stbctl → the daemon → a UDP connection request
 * from the STUN socket → the simulator's CWMP session → the result stbctl prints.
 */
async function setup(t: { testdir(): string; teardown(fn: () => unknown): void }) {
  const dir = t.testdir();
  const config = writeTestConfig(dir, { cwmp: { connection_request_retry: '200ms', connection_request_timeout: '10s' } });
  const daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop('SIGKILL'));
  const ctl = (...args: string[]) => run(STBCTL, ['--config', config, '--api', daemon.url, ...args]);
  const register = async (sim: Simulator) => {
    writeFileSync(join(dir, 'devices.csv'), sim.csv());
    const r = await ctl('devices', 'import', join(dir, 'devices.csv'));
    if (r.code !== 0) throw new Error(r.stderr);
  };
  const acsUrl = `http://127.0.0.1:${daemon.cwmpPort}/`;
  const stun = { host: '127.0.0.1', port: daemon.stunPort };
  return { daemon, ctl, register, acsUrl, stun };
}

t.test('stbctl reboot --wait: connection request, session, RebootResponse; the STB comes back with M Reboot', async (t) => {
  const { ctl, register, acsUrl, stun } = await setup(t);
  const sim = new Simulator({ count: 2, prefix: 'loop-', acsUrl, stun, keepaliveIntervalS: 1, rebootDelayMs: 50 });
  await register(sim);
  await sim.start();
  t.teardown(() => sim.stop());
  await sim.waitFor('stun-binding', (e) => e.device === 'loop-0002');
  await sim.idle();

  // Both waits listen from before the command: on a loaded machine the boot session may end before a later listener.
  const rebooted = sim.waitFor('reboot', (e) => e.device === 'loop-0002' && e.phase === 'up', 30_000);
  const backAgain = sim.waitFor('session-end', (e) => e.device === 'loop-0002' && e.events.some((ev) => ev.code === 'M Reboot'), 30_000);
  const r = await ctl('reboot', 'loop-0002', '--wait', '20');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /done/);
  await rebooted;
  const back = await backAgain;
  t.ok(back.events.some((ev) => ev.code === '1 BOOT'), 'the boot session reports 1 BOOT and M Reboot');
  t.equal(sim.stats.crAccepted, 1, 'one connection request was enough');

  const got = await ctl('get', 'loop-0001', 'InternetGatewayDevice.DeviceInfo.', '--wait', '20');
  t.equal(got.code, 0, got.stderr);
  t.match(got.stdout, /InternetGatewayDevice\.DeviceInfo\.SerialNumber\s+loop-0001/);
  const shown = await ctl('device', 'show', 'loop-0001');
  t.match(shown.stdout, /InternetGatewayDevice\.DeviceInfo\.SerialNumber\s+loop-0001/, 'device show lists the values read');
});

t.test('lost connection requests (the STB drops the first two) are resent and the command completes', async (t) => {
  const { ctl, register, acsUrl, stun } = await setup(t);
  const sim = new Simulator({ count: 1, prefix: 'lossy-', acsUrl, stun, keepaliveIntervalS: 1, dropCr: 2 });
  await register(sim);
  await sim.start();
  t.teardown(() => sim.stop());
  await sim.waitFor('stun-binding');
  await sim.idle();
  const r = await ctl('set', 'lossy-0001', 'InternetGatewayDevice.Time.NTPServer1=ntp.example.net', '--wait', '20', '--json');
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { status: 'done', result: { status: 0 } });
  t.equal(sim.stats.crDropped, 2);
  t.equal(sim.stats.crAccepted, 1);
  t.equal(sim.device('lossy-0001')!.tree.value('InternetGatewayDevice.Time.NTPServer1'), 'ntp.example.net');
});

t.test('a replayed connection request is rejected by the STB; wrong CWMP credentials get no session', async (t) => {
  const { ctl, register, acsUrl, daemon } = await setup(t);
  // No keepalives of its own: a spy holds the device's binding and sees the daemon's datagrams.
  const sim = new Simulator({ count: 1, prefix: 'replay-', acsUrl, bootInform: false });
  await register(sim);
  await sim.start();
  t.teardown(() => sim.stop());
  const device = sim.device('replay-0001')!;
  const spy = await UdpPeer.open();
  t.teardown(() => spy.close());
  await spy.send(cpeRequest({ username: device.credentials.stunUsername, connectionRequestBinding: true, integrity: { password: device.credentials.stunPassword, variant: 'rfc3489' } }), daemon.stunPort);
  await spy.next();

  const queued = ctl('get', 'replay-0001', 'InternetGatewayDevice.DeviceInfo.UpTime', '--wait', '20');
  const datagram = (await spy.next(5000))!.msg;
  const accepted = sim.waitFor('cr-accepted');
  await spy.send(datagram, device.crPort!);
  await accepted;
  t.equal((await queued).code, 0, 'forwarded once: the STB called in and answered');
  const rejected = sim.waitFor('cr-rejected');
  await spy.send(datagram, device.crPort!);
  t.match(await rejected, { reason: /^(repeated-id|stale-ts)$/ }, 'the same bytes again: dropped');

  const impostor = new Simulator({ count: 1, prefix: 'replay-', secret: 'not-the-secret', acsUrl, bootInform: true, retryDelayMs: 60_000 });
  await impostor.start();
  t.teardown(() => impostor.stop());
  const failed = await impostor.waitFor('session-end', undefined, 10_000);
  t.equal(failed.ok, false, 'the daemon refused its credentials');
  t.match(failed.error, /401/);
});
