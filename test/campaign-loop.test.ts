import t from 'tap';
import type { Task } from '../src/management/task.js';
import { freePorts, type Loop, rounds, run, setup, storeOf } from './helpers/campaign-loop.js';
import { startInProcess } from './helpers/in-process.js';

/**
 * Parameter campaigns end to end: the real daemon in this process on a clock the test moves, simulated STBs
 * over loopback (keepalives, UDP connection requests, CWMP sessions), the campaign driven through the API.
 */
const NTP = 'InternetGatewayDevice.Time.NTPServer1';
// 2026-01-01T00:00Z, where the daemon's clock starts, is a Thursday.
const T0 = Date.parse('2026-01-01T00:00:00Z');

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

t.test('a restart mid-wave resumes: no device started twice, none forgotten', async (t) => {
  const { tcp, udp } = await freePorts();
  const ports = { stun: { offline_after: '30d', listen: `127.0.0.1:${udp}` }, cwmp: { listen: `127.0.0.1:${tcp}`, connection_request_retry: '1s' } };
  // The boxes take 300 ms to answer an RPC: the test sees devices in progress, however fast or loaded the machine.
  const l = await setup(t, 6, [], ports, { sim: { responseDelayMs: 300 } });
  const r = await l.d.api('POST', '/v1/campaigns', { json: { name: 'restart', where: "id LIKE 'stb-*'", set: [{ name: NTP, value: 'again.example.net' }], concurrency: 2, start: true } });
  t.equal(r.status, 201);
  const midway = await run(t, l, 'restart', (s) => s.counts.succeeded >= 2 && s.counts['in-progress'] > 0, 1000, 2);
  t.comment(`stopped with ${midway.counts.succeeded} succeeded, ${midway.counts['in-progress']} in progress`);
  await l.stop();

  const d2 = await startInProcess(l.dir, { ...ports, store: storeOf(l.dir), campaigns: { tick: '1s' } });
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
