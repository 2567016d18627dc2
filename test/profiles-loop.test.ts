import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { periodicInformTime } from '../src/profiles/periodic-inform-time.js';
import { Simulator } from '../src/sim/index.js';
import type { ConfigOverrides } from './helpers/daemon.js';
import { simLoop } from './helpers/sim-loop.js';

/**
 * Profiles through the whole loop: stbctl → the daemon (a process) → the simulator's sessions → what
 * `stbctl profile show` prints and what the simulated boxes hold. STBD_TEST_STORE=postgres runs it on PostgreSQL.
 */

const IGD = 'InternetGatewayDevice.';
const MS = `${IGD}ManagementServer.`;
const PLAYER = `${IGD}X_STBSIM_Player.`;

async function setup(t: { testdir(): string; teardown(fn: () => unknown): void }, overrides: ConfigOverrides = {}) {
  const loop = await simLoop(t, overrides);
  /** The device's tasks queued by profiles, oldest first. */
  const profileTasks = async (id: string) => ((await loop.api(`/v1/devices/${id}/tasks?limit=100`)).tasks as any[]).filter((x) => x.origin === 'profile').reverse();
  const file = (name: string, text: string) => {
    const path = join(loop.dir, `${name}.toml`);
    writeFileSync(path, text);
    return path;
  };
  return { ...loop, profileTasks, file };
}

t.test('the built-in periodic Inform profile: a fresh box gets its interval and its own time, only what differs', async (t) => {
  const { start, api, ctl, profileTasks, acsUrl, stun } = await setup(t, { cwmp: { periodic_inform_profile: true, periodic_inform_interval: '2h' } });
  const sim = new Simulator({ count: 2, prefix: 'pi-', acsUrl, stun, keepaliveIntervalS: 1 });
  await start(sim);
  for (const device of sim.devices) {
    t.equal(device.tree.value(`${MS}PeriodicInformEnable`), 'true');
    t.equal(device.tree.value(`${MS}PeriodicInformInterval`), '7200');
    t.equal(device.tree.value(`${MS}PeriodicInformTime`), periodicInformTime(device.id, 7200), 'a time of its own');
    const tasks = await profileTasks(device.id);
    t.same(
      tasks.map((x: any) => x.request.kind),
      ['getParameterValues', 'setParameterValues'],
      'what a fresh box holds is read first, then one set',
    );
    t.same(
      tasks[1].request.values.map((v: any) => v.name),
      [`${MS}PeriodicInformInterval`, `${MS}PeriodicInformTime`],
      'PeriodicInformEnable was true already: not sent',
    );
  }
  t.not(sim.devices[0]!.tree.value(`${MS}PeriodicInformTime`), sim.devices[1]!.tree.value(`${MS}PeriodicInformTime`));
  const view = await api('/v1/profiles/periodic-inform');
  t.match(view, { name: 'periodic-inform', builtin: true, counts: { compliant: 2, pending: 0, fault: 0 } });

  // The next Inform of a compliant box (a connection request's) queues nothing.
  const device = sim.devices[0]!;
  const r = await ctl('get', device.id, `${MS}PeriodicInformInterval`, '--wait', '20');
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /7200/);
  t.equal((await profileTasks(device.id)).length, 2, 'nothing more to set');
});

t.test('profiles: a fresh box ends compliant with one set of only the differences; the higher priority wins; a changed profile reaches the box at its next Inform', async (t) => {
  const { ctl, start, profileTasks, file, acsUrl, stun } = await setup(t);
  const defaults = (ntp: string) => `
name = "stb-defaults"
selector = "productClass = 'STB' AND softwareVersion >= '1.0'"
priority = 10
[values]
"${IGD}Time.NTPServer1" = "${ntp}"
"${PLAYER}Volume" = 20
"${IGD}DeviceInfo.ProvisioningCode" = "PC-{serialNumber}"
"Device.Time.NTPServer1" = "not for this data model"
[notifications]
"${PLAYER}Channel" = "active"
`;
  const added = await ctl('profile', 'add', file('defaults', defaults('ntp.example.net')));
  t.equal(added.code, 0, added.stderr);
  t.match(added.stdout, /profile stb-defaults added/);
  const low = await ctl('profile', 'add', file('low', `name = "pilot-low"\npriority = 5\n[values]\n"${IGD}Time.NTPServer1" = "loses"\n"${PLAYER}Channel" = 7\n[types]\n"${PLAYER}Channel" = "unsignedInt"\n`));
  t.equal(low.code, 0, low.stderr);
  const other = await ctl('profile', 'add', file('other', `name = "other-model"\nselector = "productClass = 'STB-4K'"\n[values]\n"${IGD}Time.NTPServer1" = "never"\n`));
  t.equal(other.code, 0, other.stderr);

  const sim = new Simulator({ count: 1, prefix: 'fresh-', acsUrl, stun, keepaliveIntervalS: 1 });
  await start(sim);
  const device = sim.devices[0]!;
  t.equal(device.tree.value(`${IGD}Time.NTPServer1`), 'ntp.example.net', 'the higher priority wins');
  t.equal(device.tree.value(`${IGD}DeviceInfo.ProvisioningCode`), `PC-${device.id}`, 'templated');
  t.equal(device.tree.value(`${PLAYER}Channel`), '7', 'what only the lower one sets, it sets');
  t.same(device.tree.getAttributes([`${PLAYER}Channel`]).map((a) => a.notification), [2], 'active notification');
  const tasks = await profileTasks(device.id);
  t.same(tasks.map((x: any) => [x.request.kind, x.status]), [['getParameterValues', 'done'], ['setParameterValues', 'done'], ['setParameterAttributes', 'done']]);
  t.same(
    tasks[1].request.values.map((v: any) => `${v.name}=${v.value}`).sort(),
    [`${IGD}DeviceInfo.ProvisioningCode=PC-${device.id}`, `${IGD}Time.NTPServer1=ntp.example.net`, `${PLAYER}Channel=7`],
    'one SetParameterValues of only the differences (Volume was 20 already)',
  );
  t.same(tasks.map((x: any) => x.profiles), [['pilot-low', 'stb-defaults'], ['pilot-low', 'stb-defaults'], ['stb-defaults']], 'each task names the profiles it works for');
  const listed = await ctl('tasks', device.id);
  t.match(listed.stdout, /setParameterValues\s+profile:pilot-low,stb-defaults\s+done/);

  const list = await ctl('profile', 'list');
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, /stb-defaults\s+10\s+every Inform\s+5\s+1\s+0\s+0\s+productClass = 'STB'/);
  t.match(list.stdout, /other-model\s+0\s+every Inform\s+1\s+0\s+0\s+0\s/);
  const shown = await ctl('profile', 'show', 'stb-defaults');
  t.match(shown.stdout, /devices\s+1 compliant, 0 pending, 0 fault/);

  // The same Inform again (a connection request's): nothing to set.
  t.equal((await ctl('get', device.id, `${IGD}DeviceInfo.UpTime`, '--wait', '20')).code, 0);
  t.equal((await profileTasks(device.id)).length, 3, 'a compliant box gets no task');

  const replaced = await ctl('profile', 'add', file('defaults', defaults('ntp2.example.net')));
  t.match(replaced.stdout, /profile stb-defaults replaced/);
  t.equal(device.tree.value(`${IGD}Time.NTPServer1`), 'ntp.example.net', 'not before the next Inform');
  t.equal((await ctl('get', device.id, `${IGD}DeviceInfo.UpTime`, '--wait', '20')).code, 0);
  await sim.idle();
  t.equal(device.tree.value(`${IGD}Time.NTPServer1`), 'ntp2.example.net', 'at the next Inform');
  const after = await profileTasks(device.id);
  const sets = after.filter((x: any) => x.request.kind === 'setParameterValues');
  t.same(sets.at(-1).request.values.map((v: any) => v.name), [`${IGD}Time.NTPServer1`], 'only what changed');
  t.match((await ctl('profile', 'show', 'stb-defaults')).stdout, /1 compliant, 0 pending, 0 fault/);
});

t.test('a parameter the box refuses: the profile is in fault there, and profile show lists it with the CPE\'s fault; bad files and names are refused', async (t) => {
  const { ctl, start, file, acsUrl, stun } = await setup(t);
  const bad = await ctl('profile', 'add', file('bad', `name = "x"\n[values]\n"${IGD}Time.NTPServer1" = "{nope}"\n`));
  t.equal(bad.code, 1);
  t.match(bad.stderr, /\[values\] "InternetGatewayDevice\.Time\.NTPServer1": unknown placeholder \{nope\} at character 1/);
  const syntax = await ctl('profile', 'add', file('syntax', 'name = "x"\n[values\n'));
  t.match(syntax.stderr, /not valid TOML: line 2/);
  t.equal((await ctl('profile', 'list')).stdout, 'no profiles\n', 'nothing was added');
  t.match((await ctl('profile', 'show', 'nope')).stderr, /no profile named "nope"/);

  t.equal((await ctl('profile', 'add', file('ro', `name = "read-only"\n[values]\n"${IGD}DeviceInfo.SoftwareVersion" = "9.9"\n"${IGD}Time.NTPServer1" = "ntp.example.net"\n`))).code, 0);
  const sim = new Simulator({ count: 2, prefix: 'ro-', acsUrl, stun, keepaliveIntervalS: 1 });
  await start(sim);
  const shown = await ctl('profile', 'show', 'read-only');
  t.equal(shown.code, 0, shown.stderr);
  t.match(shown.stdout, /devices\s+0 compliant, 0 pending, 2 fault/);
  t.match(shown.stdout, /ro-0001\s+\S+\s+fault 9008: Attempt to set a non-writable parameter; InternetGatewayDevice\.DeviceInfo\.SoftwareVersion: 9008/);
  t.match(shown.stdout, /ro-0002\s/);
  t.equal(sim.devices[0]!.tree.value(`${IGD}Time.NTPServer1`), 'pool.ntp.org', 'a refused set changes nothing');

  // Fixed: `profile apply` evaluates the devices now (they are asked to call in).
  t.equal((await ctl('profile', 'add', file('ro', `name = "read-only"\n[values]\n"${IGD}Time.NTPServer1" = "ntp.example.net"\n`))).code, 0);
  const sessions = sim.devices.map((d) => sim.waitFor('session-end', (e) => e.device === d.id, 20_000));
  const applied = await ctl('profile', 'apply', 'read-only');
  t.equal(applied.code, 0, applied.stderr);
  t.match(applied.stdout, /2 devices matched: 2 queued/);
  t.match(applied.stderr, /2 devices evaluated/);
  await Promise.all(sessions);
  await sim.idle();
  t.match((await ctl('profile', 'show', 'read-only')).stdout, /2 compliant, 0 pending, 0 fault/);
  t.equal(sim.devices[1]!.tree.value(`${IGD}Time.NTPServer1`), 'ntp.example.net');

  // Tags and parameters the Inform does not carry are the store's to decide.
  t.equal((await ctl('tag', 'ro-0001', 'pilot')).code, 0);
  t.equal((await ctl('profile', 'add', file('tagged', `name = "tagged"\nselector = "tag = 'pilot' AND param('${IGD}Time.NTPServer1') = 'ntp.example.net'"\n[values]\n"${PLAYER}Volume" = 55\n`))).code, 0);
  for (const d of sim.devices) t.equal((await ctl('get', d.id, `${IGD}DeviceInfo.UpTime`, '--wait', '20')).code, 0);
  await sim.idle();
  t.same(sim.devices.map((d) => d.tree.value(`${PLAYER}Volume`)), ['55', '20'], 'only the tagged box');
  t.match((await ctl('profile', 'show', 'tagged')).stdout, /1 compliant, 0 pending, 0 fault/);
  t.equal((await ctl('profile', 'remove', 'read-only')).code, 0);
  t.equal((await ctl('profile', 'remove', 'tagged')).code, 0);
  t.equal((await ctl('profile', 'list')).stdout, 'no profiles\n');
  t.equal((await ctl('profile', 'remove', 'periodic-inform')).code, 1, 'the built-in one is not removed');
});
