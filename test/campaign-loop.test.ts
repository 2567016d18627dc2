import t from 'tap';
import type * as Tap from 'tap';
import type { Task } from '../src/management/task.js';
import { Simulator } from '../src/sim/index.js';
import { type InProcessDaemon, startInProcess } from './helpers/in-process.js';

/**
 * Parameter campaigns end to end: the real daemon in this process on a clock the test moves, simulated STBs
 * over loopback (keepalives, UDP connection requests, CWMP sessions), the campaign driven through the API.
 */
const NTP = 'InternetGatewayDevice.Time.NTPServer1';
// 2026-01-01T00:00Z, where the daemon's clock starts, is a Thursday.
const T0 = Date.parse('2026-01-01T00:00:00Z');

interface Loop {
  readonly dir: string;
  readonly d: InProcessDaemon;
  readonly sim: Simulator;
  /** Campaign tasks in the order they were queued, and how many were open at most at once. */
  readonly queued: string[];
  readonly finished: string[];
  /** The daemon's clock at each campaign task queued. */
  readonly queuedAt: number[];
  maxOpen: number;
}

async function setup(t: Tap.Test, online: number, offline: readonly string[] = [], overrides: Record<string, Record<string, unknown>> = {}): Promise<Loop> {
  // Presence must not lapse while the test moves the clock by hours: the sims send keepalives in real time.
  const dir = t.testdir();
  const d = await startInProcess(dir, { stun: { offline_after: '30d' }, campaigns: { tick: '1s' }, cwmp: { connection_request_retry: '1s' }, ...overrides });
  t.teardown(() => d.daemon.stop());
  const acsUrl = `http://127.0.0.1:${d.daemon.management.address!.port}/`;
  const sim = new Simulator({ count: online, prefix: 'stb-', acsUrl, stun: { host: '127.0.0.1', port: d.daemon.keepalive.addresses.v4!.port }, keepaliveIntervalS: 1, bootInform: false });
  for (const device of sim.devices) t.equal((await d.api('POST', '/v1/devices', { json: { id: device.id, ...device.credentials } })).status, 201);
  for (const id of offline) t.equal((await d.api('POST', '/v1/devices', { json: { id } })).status, 201);
  const bound = Promise.all(sim.devices.map((device) => sim.waitFor('stun-binding', (b) => b.device === device.id, 30_000)));
  await sim.start();
  t.teardown(() => sim.stop());
  await bound;
  const loop: Loop = { dir, d, sim, queued: [], finished: [], queuedAt: [], maxOpen: 0 };
  let open = 0;
  d.daemon.management.tasks.subscribe({
    queued: (task: Task) => {
      if (task.origin !== 'campaign') return;
      loop.queued.push(task.deviceId);
      loop.queuedAt.push(d.clock.now());
      loop.maxOpen = Math.max(loop.maxOpen, ++open);
    },
    finished: (task: Task) => {
      if (task.origin !== 'campaign') return;
      loop.finished.push(task.deviceId);
      open--;
    },
  });
  return loop;
}

/** Moves the daemon's clock `stepMs` a round and lets its timers and the sims run, until `done()`; checks the cap every round. */
async function run(t: Tap.Test, l: Loop, name: string, done: (show: any) => boolean, stepMs = 1000, cap = Infinity): Promise<any> {
  for (let i = 0; i < 400; i++) {
    const res = await l.d.api('GET', `/v1/campaigns/${name}`);
    if (res.status !== 200) throw new Error(`campaign show: ${res.status} ${JSON.stringify(res.body)}`);
    const show = res.body;
    if (show.counts['in-progress'] > cap) t.fail(`${show.counts['in-progress']} devices in progress, above the cap ${cap}`);
    if (done(show)) return show;
    l.d.clock.advance(stepMs);
    l.d.timers.fire();
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`campaign ${name} never got there: ${JSON.stringify((await l.d.api('GET', `/v1/campaigns/${name}`)).body)}`);
}

/** `n` rounds of `stepMs` each. */
async function rounds(l: Loop, n: number, stepMs: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    l.d.clock.advance(stepMs);
    l.d.timers.fire();
    await new Promise((r) => setTimeout(r, 25));
  }
}

const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `stb-${String(from + i).padStart(4, '0')}`);

t.test('canary first, then each wave after the one before, never more in progress than --concurrency', async (t) => {
  const l = await setup(t, 10);
  const created = await l.d.api('POST', '/v1/campaigns', { json: { name: 'ntp', where: "id LIKE 'stb-*'", set: [{ name: NTP, value: 'ntp.example.net' }], canary: 2, waves: '50%,100%', concurrency: 2, start: true } });
  t.equal(created.status, 201, JSON.stringify(created.body));
  t.match(created.body, { name: 'ntp', state: 'running', total: 10, waves: '50%,100%', waveCount: 2 });
  const show = await run(t, l, 'ntp', (s) => s.state === 'done', 1000, 2);
  t.same(show.counts, { pending: 0, 'in-progress': 0, succeeded: 10, failed: 0, skipped: 0, cancelled: 0 });
  t.same(show.perWave.map((w: any) => w.size), [2, 3, 5], 'the canary, then 50% of the selection less the canary, then the rest');
  t.ok(l.maxOpen <= 2, `at most 2 campaign tasks open at once (saw ${l.maxOpen})`);
  // The canary (the first two online), then wave 1, then wave 2: a wave's tasks all finish before the next one's are queued.
  const groups = [ids(1, 2), ids(3, 5), ids(6, 10)];
  let at = 0;
  for (const [i, group] of groups.entries()) {
    t.same([...l.queued.slice(at, at + group.length)].sort(), group, `wave ${i} in its turn`);
    at += group.length;
  }
  t.equal(l.queued.length, 10, 'one task per device');
  for (const device of l.sim.devices) t.equal(device.tree.value(NTP), 'ntp.example.net');
  const listed = await l.d.api('GET', '/v1/campaigns');
  t.match(listed.body.campaigns, [{ name: 'ntp', state: 'done' }]);
});

t.test('work starts only inside the window; devices left offline are skipped when it closes', async (t) => {
  const l = await setup(t, 3, ['stb-9001']);
  const r = await l.d.api('POST', '/v1/campaigns', { json: { name: 'night', where: "id LIKE 'stb-*'", set: [{ name: NTP, value: 'night.example.net' }], window: '02:00-03:00', timezone: 'Europe/Paris', start: true } });
  t.equal(r.status, 201, JSON.stringify(r.body));
  // 00:00 UTC is 01:00 in Paris: an hour before the window. Nothing starts, whatever the ticks.
  await run(t, l, 'night', () => l.d.clock.now() >= T0 + 50 * 60_000, 60_000);
  t.same(l.queued, [], 'nothing started outside the window');
  const inside = await run(t, l, 'night', (s) => s.counts.succeeded === 3, 10_000);
  t.ok(Math.min(...l.queuedAt) >= Date.parse('2026-01-01T01:00:00Z'), 'started once the window opened (02:00 Paris)');
  t.ok(Math.max(...l.queuedAt) < Date.parse('2026-01-01T02:00:00Z'), 'and inside it');
  t.equal(inside.counts.pending, 1, 'the offline device waits while the window is open');
  const after = await run(t, l, 'night', (s) => s.state === 'done', 60_000);
  t.ok(l.d.clock.now() >= Date.parse('2026-01-01T02:00:00Z'), 'done once the window closed');
  t.same(after.counts, { pending: 0, 'in-progress': 0, succeeded: 3, failed: 0, skipped: 1, cancelled: 0 });
});

t.test('the stop rule pauses the campaign and says why; resume goes on', async (t) => {
  const l = await setup(t, 4);
  const r = await l.d.api('POST', '/v1/campaigns', { json: { name: 'bad', where: "id LIKE 'stb-*'", set: [{ name: 'InternetGatewayDevice.NoSuch.Thing', value: '1' }], concurrency: 1, stopFailureRate: '20%', start: true } });
  t.equal(r.status, 201);
  const paused = await run(t, l, 'bad', (s) => s.state === 'paused');
  // One failure is 25% of the wave: above 20%.
  t.match(paused.reason, /stop rule: wave 1 has 1 of 4 devices failed \(25%\), above --stop-failure-rate 20%/);
  t.same([paused.counts.failed, paused.counts.pending], [1, 3]);
  t.match(paused.failures, [{ device: 'stb-0001', reason: /^SetParameterValues fault 9\d{3}/, attempts: 1 }]);
  const before = l.queued.length;
  await rounds(l, 10, 1000);
  t.equal(l.queued.length, before, 'a paused campaign starts no device');
  t.equal((await l.d.api('POST', '/v1/campaigns/bad/start')).status, 409, 'start applies to drafts');
  const resumed = await l.d.api('POST', '/v1/campaigns/bad/resume');
  t.match(resumed.body, { state: 'running', reason: null });
  const done = await run(t, l, 'bad', (s) => s.state === 'done');
  t.equal(done.counts.failed, 4, 'the operator overrode the stop rule for this wave');
});

/** A port free on loopback now, for a daemon restarted on the same addresses. */
async function freePorts(): Promise<{ tcp: number; udp: number }> {
  const { createServer } = await import('node:net');
  const { createSocket } = await import('node:dgram');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const tcp = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const udp = socket.address().port;
  await new Promise<void>((r) => socket.close(r));
  return { tcp, udp };
}

t.test('a restart mid-wave resumes: no device started twice, none forgotten', async (t) => {
  const { tcp, udp } = await freePorts();
  const ports = { stun: { offline_after: '30d', listen: `127.0.0.1:${udp}` }, cwmp: { listen: `127.0.0.1:${tcp}`, connection_request_retry: '1s' } };
  const l = await setup(t, 6, [], ports);
  const r = await l.d.api('POST', '/v1/campaigns', { json: { name: 'restart', where: "id LIKE 'stb-*'", set: [{ name: NTP, value: 'again.example.net' }], concurrency: 2, start: true } });
  t.equal(r.status, 201);
  const midway = await run(t, l, 'restart', (s) => s.counts.succeeded >= 2 && s.counts['in-progress'] > 0, 1000, 2);
  t.comment(`stopped with ${midway.counts.succeeded} succeeded, ${midway.counts['in-progress']} in progress`);
  await l.d.daemon.stop();

  const d2 = await startInProcess(l.dir, { ...ports, campaigns: { tick: '1s' } });
  t.teardown(() => d2.daemon.stop());
  const l2: Loop = { ...l, d: d2 };
  const done = await run(t, l2, 'restart', (s) => s.state === 'done', 1000, 2);
  t.same(done.counts, { pending: 0, 'in-progress': 0, succeeded: 6, failed: 0, skipped: 0, cancelled: 0 }, 'every device, once');
  for (const device of l.sim.devices) {
    const tasks = (await d2.api('GET', `/v1/devices/${device.id}/tasks`)).body.tasks.filter((x: Task) => x.origin === 'campaign');
    t.equal(tasks.length, 1, `${device.id}: one campaign task`);
    t.equal(device.tree.value(NTP), 'again.example.net');
  }
});
