import t from 'tap';
import type { CampaignRepo } from '../src/campaigns/campaign-repo.js';
import { campaignSpec } from '../src/campaigns/campaign-input.js';
import { waveBounds, waveRange } from '../src/campaigns/campaign-rules.js';
import { PgCampaignRepo } from '../src/campaigns/pg-campaign-repo.js';
import { SqliteCampaignRepo } from '../src/campaigns/sqlite-campaign-repo.js';
import { countsOf } from '../src/campaigns/campaign-rows.js';
import type { StateCounts } from '../src/campaigns/campaign.js';
import { openDatabase } from '../src/store/database.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { openPostgres } from '../src/store/postgres/pg-database.js';
import { PG_MIGRATIONS } from '../src/store/postgres/migrations.js';
import { engines, type Store } from './helpers/engines.js';
import { manyDeviceId, manyDevices } from './helpers/many-devices.js';
import { freshDatabase, postgresFor } from './helpers/postgres.js';

const repoOf = (s: Store): CampaignRepo => (s.engine === 'sqlite' ? new SqliteCampaignRepo(s.db) : new PgCampaignRepo(s.pool));

async function addDevices(s: Store, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    await s.query("INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at, cr_generated) VALUES ($1, $2, 'x', $3, 'x', $4, 'x', 1, 1, 0)", [id, `s-${id}`, id, `w-${id}`]);
  }
}

const fid = manyDeviceId;
const MIN = Number.MIN_SAFE_INTEGER;
const MAX = Number.MAX_SAFE_INTEGER;

/** What the counts must be: every device of the range read and counted. */
async function counted(s: Store, id: number, lo: number, hi: number): Promise<StateCounts> {
  return countsOf((await s.query('SELECT state, count(*) AS n FROM campaign_devices WHERE campaign_id = $1 AND seq >= CAST($2 AS BIGINT) AND seq < CAST($3 AS BIGINT) GROUP BY state', [id, lo, hi])) as { state: string; n: unknown }[]);
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
      t.equal(await repo.cancelPending(c.id, 41_000, 3), 3, 'a batch at a time');
      t.equal(await repo.cancelPending(c.id, 41_000, 3), 2);
      t.equal(await repo.cancelPending(c.id, 41_000, 3), 0, 'until none is pending');
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

    t.test('the counts per state stay exact over thousands of devices through every kind of change', async (t) => {
      const s = await engine.open(t);
      const repo = repoOf(s);
      const n = 3000;
      await s.query(manyDevices(n));
      const spec = campaignSpec({ where: 'online', firmware: 'fw-9', canary: 3, waves: '10%,50%,100%', concurrency: 600, stopFailureRate: '100%', maxAttempts: 2 });
      const c = (await repo.create('big', spec, '9.0', 1))!;
      for (let at = 0; at < n; at += 700) {
        await repo.addTargets(c.id, Array.from({ length: Math.min(700, n - at) }, (_, i) => ({ deviceId: fid(at + i), seq: at + i })));
      }
      const bounds = waveBounds(n, spec.waves);
      const sealed = (await repo.seal(c.id, [fid(5), fid(1500), fid(2999)], bounds, n, 2))!;
      const ranges: [number, number][] = [
        [MIN, MAX],
        ...[0, 1, 2, 3].map((w) => Object.values(waveRange(sealed.bounds, w)) as [number, number]),
        [-2, 1],
        [0, 1024],
        [1023, 2049],
        [1000, 1030],
        [5, 2999],
        [2048, 4096],
        [4000, 9000],
      ];
      const check = async (when: string) => {
        for (const [lo, hi] of ranges) t.same(await repo.counts(c.id, lo, hi), await counted(s, c.id, lo, hi), `${when}: seqs ${lo}…${hi}`);
      };
      await check('sealed, the canary moved to wave 0');
      t.same(await repo.counts(c.id, MIN, 0), { pending: 3, 'in-progress': 0, succeeded: 0, failed: 0, skipped: 0, cancelled: 0 });

      await repo.claim('node-a', 3, 60_000, 10);
      await repo.start(c.id, 'node-a', [fid(5), fid(1500), fid(2999)], 3);
      for (const d of [fid(5), fid(1500), fid(2999)]) await repo.finish(c.id, d, null, { kind: 'succeeded' }, 4);
      await repo.advance(c.id, 'node-a', 0, { kind: 'next-wave', wave: 1 }, 4);
      await repo.advance(c.id, 'node-a', 1, { kind: 'next-wave', wave: 2 }, 4);
      const batch = Array.from({ length: 900 }, (_, i) => fid(300 + i)).filter((d) => d !== fid(1500));
      const started = await repo.start(c.id, 'node-a', batch, 5);
      t.equal(started.length, 600, 'started up to the concurrency');
      await check('600 started across buckets');
      for (const [i, x] of started.entries()) {
        const outcome = i % 3 === 0 ? ({ kind: 'succeeded' } as const) : ({ kind: 'failed', reason: 'download failed' } as const);
        await repo.finish(c.id, x.deviceId, null, outcome, 6);
      }
      await check('finished: a third succeeded, the rest back to pending for a second try');
      const again = await repo.start(c.id, 'node-a', batch, 7);
      for (const x of again.slice(0, 250)) await repo.finish(c.id, x.deviceId, null, { kind: 'failed', reason: 'came back on 8.0' }, 8);
      await check('second tries: some failed for good, some in progress');
      t.equal(await repo.skip(c.id, Array.from({ length: 400 }, (_, i) => fid(1100 + i)), 'offline past the window', 9) > 0, true);
      await check('skipped');
      await s.query("DELETE FROM devices WHERE id IN ('f10301', 'f10302', 'f11024', 'f12047', 'f12500')");
      await check('devices deleted from the fleet');
      await repo.transition(c.id, ['running'], 'cancelled', null, 10);
      t.equal(await repo.cancelPending(c.id, 10, 700), 700);
      await check('partly cancelled');
      let cancelled = 700;
      for (let n; (n = await repo.cancelPending(c.id, 10, 700)) > 0; ) cancelled += n;
      t.ok(cancelled > 1000);
      await check('cancelled');
      t.equal((await repo.counts(c.id)).pending, 0);
    });
  });
}

t.test('a store from before the counts: its campaigns are counted when it is upgraded', async (t) => {
  const fill = async (query: (sql: string) => Promise<unknown>) => {
    await query(manyDevices(1500));
    await query("INSERT INTO campaigns (id, name, state, spec, created_at) VALUES (7, 'old', 'running', '{}', 1)");
    await query("INSERT INTO campaign_devices (campaign_id, device_id, seq, state) SELECT 7, id, CAST(substr(id, 2) AS INTEGER) - 10001, CASE WHEN id < 'f10900' THEN 'succeeded' ELSE 'pending' END FROM devices");
  };
  const expected = { pending: 600, 'in-progress': 0, succeeded: 900, failed: 0, skipped: 0, cancelled: 0 };
  const within = { pending: 600, 'in-progress': 0, succeeded: 1, failed: 0, skipped: 0, cancelled: 0 };

  t.test('sqlite', async (t) => {
    const path = `${t.testdir()}/stbd.db`;
    const old = openDatabase(path, { synchronous: 'normal', busyTimeoutMs: 1000, migrations: MIGRATIONS.filter((m) => m.version <= 20) });
    await fill(async (sql) => old.exec(sql));
    old.close();
    const db = openDatabase(path, { synchronous: 'normal', busyTimeoutMs: 1000 });
    t.teardown(() => db.close());
    const repo = new SqliteCampaignRepo(db);
    t.same(await repo.counts(7), expected);
    t.same(await repo.counts(7, 898, 5000), within);
  });

  const server = postgresFor(t);
  if (!server) return;
  t.test('postgres', async (t) => {
    const url = await freshDatabase(server);
    const old = await openPostgres({ url, poolSize: 2, statementTimeoutMs: 10_000, migrations: PG_MIGRATIONS.filter((m) => m.version <= 20) });
    await fill(async (sql) => old.query(sql));
    await old.end();
    const pool = await openPostgres({ url, poolSize: 2, statementTimeoutMs: 10_000 });
    t.teardown(() => pool.end());
    const repo = new PgCampaignRepo(pool);
    t.same(await repo.counts(7), expected);
    t.same(await repo.counts(7, 898, 5000), within);
  });
});
