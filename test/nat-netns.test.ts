import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ROOT, run, spawnDaemon, STBCTL, STBSIM, writeTestConfig } from './helpers/daemon.js';
import { NatTopology, netnsUnavailable, sendConnectionRequests } from './helpers/netns.js';

const why = netnsUnavailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('through a real NAT: the command reaches the STB only when the connection request leaves from the STUN socket', { skip: why ?? false }, async (t) => {
  const net = new NatTopology();
  t.teardown(() => net.destroy());
  const dir = t.testdir();
  const config = writeTestConfig(dir, {
    stun: { listen: `${NatTopology.SERVER}:3478` },
    cwmp: { listen: `${NatTopology.SERVER}:7547`, connection_request_retry: '500ms', connection_request_timeout: '20s' },
  });
  const daemon = await spawnDaemon(config, { wrap: net.wrap(net.server) });
  t.teardown(() => daemon.stop('SIGKILL'));
  const inServer = (bin: string, ...args: string[]) => run('ip', [...net.wrap(net.server).slice(1), bin, ...args]);
  const ctl = async (...args: string[]) => {
    const r = await inServer(STBCTL, '--config', config, '--api', daemon.url, ...args, '--json');
    return { code: r.code, body: JSON.parse(r.stdout || 'null'), stderr: r.stderr };
  };

  // The simulated STB's credentials, registered with the daemon.
  const sim = ['--count', '1', '--prefix', 'nat-', '--secret', 'netns-test'];
  const csv = await run(STBSIM, ['csv', ...sim]);
  t.equal(csv.code, 0, csv.stderr);
  writeFileSync(join(dir, 'devices.csv'), csv.stdout);
  t.equal((await ctl('devices', 'import', join(dir, 'devices.csv'))).code, 0);
  const [, row] = csv.stdout.trim().split('\n');
  const [id, , , crUser, crPass] = row!.split(',') as [string, string, string, string, string];

  // The STB boots at home with STUN off: the daemon must find it behind NAT and provision keepalives.
  const stb: ChildProcess = spawn('ip', [...net.wrap(net.home).slice(1), STBSIM, ...sim, '--acs', `http://${NatTopology.SERVER}:7547/`, '--bind', NatTopology.HOME, '--keepalive-interval', '1'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd: ROOT,
  });
  let stbLog = '';
  stb.stderr!.on('data', (c: Buffer) => (stbLog += c.toString()));
  t.teardown(() => void stb.kill('SIGKILL'));

  let shown: { code: number | null; body: any } = { code: null, body: null };
  for (let i = 0; i < 100; i++) {
    shown = await ctl('device', 'show', id);
    if (shown.body?.online && shown.body?.binding) break;
    await sleep(200);
  }
  t.match(shown.body, { online: true, binding: { address: NatTopology.PUBLIC }, natId: NatTopology.PUBLIC }, `the binding is the NAT's public side (stbsim: ${stbLog})`);
  t.match(shown.body.management, { behindNat: true, natId: NatTopology.PUBLIC, keepaliveProvisioned: true });
  const binding = shown.body.binding as { address: string; port: number };

  // The same kind of datagram, validly signed, from another socket of the server: the NAT drops it.
  await sendConnectionRequests(net.server, { address: NatTopology.SERVER, port: 0 }, binding, { username: crUser, password: crPass });
  await sleep(2000);
  shown = await ctl('device', 'show', id);
  t.notOk(shown.body.management.lastEvents.includes('6 CONNECTION REQUEST'), 'the STB never heard it: no session');

  // From the STUN socket: the command goes through.
  const got = await ctl('get', id, 'InternetGatewayDevice.DeviceInfo.SoftwareVersion', '--wait', '20');
  t.equal(got.code, 0, got.stderr);
  t.match(got.body, { status: 'done', result: { parameters: [{ name: 'InternetGatewayDevice.DeviceInfo.SoftwareVersion' }] } });
  shown = await ctl('device', 'show', id);
  t.ok(shown.body.management.lastEvents.includes('6 CONNECTION REQUEST'), 'the session answered the connection request');
});
