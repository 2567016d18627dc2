import t from 'tap';
import { PgCaRepo, SqliteCaRepo } from '../src/ca/ca-repo.js';
import { PgCasCertificateRepo, SqliteCasCertificateRepo } from '../src/cas/cas-certificate-repo.js';
import { DeadlineRepo, PgDeadlineRepo } from '../src/store/deadline-repo.js';
import { PgHealthProbeRepo, SqliteHealthProbeRepo } from '../src/store/health-probe-repo.js';
import { engines } from './helpers/engines.js';

const cert = (n: number, deviceId = 'd1') => ({ certificateId: `c${n}`, deviceId, idempotencyKey: `k${n}`, serial: `s${n}`, certPem: `pem${n}`, keySealed: Buffer.from([0, 1, 2, n]), issuedAt: 1000 + n });

for (const engine of engines(t)) {
  t.test(engine.name, async (t) => {
    t.test('CA rows: the first insert of a name wins', async (t) => {
      const s = await engine.open(t);
      const repo = s.engine === 'sqlite' ? new SqliteCaRepo(s.db) : new PgCaRepo(s.pool);
      t.equal(await repo.get('ca'), undefined);
      await repo.insert('ca', { certPem: 'A', keySealed: Buffer.from('ka') }, 1);
      await repo.insert('ca', { certPem: 'B', keySealed: Buffer.from('kb') }, 2);
      const stored = await repo.get('ca');
      t.equal(stored?.certPem, 'A');
      t.same(stored?.keySealed, Buffer.from('ka'), 'sealed keys come back as the same bytes');
      // Two daemons racing: either may win (on PostgreSQL, whichever commits first), but only whole.
      await Promise.all([repo.insert('race', { certPem: 'C', keySealed: Buffer.from('kc') }, 1), repo.insert('race', { certPem: 'D', keySealed: Buffer.from('kd') }, 2)]);
      const raced = await repo.get('race');
      t.ok(raced?.certPem === 'C' || raced?.certPem === 'D', 'one of them is stored');
      t.same(raced?.keySealed, Buffer.from(`k${raced?.certPem.toLowerCase()}`), 'with its own key');
    });

    t.test('CAS certificates: once per idempotency key; revocation of one or of all of a device', async (t) => {
      const s = await engine.open(t);
      const repo = s.engine === 'sqlite' ? new SqliteCasCertificateRepo(s.db) : new PgCasCertificateRepo(s.pool);
      await repo.insertOnce(cert(1));
      await repo.insertOnce({ ...cert(2), idempotencyKey: 'k1' });
      t.equal((await repo.byIdempotencyKey('k1'))?.certificateId, 'c1', 'the first one stays');
      t.equal(await repo.byId('c2'), undefined);
      await repo.insertOnce(cert(3));
      await repo.insertOnce(cert(4, 'd2'));
      await repo.revoke('c1', 5000);
      await repo.revoke('c1', 6000);
      t.equal((await repo.byId('c1'))?.revokedAt, 5000, 'revoking again changes nothing');
      await repo.revokeDevice('d1', 7000);
      t.same([(await repo.byId('c1'))?.revokedAt, (await repo.byId('c3'))?.revokedAt, (await repo.byId('c4'))?.revokedAt], [5000, 7000, null]);
      t.same((await repo.byId('c3'))?.keySealed, Buffer.from([0, 1, 2, 3]));
    });

    t.test('durable deadlines: due order, paging by cursor, delete only while still due, summary', async (t) => {
      const s = await engine.open(t);
      const repo = s.engine === 'sqlite' ? new DeadlineRepo(s.db) : new PgDeadlineRepo(s.pool, 'node-a');
      t.same(await repo.summary(), { count: 0, earliestDueAt: undefined });
      for (const [kind, key, due] of [['b', '1', 300], ['a', '2', 100], ['a', '1', 300], ['c', '9', 5000]] as const) {
        await s.query('INSERT INTO timer_deadlines (kind, key, due_at) VALUES ($1, $2, $3)', [kind, key, due]);
      }
      const first = await repo.dueBefore(1000, 2);
      t.same(first.map((d) => `${d.kind}/${d.key}@${d.dueAt}`), ['a/2@100', 'a/1@300']);
      t.same((await repo.dueBefore(1000, 2, first.at(-1))).map((d) => `${d.kind}/${d.key}`), ['b/1'], 'the next page after the cursor');
      await repo.deleteIfDue({ kind: 'a', key: '1', dueAt: 299 });
      t.equal((await repo.dueBefore(1000, 10)).length, 3, 'moved meanwhile: kept');
      await repo.deleteIfDue({ kind: 'a', key: '1', dueAt: 300 });
      t.same(await repo.summary(), { count: 3, earliestDueAt: 100 });
    });

    t.test('health probe: a write reads back', async (t) => {
      const s = await engine.open(t);
      const repo = s.engine === 'sqlite' ? new SqliteHealthProbeRepo(s.db) : new PgHealthProbeRepo(s.pool);
      t.equal(await repo.roundTrip(1_790_000_000_000), 1_790_000_000_000);
      t.equal(await repo.roundTrip(1_790_000_000_001), 1_790_000_000_001);
    });
  });
}
