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
