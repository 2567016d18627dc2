import t from 'tap';
import type * as Tap from 'tap';
import { PgPoolRepo } from '../src/pool/pg-pool-repo.js';
import type { PoolRepo } from '../src/pool/pool-repo.js';
import { PoolError, type PoolRules } from '../src/pool/pool-rules.js';
import { SqlitePoolRepo } from '../src/pool/sqlite-pool-repo.js';
import { openDatabase } from '../src/store/database.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { type Engine, engines, type Store } from './helpers/engines.js';

const HOUR = 3_600_000;
const rules: PoolRules = { maxBoundPerAccount: 5, maxPooledPerAccount: 3, recycleAfterMs: HOUR };
const repoOf = (s: Store): PoolRepo => (s.engine === 'sqlite' ? new SqlitePoolRepo(s.db) : new PgPoolRepo(s.pool, 'node-a'));
/** A store whose registry holds the devices the tests bind (d0…d99, poison). */
async function openWithDevices(engine: Engine, t: Tap.Test): Promise<Store> {
  const store = await engine.open(t);
  for (const id of [...Array.from({ length: 100 }, (_, i) => `d${i}`), 'poison']) {
    await store.query(
      'INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0)',
      [id, `su-${id}`, 'sealed', `cu-${id}`, 'sealed', `wu-${id}`, 'sealed'],
    );
  }
  return store;
}
const codeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof PoolError ? e.code : `unexpected: ${String(e)}`));
let keys = 0;
const bindInput = (account: string, deviceId: string, now = 1000) => ({ account, deviceId, now, key: `k${++keys}` });

/** Binds through the CAS path: bind, then the CAS's answer. */
async function bound(repo: PoolRepo, account: string, deviceId: string, r = rules) {
  const plan = await repo.bind(bindInput(account, deviceId), r);
  if (plan.kind !== 'register') throw new Error(`expected a registration, got ${plan.kind}`);
  await repo.registered(account, deviceId, `cert-${deviceId}`, plan.key, 1000);
}

for (const engine of engines(t)) {
  t.test(engine.name, async (t) => {
    t.test('bind: registration, idempotency, another account, unknown outcome withdrawn', async (t) => {
      const store = await openWithDevices(engine, t);
      const repo = repoOf(store);
      const plan = await repo.bind(bindInput('A', 'd1'), rules);
      t.equal(plan.kind, 'register');
      t.same(await repo.bind(bindInput('A', 'd1'), rules), { kind: 'wait' }, 'the same bind while registering waits');
      t.equal(await codeOf(repo.bind(bindInput('B', 'd1'), rules)), 'bound-elsewhere');
      if (plan.kind !== 'register') return;
      await repo.registered('A', 'd1', 'cert-1', plan.key, 2000);
      t.same(await repo.bind(bindInput('A', 'd1'), rules), { kind: 'done', result: 'registered', fromPool: false });
      t.same((await repo.bindingsOf('A')).map((b) => [b.deviceId, b.state, b.certificateId]), [['d1', 'active', 'cert-1']]);
      t.same(await store.query('SELECT op FROM cas_outbox'), [], 'the registration row is gone once answered');

      const failed = await repo.bind(bindInput('A', 'd2'), rules);
      if (failed.kind !== 'register') return t.fail('expected a registration');
      await repo.registrationFailed('A', 'd2', failed.key, true, 'CAS timed out', 3000);
      t.same((await repo.bindingsOf('A')).map((b) => b.deviceId), ['d1'], 'the failed binding is undone');
      t.same(await store.query('SELECT op, idempotency_key FROM cas_outbox'), [{ op: 'deregister', idempotency_key: `compensate:${failed.key}` }], 'and its unknown outcome withdrawn');
      t.equal(await codeOf(repo.bind(bindInput('A', 'd2'), rules)), 'cas-unavailable', 'until the withdrawal is confirmed the device cannot be registered again');
      t.same((await repo.history('d2', 10)).map((e) => e.event), ['bind-failed', 'registering']);
    });

    t.test('threshold 1 holds under 100 parallel binds for one account', async (t) => {
      const repo = repoOf(await openWithDevices(engine, t));
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => repo.bind(bindInput('A', `d${i}`), rules).then((p) => p.kind, (e: unknown) => (e instanceof PoolError ? e.code : String(e)))));
      t.equal(results.filter((r) => r === 'register').length, rules.maxBoundPerAccount);
      t.equal(results.filter((r) => r === 'account-limit').length, 100 - rules.maxBoundPerAccount);
      t.equal((await repo.bindingsOf('A')).length, rules.maxBoundPerAccount);
    });

    t.test('a device the registry does not hold is refused, and nothing is written', async (t) => {
      const store = await openWithDevices(engine, t);
      const repo = repoOf(store);
      t.equal(await codeOf(repo.bind(bindInput('A', 'stranger'), rules)), 'unknown-device');
      t.same(await store.query('SELECT count(*) AS n FROM pool_audit'), [{ n: 0 }]);
    });

    t.test('one device bound by two accounts at once: one wins', async (t) => {
      const repo = repoOf(await openWithDevices(engine, t));
      const results = await Promise.all(['A', 'B', 'C', 'D'].map((a) => codeOf(repo.bind(bindInput(a, 'd1'), rules))));
      t.same(results.sort(), ['bound-elsewhere', 'bound-elsewhere', 'bound-elsewhere', 'ok']);
    });

    t.test('threshold 2 holds under parallel unbinds; the pool confirms a device for any account', async (t) => {
      const store = await openWithDevices(engine, t);
      const repo = repoOf(store);
      const wide = { ...rules, maxBoundPerAccount: 100 };
      for (let i = 0; i < 20; i++) await bound(repo, 'A', `d${i}`, wide);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => codeOf(repo.unbind('A', `d${i}`, 5000, rules))));
      t.equal(results.filter((r) => r === 'ok').length, rules.maxPooledPerAccount);
      t.equal(results.filter((r) => r === 'pool-limit').length, 20 - rules.maxPooledPerAccount);
      const pooled = await repo.list('A', '', 100);
      t.equal(pooled.length, rules.maxPooledPerAccount);
      t.same(pooled.map((e) => e.recycleAt), pooled.map(() => 5000 + HOUR), 'each pooled entry says when it is recycled');
      t.same(await store.query('SELECT count(*) AS n FROM timer_deadlines'), [{ n: 0 }], 'and no deadline row is written per unbind');
      t.equal(await repo.nextRecycleAt(), 5000 + HOUR);
      t.equal(await codeOf(repo.unbind('A', pooled[0]!.deviceId, 5000, rules)), 'not-bound');

      const plan = await repo.bind(bindInput('B', pooled[0]!.deviceId, 6000), rules);
      t.same(plan, { kind: 'done', result: 'confirmed', fromPool: true });
      t.same((await repo.bindingsOf('B')).map((b) => [b.via, b.certificateId]), [['pool', `cert-${pooled[0]!.deviceId}`]], 'keeps its CAS certificate');
      t.equal(await repo.countEntries(), rules.maxPooledPerAccount - 1);
    });

    t.test('binds and unbinds of one account at once are decided in arrival order, each seeing the ones before', async (t) => {
      const store = await openWithDevices(engine, t);
      const repo = repoOf(store);
      const wide = { ...rules, maxBoundPerAccount: 100 };
      for (let i = 0; i < 5; i++) await bound(repo, 'A', `d${i}`, wide);
      const [{ before }] = (await store.query('SELECT max(id) AS before FROM pool_audit')) as [{ before: number }];
      // Full (5 of 5): three unbinds make room for exactly three of the five binds behind them.
      const unbinds = [0, 1, 2].map((i) => codeOf(repo.unbind('A', `d${i}`, 5000, rules)));
      const binds = [5, 6, 7, 8, 9].map((i) => repo.bind(bindInput('A', `d${i}`), rules).then((p) => p.kind, (e: unknown) => (e instanceof PoolError ? e.code : String(e))));
      t.same(await Promise.all(unbinds), ['ok', 'ok', 'ok']);
      t.same(await Promise.all(binds), ['register', 'register', 'register', 'account-limit', 'account-limit']);
      t.equal((await repo.bindingsOf('A')).length, rules.maxBoundPerAccount);
      t.equal(await repo.countEntries(), 3);
      t.same(
        (await store.query("SELECT device_id, event FROM pool_audit WHERE id > $1 ORDER BY id", [before])).map((r) => r['device_id']),
        ['d0', 'd1', 'd2', 'd5', 'd6', 'd7'],
        'the audit trail is in the order the operations were decided',
      );
    });

    {
      t.test('an operation the database refuses fails alone; the others decided with it are kept', async (t) => {
        const store = await openWithDevices(engine, t);
        const repo = repoOf(store);
        if (engine.name === 'postgres') {
          await store.query(`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.device_id = 'poison' THEN RAISE EXCEPTION 'poisoned device'; END IF; RETURN NEW; END $$`);
          await store.query('CREATE TRIGGER refuse_poison BEFORE INSERT ON bindings FOR EACH ROW EXECUTE FUNCTION refuse_poison()');
        } else {
          await store.query("CREATE TRIGGER refuse_poison BEFORE INSERT ON bindings WHEN NEW.device_id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned device'); END");
        }
        const wide = { ...rules, maxBoundPerAccount: 100 };
        const ids = ['d0', 'd1', 'd2', 'poison', 'd3', 'd4', 'd5'];
        const results = await Promise.all(ids.map((id) => repo.bind(bindInput(id === 'poison' ? 'B' : 'A', id), wide).then((p) => p.kind, (e: unknown) => (e instanceof Error ? e.message : String(e)))));
        t.same(results, ['register', 'register', 'register', 'poisoned device', 'register', 'register', 'register']);
        t.same((await repo.bindingsOf('A')).map((b) => b.deviceId), ['d0', 'd1', 'd2', 'd3', 'd4', 'd5']);
        t.same(await repo.bindingsOf('B'), []);
        t.same(await store.query("SELECT count(*) AS n FROM pool_audit WHERE device_id = 'poison'"), [{ n: 0 }], 'nothing of it was written');
      });
    }

    t.test('recycling: due entries in pages, queued deregistration, per-device order, retries, confirmation', async (t) => {
      const store = await openWithDevices(engine, t);
      const repo = repoOf(store);
      await bound(repo, 'A', 'd1');
      await bound(repo, 'A', 'd2');
      await bound(repo, 'A', 'd3');
      await repo.unbind('A', 'd1', 0, rules);
      await repo.unbind('A', 'd2', 0, rules);
      await repo.unbind('A', 'd3', 10, rules);
      t.same(await repo.recycleDue(HOUR - 1, 10), { queued: [], more: false }, 'not yet due: nothing');
      const first = await repo.recycleDue(HOUR, 1);
      t.same([first.queued.map((e) => e.deviceId), first.more], [['d1'], true], 'the oldest first, a page at a time');
      t.same((await repo.recycleDue(HOUR, 10)).queued.map((e) => e.deviceId), ['d2'], 'then the rest due');
      t.same(await repo.recycleDue(HOUR, 10), { queued: [], more: false }, 'queued once');
      t.equal(await repo.nextRecycleAt(), HOUR + 10, 'the next one due');
      t.equal(await repo.countDeregistering(), 2);
      const due = await repo.dueOutbox(HOUR, 10);
      t.same(due.map((r) => [r.deviceId, r.op, r.certificateId]), [['d1', 'deregister', 'cert-d1'], ['d2', 'deregister', 'cert-d2']]);
      t.equal(await repo.nextOutboxAt(), HOUR);

      await repo.outboxFailed(due[0]!, 1, HOUR + 5000, 'CAS down');
      t.same((await repo.list(undefined, '', 10)).map((e) => [e.deviceId, e.state, e.attempts, e.lastError]), [['d1', 'deregistering', 1, 'CAS down'], ['d2', 'deregistering', 0, null], ['d3', 'pooled', 0, null]]);
      t.same((await repo.dueOutbox(HOUR + 1, 10)).map((r) => r.deviceId), ['d2'], 'a row waiting for its retry is not due');

      const recycled = await repo.outboxDone(due[1]!, HOUR + 2);
      t.equal(recycled?.deviceId, 'd2', 'the confirmation removes the entry it recycled');
      t.same((await repo.list(undefined, '', 10)).map((e) => e.deviceId), ['d1', 'd3']);
      t.same((await repo.history('d2', 10)).map((e) => e.event), ['recycled', 'recycling', 'unbound', 'bound', 'registering']);
      t.equal(await repo.nextOutboxAt(), HOUR + 5000);
    });

    t.test('sweeps of several nodes at once recycle each due entry exactly once', async (t) => {
      const store = await openWithDevices(engine, t);
      const repo = repoOf(store);
      const wide = { ...rules, maxBoundPerAccount: 100, maxPooledPerAccount: 100 };
      const ids = Array.from({ length: 30 }, (_, i) => `d${i}`);
      for (const id of ids) await bound(repo, 'A', id, wide);
      await Promise.all(ids.map((id) => repo.unbind('A', id, 0, wide)));
      const nodes = store.engine === 'postgres' ? ['node-a', 'node-b', 'node-c'].map((n) => new PgPoolRepo(store.pool, n)) : [repo, repo, repo];
      const sweep = async (r: PoolRepo): Promise<string[]> => {
        const got: string[] = [];
        for (let page = await r.recycleDue(HOUR, 4); ; page = await r.recycleDue(HOUR, 4)) {
          got.push(...page.queued.map((e) => e.deviceId));
          if (!page.more) return got;
        }
      };
      const swept = (await Promise.all(nodes.map(sweep))).flat();
      t.same([...swept].sort(), [...ids].sort(), 'every due entry queued, none twice');
      t.same(await store.query("SELECT count(*) AS n FROM cas_outbox WHERE op = 'deregister'"), [{ n: 30 }], 'one CAS deregistration each');
      t.equal(await repo.nextRecycleAt(), null, 'none left pooled');
    });

    t.test('a registration a crash left unanswered is undone and withdrawn at start', async (t) => {
      const store = await openWithDevices(engine, t);
      const repo = repoOf(store);
      const plan = await repo.bind(bindInput('A', 'd1'), rules);
      const rows = await repo.abandonInterrupted(9000);
      t.same(rows.map((r) => r.deviceId), ['d1']);
      t.same(await repo.bindingsOf('A'), []);
      t.same(await store.query('SELECT op, idempotency_key FROM cas_outbox'), [{ op: 'deregister', idempotency_key: `compensate:${plan.kind === 'register' ? plan.key : ''}` }]);
      t.same(await repo.abandonInterrupted(9000), [], 'once');
    });
  });
}

t.test('an existing SQLite store: the recycling deadlines of migration 17 become the entries’ recycle_at sweep (migration 18)', async (t) => {
  const path = `${t.testdir()}/stbd.db`;
  const old = openDatabase(path, { synchronous: 'normal', busyTimeoutMs: 1000, migrations: MIGRATIONS.filter((m) => m.version <= 17) });
  old.prepare("INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at) VALUES ('d1', 's', 'x', 'c', 'x', 'w', 'x', 0, 0)").run();
  old.prepare("INSERT INTO pool_entries (device_id, account, certificate_id, pooled_at, recycle_at, state) VALUES ('d1', 'A', 'cert-d1', 0, ?, 'pooled')").run(HOUR);
  old.prepare("INSERT INTO timer_deadlines (kind, key, due_at) VALUES ('pool-recycle', 'd1', ?), ('offline', 'x', 5)").run(HOUR);
  old.close();
  const db = openDatabase(path, { synchronous: 'normal', busyTimeoutMs: 1000 });
  t.teardown(() => db.close());
  t.same(db.prepare('SELECT kind FROM timer_deadlines').all(), [{ kind: 'offline' }], "the pool's deadline rows are gone, the others kept");
  const repo = new SqlitePoolRepo(db);
  t.equal(await repo.nextRecycleAt(), HOUR, 'the entry is due when its deadline was');
  t.same((await repo.recycleDue(HOUR, 10)).queued.map((e) => e.deviceId), ['d1'], 'and recycled then');
});
