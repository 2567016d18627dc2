import { randomBytes } from 'node:crypto';
import t from 'tap';
import type * as Tap from 'tap';
import { CampaignDriver } from '../src/campaigns/campaign-driver.js';
import { CampaignService } from '../src/campaigns/campaign-service.js';
import { DeviceSelection } from '../src/devices/selection.js';
import { campaignSpec } from '../src/campaigns/campaign-input.js';
import { CampaignOutcomes } from '../src/campaigns/campaign-outcomes.js';
import type { CampaignRepo } from '../src/campaigns/campaign-repo.js';
import { waveBounds } from '../src/campaigns/campaign-rules.js';
import { SealedBox } from '../src/ca/sealed-box.js';
import { WorkSlices } from '../src/listeners/work-slices.js';
import { createLogger } from '../src/log/logger.js';
import type { Task } from '../src/management/task.js';
import { TaskQueue } from '../src/management/task-queue.js';
import { postgresRepositories, type Repositories, sqliteRepositories } from '../src/repositories.js';
import { Scheduler } from '../src/timer/scheduler.js';
import { type Engine, engines } from './helpers/engines.js';
import { manyDevices } from './helpers/many-devices.js';
import { ManualClock, ManualTimers } from './helpers/in-process.js';

/**
 * Two drivers (two stbd nodes) over one store, on a clock the test moves: exactly one drives the campaign
 * while its lease holds; when that node stops renewing it, the other takes over and goes on where it was.
 */
const NTP = 'InternetGatewayDevice.Time.NTPServer1';
const ids = Array.from({ length: 6 }, (_, i) => `d${i}`);

function node(repos: Repositories, clock: ManualClock, nodeId: string) {
  const log = createLogger('silent');
  const timers = new ManualTimers();
  const scheduler = new Scheduler({ clock, store: repos.deadlines, host: timers, onError: () => undefined });
  const tasks = new TaskQueue({ repo: repos.tasks, scheduler, clock, log, defaultExpiryMs: 86_400_000, retentionMs: 86_400_000 });
  const driver = new CampaignDriver(
    { repo: repos.campaigns, queue: (id, request, opts) => tasks.queue(id, request, opts), files: undefined, onlineAmong: async (ids) => new Set(ids), scheduler, clock, log, nodeId, slices: new WorkSlices(2, () => performance.now(), (fn) => void setImmediate(fn)) },
    { tickMs: 1000, leaseMs: 30_000, verifyTimeoutMs: 3_600_000, verifyTimeoutText: '1h' },
  );
  const outcomes = new CampaignOutcomes({ repo: repos.campaigns, clock, log, watching: () => false }, 3_600_000);
  tasks.subscribe({ finished: (task) => outcomes.taskFinished(task) });
  return { tasks, driver, log };
}

/** The CPE's side: each open campaign task is sent and answered (SetParameterValuesResponse). */
async function answerAll(tasks: TaskQueue, devices: readonly string[]): Promise<number> {
  let n = 0;
  for (const d of devices) {
    const sent: Task | undefined = await tasks.next(d);
    if (sent) n += (await tasks.complete(sent, { status: 0 })) ? 1 : 0;
  }
  return n;
}

async function campaignTasks(repo: { query(sql: string, p?: unknown[]): Promise<Record<string, unknown>[]> }): Promise<Record<string, number>> {
  const rows = await repo.query("SELECT device_id, count(*) AS n FROM tasks WHERE origin = 'campaign' GROUP BY device_id");
  return Object.fromEntries(rows.map((r) => [r['device_id'] as string, Number(r['n'])]));
}

/** A fresh store of the engine with every repository on it and the devices registered. */
async function storeOf(engine: Engine, t: Tap.Test) {
  const s = await engine.open(t);
  const o = { sealer: new SealedBox(randomBytes(32)), maxParametersPerDevice: 10_000, nodeId: 'node-a' };
  const repos = s.engine === 'sqlite' ? sqliteRepositories(s.db, 'unused', o) : postgresRepositories(s.pool, o);
  for (const id of ids) {
    await s.query("INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at, cr_generated) VALUES ($1, $2, 'x', $3, 'x', $4, 'x', 1, 1, 0)", [id, `s-${id}`, id, `w-${id}`]);
  }
  return { s, repos };
}

for (const engine of engines(t)) {
  t.test(engine.name, async (t) => {
    const { s, repos } = await storeOf(engine, t);
    const clock = new ManualClock();
    const repo: CampaignRepo = repos.campaigns;
    const c = (await repo.create('two-nodes', campaignSpec({ where: 'online', set: [{ name: NTP, value: 'x' }], concurrency: 2 }), null, clock.now()))!;
    await repo.addTargets(c.id, ids.map((deviceId, seq) => ({ deviceId, seq })));
    await repo.seal(c.id, [], waveBounds(ids.length, c.spec.waves), ids.length, clock.now());

    const a = node(repos, clock, 'node-a');
    const b = node(repos, clock, 'node-b');
    await a.driver.tick();
    await b.driver.tick();
    t.same(await campaignTasks(s), { d0: 1, d1: 1 }, 'node A started two devices (the cap); node B, without the lease, none');
    t.equal(await answerAll(a.tasks, ids), 2);
    await b.driver.tick();
    t.same(Object.keys(await campaignTasks(s)).length, 2, 'B still waits: A holds the lease');
    await a.driver.tick();
    t.same(await campaignTasks(s), { d0: 1, d1: 1, d2: 1, d3: 1 });

    // Node A dies (no more ticks, no release). Within the lease nobody drives; past it, B does.
    clock.advance(10_000);
    await b.driver.tick();
    t.same(Object.keys(await campaignTasks(s)).length, 4, 'within the lease B does nothing');
    t.equal(await answerAll(b.tasks, ids), 2, 'the devices in progress answer whichever node they reach');
    clock.advance(25_000);
    await b.driver.tick();
    t.same(await campaignTasks(s), { d0: 1, d1: 1, d2: 1, d3: 1, d4: 1, d5: 1 }, 'B took over: the last two started, none twice');
    await a.driver.tick();
    t.same(Object.keys(await campaignTasks(s)).length, 6, 'A back: fenced out, starts nothing');
    t.equal(await answerAll(b.tasks, ids), 2);
    await b.driver.tick();
    t.match(await repo.byId(c.id), { state: 'done' });
    t.same(await repo.counts(c.id), { pending: 0, 'in-progress': 0, succeeded: 6, failed: 0, skipped: 0, cancelled: 0 });
  });
}

for (const engine of engines(t)) {
  t.test(`${engine.name}: cancel`, async (t) => {
    const { repos } = await storeOf(engine, t);
    const clock = new ManualClock();
    const n = node(repos, clock, 'node-a');
    const selection = new DeviceSelection(repos.selection, clock, { flush: async () => undefined, seenSince: (now) => now, onlineAmong: async (ids) => new Set(ids) });
    const service = new CampaignService({ repo: repos.campaigns, selection, files: undefined, onlineAmong: async (ids) => new Set(ids), cancelTask: (id) => n.tasks.cancel(id), clock, log: n.log, wake: () => undefined, slices: new WorkSlices(2, () => performance.now(), (fn) => void setImmediate(fn)) });
    await service.create('stop-it', { where: "id LIKE 'd*'", set: [{ name: NTP, value: 'x' }], concurrency: 3 });
    t.match(await service.start('stop-it'), { state: 'running', total: 6 });
    await n.driver.tick();
    // d0 has had its task (sent in a session); d1 and d2 have theirs queued, undelivered.
    const sent = await n.tasks.next('d0');
    t.ok(sent);
    t.match(await service.command('stop-it', 'cancel'), { state: 'cancelled' });
    t.same(await repos.campaigns.counts((await repos.campaigns.get('stop-it'))!.id), { pending: 0, 'in-progress': 1, succeeded: 0, failed: 0, skipped: 0, cancelled: 5 }, 'undelivered tasks cancelled with the pending devices');
    await n.tasks.complete(sent!, { status: 0 });
    const report = await service.report('stop-it');
    t.same([report.counts.succeeded, report.counts.cancelled], [1, 5], 'the device whose task went out finished, and it is recorded');
    await t.rejects(service.command('stop-it', 'resume'), /the campaign is cancelled: resume applies to a campaign that is paused/);
  });
}

for (const engine of engines(t)) {
  t.test(`${engine.name}: a start and a cancel over thousands of devices give the event loop back between batches`, async (t) => {
    const { s, repos } = await storeOf(engine, t);
    await s.query(manyDevices(3000));
    const clock = new ManualClock();
    const n = node(repos, clock, 'node-a');
    const selection = new DeviceSelection(repos.selection, clock, { flush: async () => undefined, seenSince: (now) => now, onlineAmong: async (ids) => new Set(ids) });
    // A loop clock that moves 1 ms each look: a slice of 2 ms holds about two batches, whatever the machine's speed.
    let ms = 0;
    const slices = new WorkSlices(2, () => ms++, (fn) => void setImmediate(fn));
    const service = new CampaignService({ repo: repos.campaigns, selection, files: undefined, onlineAmong: async (ids) => new Set(ids), cancelTask: (id) => n.tasks.cancel(id), clock, log: n.log, wake: () => undefined, slices });
    // Turns of the loop while the service works: each one a moment a keepalive or a session would be answered.
    const turnsDuring = async <T>(work: Promise<T>): Promise<[T, number]> => {
      let turns = 0;
      let done = false;
      const turn = () => {
        if (done) return;
        turns++;
        setImmediate(turn);
      };
      setImmediate(turn);
      const result = await work;
      done = true;
      return [result, turns];
    };
    await service.create('big', { where: "id LIKE 'f*'", set: [{ name: NTP, value: 'x' }], concurrency: 5 });
    const [started, startTurns] = await turnsDuring(service.start('big'));
    t.equal(started.total, 3000, 'every device is a target');
    t.ok(startTurns >= 4, `the loop turned ${startTurns} times during the start (12 batches)`);
    const [, cancelTurns] = await turnsDuring(service.command('big', 'cancel'));
    t.same((await repos.campaigns.counts(started.id)).cancelled, 3000, 'every device cancelled');
    t.ok(cancelTurns >= 4, `the loop turned ${cancelTurns} times during the cancel`);
  });
}
