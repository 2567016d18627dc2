import t from 'tap';
import { Simulator, type SimulatorOptions } from '../src/sim/index.js';
import { run, setup } from './helpers/campaign-loop.js';

/**
 * Firmware campaigns: success is verified, not assumed. The image is added to stbd's own file server, and
 * every box fetches it for real with its own URL (stbsim's Download) and reboots into what it installed.
 * One box of each kind, each a simulator of its own with that knob at 1: a healthy box, one whose download
 * fails, one that reports success but comes back on its old version, and one that never comes back.
 */
t.test('a firmware device succeeds only on the new version; a fault, a box that lies and a bricked box fail, each saying why', async (t) => {
  const timing: Partial<SimulatorOptions> = { downloadDelayMs: 20, rebootDelayMs: 20 };
  const l = await setup(t, 1, [], { campaigns: { tick: '1s', verify_timeout: '1h' } }, { sim: timing });
  const d = l.d.daemon;
  const kinds: Array<[string, Partial<SimulatorOptions>]> = [['fail-', { downloadFailRate: 1 }], ['liar-', { lieRate: 1 }], ['brick-', { brickRate: 1 }]];
  for (const [prefix, knob] of kinds) {
    const sim = new Simulator({ count: 1, prefix, acsUrl: `http://127.0.0.1:${d.management.address!.port}/`, stun: { host: '127.0.0.1', port: d.keepalive.addresses.v4!.port }, keepaliveIntervalS: 1, bootInform: false, ...timing, ...knob });
    for (const device of sim.devices) t.equal((await l.d.api('POST', '/v1/devices', { json: { id: device.id, ...device.credentials } })).status, 201);
    const bound = sim.waitFor('stun-binding', () => true, 30_000);
    await sim.start();
    t.teardown(() => sim.stop());
    await bound;
  }

  const image = 'STBSIM-FIRMWARE version=2.0\n' + 'x'.repeat(4000);
  const added = await l.d.api('POST', '/v1/files?type=firmware&version=2.0', { body: image, contentType: 'application/octet-stream' });
  t.equal(added.status, 201, JSON.stringify(added.body));
  const fileId = added.body.id as string;

  const created = await l.d.api('POST', '/v1/campaigns', { json: { name: 'fw', where: "id IN ('stb-0001', 'fail-0001', 'liar-0001', 'brick-0001')", firmware: fileId, concurrency: 10, stopFailureRate: '100%', start: true } });
  t.equal(created.status, 201, JSON.stringify(created.body));
  t.match(created.body, { targetVersion: '2.0', action: { kind: 'firmware', fileId } });
  t.equal((await l.d.api('DELETE', `/v1/files/${fileId}`)).status, 409, 'the file cannot be removed while the campaign uses it');

  // The Download each box got: its own URL on stbd's file server, the file's size, the target file name.
  const progressed = await run(t, l, 'fw', (s) => s.counts.succeeded === 1 && s.counts.failed === 2);
  const task = (await l.d.api('GET', '/v1/devices/stb-0001/tasks')).body.tasks.find((x: { origin: string }) => x.origin === 'campaign');
  t.match(task.request, { kind: 'download', url: new RegExp(`/stbd-files/${fileId}/stb-0001/`), fileType: '1 Firmware Upgrade Image', fileSize: image.length, targetFileName: fileId });
  t.match(progressed.failures, [
    { device: 'fail-0001', reason: /^download failed: TransferComplete fault 9010/ },
    { device: 'liar-0001', reason: /^came back on version [^,]+, not 2\.0$/ },
  ]);
  t.equal(progressed.counts['in-progress'], 1, 'the bricked box is still awaited');

  const done = await run(t, l, 'fw', (s) => s.state === 'done', 60_000);
  t.same(done.counts, { pending: 0, 'in-progress': 0, succeeded: 1, failed: 3, skipped: 0, cancelled: 0 });
  t.match(done.failures.find((f: { device: string }) => f.device === 'brick-0001'), { reason: 'did not come back on version 2.0 within [campaigns] verify_timeout (1h)' });
  t.equal((await l.d.api('DELETE', `/v1/files/${fileId}`)).status, 200, 'once the campaign is done, the file can go');
});
