import t from 'tap';
import type { CwmpDeviceRepo, InformFacts } from '../src/management/cwmp-device-repo.js';
import type { ParameterValue } from '../src/management/cwmp-soap.js';
import { PgCwmpDeviceRepo } from '../src/management/pg-cwmp-device-repo.js';
import { SqliteCwmpDeviceRepo } from '../src/management/sqlite-cwmp-device-repo.js';
import { engines, type Store } from './helpers/engines.js';

const MAX = 6;
const repoOf = (s: Store, max = MAX): CwmpDeviceRepo => (s.engine === 'sqlite' ? new SqliteCwmpDeviceRepo(s.db, max) : new PgCwmpDeviceRepo(s.pool, max, 'node-test'));

async function addDevices(s: Store, ...ids: string[]): Promise<void> {
  for (const id of ids) {
    await s.query('INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)', [id, `s-${id}`, 'x', 'c', 'x', `w-${id}`, 'x', 0, 0]);
  }
}

const facts = (deviceId: string, at = 1000, over: Partial<InformFacts> = {}): InformFacts => ({
  deviceId,
  manufacturer: 'Acme',
  oui: '00AA00',
  productClass: 'STB',
  serialNumber: `sn-${deviceId}`,
  dataModel: 'Device.',
  cwmpVersion: '1-0',
  lastInformAt: at,
  lastEvents: ['2 PERIODIC'],
  sourceAddress: '198.51.100.7',
  connectionRequestUrl: 'http://198.51.100.7:7547/cr',
  behindNat: false,
  natId: null,
  ...over,
});
const param = (name: string, value = 'v', type = 'xsd:string'): ParameterValue => ({ name, value, type });
const stored = async (repo: CwmpDeviceRepo, id: string) => (await repo.parameters(id)).map((p) => `${p.name}=${p.value}@${p.updatedAt}`);
/** recordInform, which must record. */
async function record(repo: CwmpDeviceRepo, f: InformFacts, parameters: ParameterValue[]) {
  const r = await repo.recordInform(f, parameters);
  if (!('recorded' in r)) throw new Error('not recorded');
  return r.recorded;
}
const count = async (s: Store, id: string) => (await s.query('SELECT parameter_count AS n FROM cwmp_devices WHERE device_id = $1', [id]))[0]?.['n'];

for (const engine of engines(t)) {
  t.test(engine.name, async (t) => {
    t.test('an Inform: state and parameters in one unit; secrets never stored; unchanged values not rewritten', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1');
      const repo = repoOf(s);
      t.equal(await repo.get('d1'), undefined);
      t.equal(await repo.identity('d1'), undefined);
      const first = await record(repo, facts('d1'), [param('Device.A', '1'), param('Device.ManagementServer.Password', 'hunter2'), param('Device.B', '2'), param('Device.A', '1b')]);
      t.match(first, { deviceId: 'd1', dataModel: 'Device.', lastEvents: ['2 PERIODIC'], behindNat: false, stunProvisioned: null, provisioning: { failures: 0, stopped: false, lastFault: null }, partialPathUnsupported: false });
      t.same(await repo.get('d1'), first);
      t.same(await repo.identity('d1'), { oui: '00AA00', productClass: 'STB', serialNumber: 'sn-d1' });
      t.same(await stored(repo, 'd1'), ['Device.A=1b@1000', 'Device.B=2@1000'], 'no secret; a name twice keeps its last value');
      const second = await record(repo, facts('d1', 2000, { behindNat: true, natId: '203.0.113.1', lastEvents: ['1 BOOT'] }), [param('Device.A', '1b'), param('Device.B', '3')]);
      t.match(second, { behindNat: true, natId: '203.0.113.1', lastEvents: ['1 BOOT'], lastInformAt: 2000 });
      t.same(await stored(repo, 'd1'), ['Device.A=1b@1000', 'Device.B=3@2000'], 'only the changed value is rewritten');
      t.equal(await count(s, 'd1'), 2);
    });

    t.test("a device's own login: an Inform of another DeviceId writes nothing and says which DeviceId the device has", async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1', 'd2');
      const repo = repoOf(s);
      const guard = { sameIdentity: true } as const;
      t.match(await repo.recordInform(facts('d1'), [param('Device.A', '1')], guard), { recorded: { serialNumber: 'sn-d1' } }, 'no DeviceId known yet: recorded');
      const other = facts('d1', 2000, { serialNumber: 'sn-other', lastEvents: ['1 BOOT'] });
      t.same(await repo.recordInform(other, [param('Device.A', '2'), param('Device.B', '2')], guard), { otherIdentity: { oui: '00AA00', productClass: 'STB', serialNumber: 'sn-d1' } });
      t.match(await repo.get('d1'), { serialNumber: 'sn-d1', lastInformAt: 1000, lastEvents: ['2 PERIODIC'] }, 'the state is as it was');
      t.same(await stored(repo, 'd1'), ['Device.A=1@1000'], 'and so are the parameters');
      t.match(await repo.recordInform(facts('d1', 3000), [param('Device.A', '3')], guard), { recorded: { lastInformAt: 3000 } }, 'its own DeviceId: recorded');
      t.match(await repo.recordInform(other, [], undefined), { recorded: { serialNumber: 'sn-other' } }, 'without the guard (a factory login) the DeviceId is replaced');
    });

    t.test("an Inform says whether the device has work, so that an empty session needs no second read", async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1', 'd2');
      const repo = repoOf(s);
      const task = (device: string, status: string) =>
        s.query("INSERT INTO tasks (device_id, kind, request, origin, status, created_at, expires_at, attempts) VALUES ($1, 'reboot', '{}', 'api', $2, 0, 9000000000000, 0)", [device, status]);
      t.match(await repo.recordInform(facts('d1'), []), { openTasks: false, leased: true }, 'no task');
      await task('d1', 'done');
      await task('d2', 'queued');
      t.match(await repo.recordInform(facts('d1', 2000), []), { openTasks: false }, "a finished task and another device's queued one are no work");
      await task('d1', 'queued');
      t.match(await repo.recordInform(facts('d1', 3000), []), { openTasks: true }, 'a queued task');
      await s.query("UPDATE tasks SET status = 'sent' WHERE device_id = 'd1' AND status = 'queued'");
      t.match(await repo.recordInform(facts('d1', 4000), []), { openTasks: true }, 'a task in flight (its session was lost) is work');
    });

    if (engine.name === 'postgres') {
      t.test("the Inform's claim takes the session lease, unless another live node's session holds it", async (t) => {
        const s = await engine.open(t);
        if (s.engine !== 'postgres') throw new Error('a PostgreSQL store');
        await addDevices(s, 'd1');
        const node = (id: string, leaseUntil: number) =>
          s.query('INSERT INTO nodes (node_id, stun_address, incarnation, started_at, heartbeat_at, lease_until) VALUES ($1, $2, 1, 0, 0, $3) ON CONFLICT (node_id) DO UPDATE SET lease_until = excluded.lease_until', [id, `${id}:3478`, leaseUntil]);
        await node('node-test', 8e15);
        await node('node-b', 8e15);
        const here = repoOf(s);
        const there = new PgCwmpDeviceRepo(s.pool, MAX, 'node-b');
        const lease = async () => (await s.query('SELECT node_id, session, lease_until FROM cwmp_session_leases WHERE device_id = $1', ['d1']))[0];
        t.match(await here.recordInform(facts('d1'), [], { claim: { session: 's1', now: 1000, until: 5000 } }), { leased: true });
        t.match(await lease(), { node_id: 'node-test', session: 's1' });
        t.match(await here.recordInform(facts('d1', 2000), [], { claim: { session: 's2', now: 2000, until: 6000 } }), { leased: true }, "this node's own earlier session is replaced");
        t.match(await lease(), { session: 's2' });
        t.match(await there.recordInform(facts('d1', 3000), [], { claim: { session: 'b1', now: 3000, until: 7000 } }), { recorded: { lastInformAt: 3000 }, leased: false }, 'recorded, but the session is refused');
        t.match(await lease(), { node_id: 'node-test', session: 's2' }, 'the lease is as it was');
        t.match(await there.recordInform(facts('d1', 6000), [], { claim: { session: 'b2', now: 6000, until: 9000 } }), { leased: true }, 'a lease that ran out is taken over');
        t.match(await lease(), { node_id: 'node-b', session: 'b2' });
        await node('node-b', 100);
        t.match(await here.recordInform(facts('d1', 7000), [], { claim: { session: 's3', now: 7000, until: 11000 } }), { leased: true }, "a live lease of a dead node is taken over");
        t.match(await here.recordInform(facts('d1', 7100), [], {}), { leased: true }, 'no claim: nothing to refuse');
        t.match(await lease(), { session: 's3' }, 'and nothing taken');
      });
    }

    t.test('the parameter cap: new names past it are left out and recorded, known names always updated', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1');
      const repo = repoOf(s);
      await record(repo, facts('d1'), ['a', 'b', 'c', 'd'].map((n) => param(`Device.${n}`)));
      const state = await record(repo, facts('d1', 2000), ['a', 'e', 'f', 'g', 'h'].map((n) => param(`Device.${n}`, 'new')));
      t.equal(state.lastInformAt, 2000);
      t.same(await stored(repo, 'd1'), ['Device.a=new@2000', 'Device.b=v@1000', 'Device.c=v@1000', 'Device.d=v@1000', 'Device.e=new@2000', 'Device.f=new@2000']);
      t.same(await repo.cpeEvents('d1'), [{ at: 2000, method: 'Inform', detail: repo.capFault(2) }], 'what was left out is recorded');
      t.match(repo.capFault(2), { code: 0, message: /^2 parameter values not stored: the device has 6 stored/ });
      t.equal(await repo.putParameters('d1', [param('Device.b', 'x'), param('Device.z')], 3000), 1, 'a known name is updated, a new one left out');
      t.equal(await repo.putParameters('d1', [param('Device.b', 'x')], 3000), 0);
      t.equal(await count(s, 'd1'), MAX);
    });

    t.test('putParameters replacing a subtree forgets what is gone under it, and only there', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1', 'd2');
      const repo = repoOf(s, 100);
      await record(repo, facts('d1'), [param('Device.X.1'), param('Device.X.2'), param('Device.XY.1'), param('Device.X'), param('DeviceX.1')]);
      await record(repo, facts('d2'), [param('Device.X.1')]);
      t.equal(await repo.putParameters('d1', [param('Device.X.2', 'new'), param('Device.X.3', 'new')], 2000, 'Device.X.'), 0);
      t.same(await stored(repo, 'd1'), ['Device.X=v@1000', 'Device.X.2=new@2000', 'Device.X.3=new@2000', 'Device.XY.1=v@1000', 'DeviceX.1=v@1000']);
      t.same(await stored(repo, 'd2'), ['Device.X.1=v@1000'], 'another device keeps its own');
      t.equal(await count(s, 'd1'), 5, 'the count follows deletes too');
      t.equal(await repo.putParameters('d1', [], 3000, 'Device.'), 0);
      t.same(await stored(repo, 'd1'), ['DeviceX.1=v@1000']);
      t.same((await repo.parameters('d2', 0)).length, 0, 'limit');
    });

    t.test('provisioning state: fingerprints, faults in a row until stopped, retry, partial paths', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1');
      const repo = repoOf(s);
      t.equal(await repo.provisioningFailed('d1', { code: 9002, message: 'x', task: 1, at: 1 }, 2), undefined, 'no state yet');
      t.equal(await repo.retryProvisioning('d1'), undefined);
      await record(repo, facts('d1'), []);
      await repo.setStunProvisioned('d1', 'fp-stun');
      await repo.setCredentialsProvisioned('d1', 'fp-cr');
      await repo.setPartialPathUnsupported('d1', true);
      t.match(await repo.get('d1'), { stunProvisioned: 'fp-stun', credentialsProvisioned: 'fp-cr', partialPathUnsupported: true });
      const fault = { code: 9007, message: 'Invalid parameter value', task: 7, at: 5000 };
      t.match(await repo.provisioningFailed('d1', fault, 2), { provisioning: { failures: 1, stopped: false, lastFault: fault } });
      t.match(await repo.provisioningFailed('d1', { ...fault, task: 8 }, 2), { provisioning: { failures: 2, stopped: true, lastFault: { task: 8 } } });
      t.match(await repo.retryProvisioning('d1'), { provisioning: { failures: 0, stopped: false } });
      await repo.provisioningFailed('d1', fault, 2);
      await repo.provisioningSucceeded('d1');
      t.match(await repo.get('d1'), { provisioning: { failures: 0, stopped: false, lastFault: fault } }, 'a success ends the run; the last fault stays to be read');
      await repo.setStunProvisioned('d1', null);
      await repo.setPartialPathUnsupported('d1', false);
      t.match(await repo.get('d1'), { stunProvisioned: null, partialPathUnsupported: false });
      const again = await record(repo, facts('d1', 9000), []);
      t.match(again, { credentialsProvisioned: 'fp-cr', provisioning: { lastFault: fault } }, "an Inform keeps stbd's own columns");
    });

    t.test('CPE events: newest first, the newest 20 kept, secrets masked', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1', 'd2');
      const repo = repoOf(s);
      for (let i = 1; i <= 25; i++) await repo.recordCpeEvent('d1', i, 'AutonomousTransferComplete', { n: i });
      await repo.recordCpeEvent('d2', 1, 'Kicked', { url: 'https://user:pw@example.com/x', password: 'p' });
      const events = await repo.cpeEvents('d1');
      t.equal(events.length, 20);
      t.same(events.slice(0, 2), [{ at: 25, method: 'AutonomousTransferComplete', detail: { n: 25 } }, { at: 24, method: 'AutonomousTransferComplete', detail: { n: 24 } }]);
      t.equal(events.at(-1)?.at, 6);
      t.same((await repo.cpeEvents('d1', 3)).map((e) => e.at), [25, 24, 23]);
      t.same(await repo.cpeEvents('d2'), [{ at: 1, method: 'Kicked', detail: { url: 'https://user:(secret)@example.com/x', password: '(secret)' } }]);
    });

    if (engine.name === 'postgres') {
      t.test('the cap holds under concurrent writes of one device; events are trimmed under concurrency', async (t) => {
        const s = await engine.open(t);
        await addDevices(s, 'd1');
        const repo = repoOf(s, 12);
        await record(repo, facts('d1'), []);
        const left = await Promise.all(Array.from({ length: 10 }, (_, i) => repo.putParameters('d1', [0, 1, 2].map((k) => param(`Device.P${i}.${k}`)), 2000)));
        t.equal(left.reduce((a, b) => a + b, 0), 18, 'of 30 new names, 18 left out');
        // Informs (one statement each while far from the cap) beside units that fill it: never past it.
        await repo.putParameters('d1', [], 2000, 'Device.');
        await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? record(repo, facts('d1', 3000 + i), [param(`Device.I${i}.a`), param(`Device.I${i}.b`)]) : repo.putParameters('d1', [0, 1, 2].map((k) => param(`Device.P${i}.${k}`)), 2000))));
        t.equal((await repo.parameters('d1')).length, 12);
        t.equal(await count(s, 'd1'), 12);
        await Promise.all(Array.from({ length: 40 }, (_, i) => repo.recordCpeEvent('d1', i, 'E', {})));
        t.equal((await s.query('SELECT count(*) AS n FROM cpe_events WHERE device_id = $1', ['d1']))[0]?.['n'], 20);
      });
    }
  });
}
