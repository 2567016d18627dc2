import { join } from 'node:path';
import t from 'tap';
import { openDatabase } from '../src/store/database.js';
import { ImmediateUnits } from '../src/store/sqlite-transaction.js';

t.test('units of work commit together, roll back together, and nest as savepoints', async (t) => {
  const db = openDatabase(join(t.testdir(), 'stbd.db'), { synchronous: 'normal', busyTimeoutMs: 1000 });
  t.teardown(() => db.close());
  db.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
  const units = new ImmediateUnits(db);
  const rows = () => db.prepare<[], { x: number }>('SELECT x FROM t ORDER BY x').all().map((r) => r.x);
  const insert = db.prepare<[number]>('INSERT INTO t (x) VALUES (?)');

  t.equal(await units.run(() => (insert.run(1), insert.run(2), 'ok')), 'ok', 'the result, as a promise');
  t.same(rows(), [1, 2]);
  await t.rejects(
    units.run(() => {
      insert.run(3);
      insert.run(1);
    }),
    /UNIQUE/,
    'a failing statement rejects',
  );
  t.same(rows(), [1, 2], 'and nothing of the unit stays');
  let inner: Promise<unknown> | undefined;
  await units.run(() => {
    insert.run(4);
    inner = units.run(() => insert.run(5));
  });
  await inner;
  t.same(rows(), [1, 2, 4, 5], 'a unit run inside another joins it');
  await t.rejects(units.run(() => {
    insert.run(6);
    throw new Error('changed my mind');
  }), /changed my mind/);
  t.same(rows(), [1, 2, 4, 5]);
  t.equal(db.inTransaction, false, 'every unit ended');
});
