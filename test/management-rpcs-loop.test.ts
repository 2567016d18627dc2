import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Simulator } from '../src/sim/index.js';
import { simLoop } from './helpers/sim-loop.js';

/**
 * The new RPCs through the whole loop, nothing stood in: stbctl → the daemon (a process) → a UDP connection
 * request → the simulator's session → what stbctl prints; the simulator's uploads go to the daemon's upload
 * URL for real, its VALUE CHANGE Informs update what `device show` knows. STBD_TEST_STORE=postgres runs it
 * on PostgreSQL.
 */

const IGD = 'InternetGatewayDevice.';
const PLAYER = `${IGD}X_STBSIM_Player.`;
const MS = `${IGD}ManagementServer.`;

const setup = simLoop;

t.test('set-attributes, get-attributes, VALUE CHANGE, schedule-inform (one device and --from FILE), PeriodicInformTime', async (t) => {
  const { dir, ctl, start, known, acsUrl, stun } = await setup(t);
  const sim = new Simulator({ count: 2, prefix: 'attr-', acsUrl, stun, keepaliveIntervalS: 1 });
  await start(sim);
  const device = sim.device('attr-0001')!;

  const set = await ctl('set-attributes', 'attr-0001', `${PLAYER}Channel=active`, `${PLAYER}Volume=PASSIVE`, '--wait', '20');
  t.equal(set.code, 0, set.stderr);
  t.equal(set.stdout, 'applied\n');
  t.same(device.tree.getAttributes([`${PLAYER}Channel`, `${PLAYER}Volume`]).map((a) => a.notification), [2, 1]);
  const refused = await ctl('set-attributes', 'attr-0001', `${IGD}DeviceInfo.UpTime=active`, '--wait', '20');
  t.equal(refused.code, 1);
  t.match(refused.stderr, /fault 9009: active notification is not available for InternetGatewayDevice\.DeviceInfo\.UpTime/);
  const bad = await ctl('set-attributes', 'attr-0001', `${PLAYER}Channel=loud`);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /expected NAME=active, NAME=passive or NAME=off, got "InternetGatewayDevice\.X_STBSIM_Player\.Channel=loud"/);

  const got = await ctl('get-attributes', 'attr-0001', PLAYER, '--wait', '20');
  t.equal(got.code, 0, got.stderr);
  t.match(got.stdout, /^NAME\s+NOTIFICATION\s+ACCESS\n/);
  t.match(got.stdout, /X_STBSIM_Player\.Channel\s+active\s+-\n/);
  t.match(got.stdout, /X_STBSIM_Player\.Volume\s+passive\s+-\n/);
  t.match(got.stdout, /X_STBSIM_Player\.Standby\s+off\s+-\n/);

  // The viewer zaps: active notification, an Inform at once, and the daemon knows the new channel.
  const informed = sim.waitFor('session-end', (e) => e.device === 'attr-0001' && e.events.some((ev) => ev.code === '4 VALUE CHANGE'), 20_000);
  t.equal(device.changeValue(`${PLAYER}Channel`, '42'), 2);
  t.ok((await informed).ok);
  t.equal((await known('attr-0001'))[`${PLAYER}Channel`], '42');
  // Passive: no session of its own; the value goes with the next one.
  t.equal(device.changeValue(`${PLAYER}Volume`, '77'), 1);
  t.notOk(device.tree.changed().length === 0, 'waiting for the next Inform');
  const next = sim.waitFor('session-end', (e) => e.device === 'attr-0001' && e.events.some((ev) => ev.code === '4 VALUE CHANGE'), 20_000);
  const r = await ctl('get', 'attr-0001', `${IGD}DeviceInfo.SoftwareVersion`, '--wait', '20');
  t.equal(r.code, 0, r.stderr);
  await next;
  t.equal((await known('attr-0001'))[`${PLAYER}Volume`], '77');
  t.same(device.tree.changed(), [], 'delivered');

  const scheduled = await ctl('schedule-inform', 'attr-0001', '1', '--wait', '20', '--json');
  t.equal(scheduled.code, 0, scheduled.stderr);
  const task = JSON.parse(scheduled.stdout);
  t.match(task, { status: 'done', result: { delaySeconds: 1 } });
  const back = await sim.waitFor('session-end', (e) => e.device === 'attr-0001' && e.events.some((ev) => ev.code === '3 SCHEDULED'), 20_000);
  t.same(back.events.find((e) => e.code === 'M ScheduleInform'), { code: 'M ScheduleInform', commandKey: `stbd-${task.id}` });

  writeFileSync(join(dir, 'both.txt'), 'attr-0001\nattr-0002\n');
  const bulk = await ctl('schedule-inform', '--from', join(dir, 'both.txt'), '90s', '--wait', '20');
  t.equal(bulk.code, 0, bulk.stderr);
  t.match(bulk.stdout, /2 devices: 2 done, 0 fault, 0 pending, 0 failed to queue/);
  t.equal((await ctl('schedule-inform', 'attr-0001', '0')).code, 2, 'SECONDS from 1');

  // PeriodicInformTime: the phase the ACS sets, plus whole intervals. A phase in the past and a short
  // interval: the next Inform is the first phase + k intervals still ahead, however long the set took.
  const phase = '2026-01-01T00:00:00Z';
  const setAt = Date.now();
  const periodic = await ctl('set', 'attr-0002', `${MS}PeriodicInformInterval=5`, `${MS}PeriodicInformTime=${phase}`, '--type', `${MS}PeriodicInformInterval=unsignedInt`, '--type', `${MS}PeriodicInformTime=dateTime`, '--wait', '20');
  t.equal(periodic.code, 0, periodic.stderr);
  const nextAt = sim.device('attr-0002')!.nextPeriodicInformAt!;
  t.equal((nextAt - Date.parse(phase)) % 5000, 0, 'the next periodic Inform at the phase plus whole intervals');
  t.ok(nextAt >= setAt && nextAt <= Date.now() + 5000, 'and the first of them still ahead');
  const tick = await sim.waitFor('session-end', (e) => e.device === 'attr-0002' && e.events.some((ev) => ev.code === '2 PERIODIC'), 20_000);
  t.ok(tick.ok);
  t.ok(sim.device('attr-0002')!.nextPeriodicInformAt! > nextAt && (sim.device('attr-0002')!.nextPeriodicInformAt! - nextAt) % 5000 === 0, 'then whole intervals later');
});

t.test('--value-change-every: the box changes its values at random; the notified ones reach the daemon', async (t) => {
  const { ctl, start, known, acsUrl, stun } = await setup(t);
  const sim = new Simulator({ count: 1, prefix: 'zap-', acsUrl, stun, keepaliveIntervalS: 1, valueChangeEveryS: 0.2 });
  await start(sim);
  const seen = new Map<string, Set<string>>();
  sim.on('value-change', (e) => seen.set(e.name, (seen.get(e.name) ?? new Set()).add(e.value)));
  const r = await ctl('set-attributes', 'zap-0001', `${PLAYER}=active`, '--wait', '20');
  t.equal(r.code, 0, r.stderr);
  const change = await sim.waitFor('value-change', undefined, 20_000);
  t.equal(change.notification, 'active');
  t.ok(change.name.startsWith(PLAYER));
  const reported = await sim.waitFor('session-end', (e) => e.ok && e.events.some((ev) => ev.code === '4 VALUE CHANGE'), 20_000);
  t.ok(reported);
  const values = await known('zap-0001');
  const changedNames = [...seen.keys()];
  t.ok(changedNames.some((n) => seen.get(n)!.has(values[n] ?? '')), 'a value the box changed to is what the daemon knows');
  t.ok(sim.stats.valueChanges >= 1);
});

t.test('upload --type config|log: the STB PUTs the file to the daemon; uploads lists it, upload get prints it', async (t) => {
  const { dir, ctl, start, acsUrl, stun } = await setup(t);
  const sim = new Simulator({ count: 1, prefix: 'up-', acsUrl, stun, keepaliveIntervalS: 1 });
  await start(sim);
  const device = sim.device('up-0001')!;

  const config = await ctl('upload', 'up-0001', '--wait', '30');
  t.equal(config.code, 0, config.stderr);
  const m = /^uploaded ([\d,]+) bytes as upload (\d+) \(sha256 ([0-9a-f]{64})\); fetch it with: stbctl upload get (\d+)\n$/.exec(config.stdout);
  t.ok(m, config.stdout);
  const uploadId = m![2]!;
  const file = await ctl('upload', 'get', uploadId);
  t.equal(file.code, 0, file.stderr);
  t.equal(file.stdout, device.tree.configFile(), 'the configuration file the STB sent');
  t.match(file.stdout, `${MS}PeriodicInformInterval=300\n`);

  const log = await ctl('upload', 'up-0001', '--type', 'log', '--wait', '30', '--json');
  t.equal(log.code, 0, log.stderr);
  const logTask = JSON.parse(log.stdout);
  t.match(logTask, { status: 'done', result: { status: 1, transfer: { faultCode: 0 }, upload: { id: Number } } });
  const out = join(dir, 'log.txt');
  const saved = await ctl('upload', 'get', String(logTask.result.upload.id), '--output', out);
  t.equal(saved.code, 0, saved.stderr);
  t.match(saved.stdout, new RegExp(`^upload ${logTask.result.upload.id}: [\\d,]+ bytes written to ${out.replaceAll('/', '\\/')}\\n$`));
  t.match(readFileSync(out, 'utf8'), /session: 6 CONNECTION REQUEST\n/, "the STB's log");
  t.match(readFileSync(out, 'utf8'), /Upload answered\n/);

  const list = await ctl('uploads', 'up-0001');
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, /^ID\s+TASK\s+TYPE\s+SIZE\s+RECEIVED\s+SHA-256\n/);
  t.match(list.stdout, new RegExp(`\\n${logTask.result.upload.id}\\s+${logTask.id}\\s+2 Vendor Log File\\s+\\d+`));
  t.match(list.stdout, new RegExp(`\\n${uploadId}\\s+\\d+\\s+1 Vendor Configuration File\\s+\\d+`));
  const json = JSON.parse((await ctl('uploads', 'up-0001', '--json')).stdout);
  t.equal(json.length, 2);
  t.equal((await ctl('upload', 'get', '999999')).code, 1);
  t.equal((await ctl('upload', 'up-0001', '--type', 'firmware')).code, 2);
  t.equal(sim.stats.uploads, 2);
});

t.test('an upload over [uploads] max_size: refused with 413, the STB reports the failure, the task faults', async (t) => {
  const { ctl, start, acsUrl, stun, api } = await setup(t, { uploads: { max_size: 1024 } });
  const sim = new Simulator({ count: 1, prefix: 'big-', acsUrl, stun, keepaliveIntervalS: 1 });
  await start(sim);
  t.ok(Buffer.byteLength(sim.device('big-0001')!.tree.configFile()) > 1024, 'the configuration is over the cap');
  const r = await ctl('upload', 'big-0001', '--wait', '30');
  t.equal(r.code, 1);
  t.match(r.stderr, /fault 9011: Upload failure: HTTP 413/);
  t.equal(sim.stats.uploadsFailed, 1);
  t.same((await api('/v1/devices/big-0001/uploads')).uploads, [], 'nothing stored');
});
