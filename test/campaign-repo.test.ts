import t from 'tap';
import type { CampaignRepo } from '../src/campaigns/campaign-repo.js';
import { campaignSpec } from '../src/campaigns/campaign-input.js';
import { waveBounds } from '../src/campaigns/campaign-rules.js';
import { PgCampaignRepo } from '../src/campaigns/pg-campaign-repo.js';
import { SqliteCampaignRepo } from '../src/campaigns/sqlite-campaign-repo.js';
import { engines, type Store } from './helpers/engines.js';

const repoOf = (s: Store): CampaignRepo => (s.engine === 'sqlite' ? new SqliteCampaignRepo(s.db) : new PgCampaignRepo(s.pool));

async function addDevices(s: Store, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    await s.query("INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at, cr_generated) VALUES ($1, $2, 'x', $3, 'x', $4, 'x', 1, 1, 0)", [id, `s-${id}`, id, `w-${id}`]);
  }
}

const ids = Array.from({ length: 10 }, (_, i) => `d${String(i).padStart(2, '0')}`);

for (const engine of engines(t)) {
  t.test(engine.name, async (t) => {
    t.test('a campaign from draft to done: targets fixed at start, the cap, the stop rule, the lease', async (t) => {
      const s = await engine.open(t);
      const repo = repoOf(s);
      await addDevices(s, ids);
      const spec = campaignSpec({ where: 'online', firmware: 'fw-2', canary: 1, waves: '50%,100%', concurrency: 2, stopFailureRate: '10%', maxAttempts: 2 });
      const c = (await repo.create('spring', spec, '2.0', 1000))!;
      t.equal(c.state, 'draft');
      t.equal(await repo.create('spring', spec, '2.0', 1000), undefined, 'a name is taken once');
      t.equal(await repo.usingFile('fw-2'), 'spring', 'the file is in use');
      t.equal(await repo.firmwareActive(), false, 'a draft installs nothing yet');

      await repo.addTargets(c.id, ids.slice(0, 5).map((deviceId, seq) => ({ deviceId, seq })));
      await repo.addTargets(c.id, ids.slice(5).map((deviceId, i) => ({ deviceId, seq: 5 + i })));
      const sealed = (await repo.seal(c.id, ['d03'], waveBounds(10, spec.waves), 10, 2000))!;
      t.same([sealed.state, sealed.total, sealed.bounds], ['running', 10, [0, 5, 10]]);
      t.equal(await repo.seal(c.id, [], [], 0, 2000), undefined, 'sealed once');
      t.equal(await repo.firmwareActive(), true);
      await repo.addTargets(c.id, [{ deviceId: 'd00', seq: 99 }]);
      t.same((await repo.counts(c.id)).pending, 10, 'a running campaign takes no more targets');

      t.same(await repo.start(c.id, 'node-a', ['d03'], 2000), [], 'no lease, no start');
      t.same((await repo.claim('node-a', 2000, 30_000, 10)).map((x) => x.name), ['spring']);
      t.same(await repo.claim('node-b', 3000, 30_000, 10), [], 'another node waits while the lease holds');
      t.same(await repo.pending(c.id, Number.MIN_SAFE_INTEGER, 0, Number.MIN_SAFE_INTEGER, 10), [{ deviceId: 'd03', seq: -1 }], 'the canary is wave 0');
      t.same(await repo.start(c.id, 'node-a', ['d03'], 3000), [{ deviceId: 'd03', attempt: 1 }]);
      t.same(await repo.start(c.id, 'node-a', ['d03'], 3000), [], 'a device is started once per try');
      t.same(await repo.unattached(c.id, 10), [{ deviceId: 'd03', attempt: 1 }]);
      await repo.attach(c.id, 'd03', 77);
      t.same(await repo.unattached(c.id, 10), []);
      t.equal((await repo.byTask(77))?.deviceId, 'd03');
      t.equal((await repo.verifying(c.id, 'd03', 77, 9000))?.verifyUntil, 9000);
      t.same((await repo.dueVerifications(9000, 10)).map((d) => d.deviceId), ['d03']);
      t.equal(await repo.finish(c.id, 'd03', 78, { kind: 'succeeded' }, 4000), undefined, 'another task does not end the try');
      const ok = (await repo.finish(c.id, 'd03', 77, { kind: 'succeeded' }, 4000))!;
      t.same([ok.state, ok.device.verifyUntil, ok.campaign.state], ['succeeded', null, 'running']);
      t.equal(await repo.finish(c.id, 'd03', 77, { kind: 'succeeded' }, 4000), undefined, 'a try ends once');

      const next = (await repo.advance(c.id, 'node-a', 0, { kind: 'next-wave', wave: 1 }, 4000))!;
      t.equal(next.wave, 1);
      t.equal(await repo.advance(c.id, 'node-a', 0, { kind: 'next-wave', wave: 1 }, 4000), undefined, 'a wave advances once');
      const started = await repo.start(c.id, 'node-a', ['d00', 'd01', 'd02', 'd04'], 5000);
      t.same(started.map((x) => x.deviceId), ['d00', 'd01'], 'never more in progress than the concurrency');
      t.same((await repo.counts(c.id))['in-progress'], 2);
      t.equal(await repo.inProgress(c.id), 2, 'in progress');

      // A failure with tries left goes back to pending; the last try's failure counts for the stop rule.
      const retry = (await repo.finish(c.id, 'd00', null, { kind: 'failed', reason: 'download failed' }, 6000))!;
      t.same([retry.state, retry.campaign.state], ['pending', 'running']);
      t.same((await repo.start(c.id, 'node-a', ['d00'], 6000))[0], { deviceId: 'd00', attempt: 2 });
      const failed = (await repo.finish(c.id, 'd00', null, { kind: 'failed', reason: 'came back on version 1.0, not 2.0' }, 7000))!;
      t.equal(failed.state, 'failed');
      t.equal(failed.campaign.state, 'paused', 'one of four in wave 1 is 25%, above 10%: paused');
      t.match(failed.campaign.reason, /stop rule: wave 1 has 1 of 4 devices failed \(25%\)/);
      t.match(await repo.devices(c.id, 'failed', Number.MIN_SAFE_INTEGER, 10), [{ deviceId: 'd00', reason: 'came back on version 1.0, not 2.0', attempts: 2 }]);
      t.same(await repo.start(c.id, 'node-a', ['d02'], 7000), [], 'a paused campaign starts nothing');
      t.same(await repo.claim('node-a', 7000, 30_000, 10), [], 'a paused campaign is driven by no one');

      const resumed = (await repo.transition(c.id, ['paused'], 'running', null, 8000, true))!;
      t.same([resumed.state, resumed.acceptedWave], ['running', 1], 'resuming overrides the stop rule of this wave');
      t.same((await repo.claim('node-b', 8000 + 30_000, 30_000, 10)).map((x) => x.name), ['spring'], 'an expired lease is taken over');
      t.same(await repo.start(c.id, 'node-a', ['d02'], 40_000), [], 'the old driver is fenced out');
      t.equal(await repo.skip(c.id, ['d02', 'd04'], 'offline past the window', 40_000), 2);
      await repo.finish(c.id, 'd01', null, { kind: 'succeeded' }, 40_000);
      t.same(await repo.counts(c.id, 0, 5), { pending: 0, 'in-progress': 0, succeeded: 1, failed: 1, skipped: 2, cancelled: 0 });
      const cancelled = (await repo.transition(c.id, ['draft', 'running', 'paused'], 'cancelled', null, 41_000))!;
      t.equal(cancelled.finishedAt, 41_000);
      t.equal(await repo.cancelPending(c.id, 41_000), 5);
      t.equal(await repo.usingFile('fw-2'), undefined, 'a cancelled campaign uses no file');
      t.same((await repo.list(10)).map((x) => [x.name, x.state]), [['spring', 'cancelled']]);
    });

    t.test('an interrupted start is redone from scratch', async (t) => {
      const s = await engine.open(t);
      const repo = repoOf(s);
      await addDevices(s, ids.slice(0, 3));
      const c = (await repo.create('again', campaignSpec({ where: 'online', set: [{ name: 'Device.X.Y', value: '1' }] }), null, 1))!;
      await repo.addTargets(c.id, [{ deviceId: 'd00', seq: 0 }]);
      await repo.clearTargets(c.id);
      await repo.addTargets(c.id, ids.slice(0, 3).map((deviceId, seq) => ({ deviceId, seq })));
      await repo.seal(c.id, [], waveBounds(3, [1]), 3, 2);
      t.same((await repo.counts(c.id)).pending, 3);
      await repo.clearTargets(c.id);
      t.same((await repo.counts(c.id)).pending, 3, 'a started campaign keeps its targets');
    });
  });
}
