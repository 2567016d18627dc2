import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import type * as Tap from 'tap';
import { openDatabase } from '../src/store/database.js';
import { acquireInstanceLock } from '../src/store/instance-lock.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { copyOrder, layoutDifference, type TableLayout } from '../src/store/copy/copy-plan.js';
import { openCopySource, openCopyTarget, refuseSameStore } from '../src/store/copy/open-copy-ends.js';
import { encodeRow, TableChecksum } from '../src/store/copy/row-checksum.js';
import { type CopiedTable, copyStore, type CopyProgress } from '../src/store/copy/store-copy.js';
import { type StoreSettings, storeName } from '../src/store/open-store.js';
import { openPostgres } from '../src/store/postgres/pg-database.js';
import { forSqlite } from '../src/store/sql-dialect.js';
import { copyProgress } from '../src/cli/copy-progress.js';
import { freshDatabase, postgresFor } from './helpers/postgres.js';
import { type Dump, dumpPostgres, dumpSqlite, exampleRows, insertRows } from './helpers/store-rows.js';

const VERSION = MIGRATIONS.at(-1)!.version;

t.test('a row encodes by value, not by the JavaScript type an engine hands it over as', async (t) => {
  const same = (a: unknown[], b: unknown[]) => encodeRow(a).equals(encodeRow(b));
  t.ok(same([1n, 'x', Buffer.from([0, 255]), null], [1, 'x', new Uint8Array([0, 255]), undefined]), 'bigint and number, Buffer and Uint8Array, null and undefined');
  t.ok(same([true, false], [1n, 0]), 'a boolean flag is its 0/1');
  t.notOk(same([1n], ['1']), 'an integer is not its digits as text');
  t.notOk(same(['ab'], [Buffer.from('ab')]), 'text is not its bytes');
  t.notOk(same([''], [null]), "'' is not NULL");
  t.notOk(same(['a', 'bc'], ['ab', 'c']), 'values are length-prefixed');
  t.notOk(same([2n ** 53n + 1n], [2n ** 53n]), 'integers stay exact past 2^53');
  t.throws(() => encodeRow([{}]), TypeError);
});

t.test('a table checksum does not depend on row order, and changes with any row', async (t) => {
  const rows = [['a', 1n], ['B', 2n], ['é', null]];
  const sum = (rs: unknown[][]) => {
    const c = new TableChecksum();
    rs.forEach((r) => c.add(r));
    return c;
  };
  t.equal(sum(rows).digest(), sum([...rows].reverse()).digest());
  t.equal(sum(rows).rows, 3);
  t.match(sum(rows).digest(), /^[0-9a-f]{64}$/);
  t.not(sum(rows).digest(), sum([...rows.slice(0, 2), ['é', 0n]]).digest(), 'a changed value');
  t.not(sum(rows).digest(), sum(rows.slice(0, 2)).digest(), 'a missing row');
});

t.test('tables are copied in an order foreign keys accept; differing tables are named', async (t) => {
  const table = (name: string, references: string[] = [], columns = ['id']): TableLayout => ({ name, columns, primaryKey: ['id'], references });
  const order = copyOrder([table('versions', ['certs']), table('certs', ['devices', 'certs']), table('tasks', ['devices']), table('devices'), table('audit')]).map((x) => x.name);
  t.same(order, ['audit', 'devices', 'certs', 'tasks', 'versions']);
  t.throws(() => copyOrder([table('a', ['b']), table('b', ['a'])]), /cycle/);
  t.equal(layoutDifference([table('a', [], ['id', 'x'])], [table('a', [], ['x', 'id'])]), undefined, 'column order does not matter');
  t.equal(layoutDifference([table('a', [], ['id', 'x'])], [table('a', [], ['id'])]), 'table a has columns (id, x) in the source, (id) in the target');
  t.equal(layoutDifference([table('a')], [table('a'), table('b')]), 'table b is missing in the source');
  t.equal(layoutDifference([table('a'), table('b')], [table('a')]), 'table b is missing in the target');
});

const server = postgresFor(t);

interface TestStore {
  readonly settings: StoreSettings;
  /** $1-style statements on the store's own engine, on a connection opened for the call. */
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  dump(): Promise<Dump>;
}

const base = { path: '', url: '', password_file: undefined, pool_size: 1, statement_timeout: 10_000, synchronous: 'normal', busy_timeout: 1000 } as const;

// t.testdir() empties the directory at each call: one per test.
const dirs = new WeakMap<Tap.Test, string>();
const dirOf = (t: Tap.Test): string => dirs.get(t) ?? (dirs.set(t, t.testdir()), dirs.get(t)!);

/** A new, migrated, empty store of `kind` (or an unmigrated place for one, with `create: false`). */
async function newStore(t: Tap.Test, kind: 'sqlite' | 'postgres', name: string, create = true): Promise<TestStore> {
  if (kind === 'sqlite') {
    const path = join(dirOf(t), `${name}.db`);
    const open = () => openDatabase(path, { synchronous: 'normal', busyTimeoutMs: 1000 });
    if (create) open().close();
    return {
      settings: { ...base, kind, path },
      async query(sql, params = []) {
        const db = open();
        try {
          const s = db.prepare(forSqlite(sql));
          return s.reader ? (s.safeIntegers(true).all(...params) as Record<string, unknown>[]) : (s.run(...params), []);
        } finally {
          db.close();
        }
      },
      async dump() {
        const db = open();
        try {
          return dumpSqlite(db);
        } finally {
          db.close();
        }
      },
    };
  }
  const url = await icuDatabase(t);
  if (create) await (await openPostgres({ url, poolSize: 1, statementTimeoutMs: 10_000 })).end();
  return {
    settings: { ...base, kind, url },
    async query(sql, params = []) {
      // Not named "stbd": the copy refuses a database other stbd processes are connected to.
      const client = new pg.Client({ connectionString: url, application_name: 'store-copy-test' });
      await client.connect();
      try {
        return (await client.query(sql, params)).rows;
      } finally {
        await client.end();
      }
    },
    dump: () => dumpPostgres(url),
  };
}

/**
 * A new PostgreSQL database ordering text by an ICU collation ('_dev' < 'a-dev' < 'B-dev' < 'é-dev' < 'Z-dev'),
 * unlike SQLite's byte order ('B-dev' < 'Z-dev' < '_dev' < 'a-dev' < 'é-dev'): each engine pages in its own order.
 */
async function icuDatabase(t: Tap.Test): Promise<string> {
  const name = `icu_${process.hrtime.bigint().toString(36)}`;
  const admin = new pg.Client({ connectionString: server!.url('postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'und' LOCALE 'C.UTF-8'`);
    return server!.url(name);
  } catch (err) {
    t.comment(`no ICU collation here (${(err as Error).message}): the database orders text like SQLite`);
    return freshDatabase(server!);
  } finally {
    await admin.end();
  }
}

const DEVICES = ['a-dev', 'B-dev', 'é-dev', 'Z-dev', '_dev'];

async function fill(store: TestStore): Promise<void> {
  for (const [n, d] of DEVICES.entries()) await insertRows((sql, params) => store.query(sql, params), exampleRows(d, n));
}

async function copy(from: TestStore, to: TestStore, batchRows = 2, onProgress?: (p: CopyProgress) => void): Promise<CopiedTable[]> {
  const source = await openCopySource(from.settings);
  try {
    const target = await openCopyTarget(to.settings, () => undefined);
    try {
      return await copyStore(source, target, { schemaVersion: VERSION, batchRows, ...(onProgress ? { onProgress } : {}) });
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

const kinds: ('sqlite' | 'postgres')[] = server ? ['sqlite', 'postgres'] : ['sqlite'];
for (const from of kinds) {
  for (const to of kinds) {
    t.test(`${from} → ${to}: every row of every table, identical; ids and triggers go on from the copied rows`, async (t) => {
      const source = await newStore(t, from, 'source');
      await fill(source);
      const before = await source.dump();
      for (const [table, rows] of Object.entries(before)) if (table !== 'health_probe' && table !== 'profile_catalog') t.ok(rows.length >= DEVICES.length, `${table} has rows`);
      const target = await newStore(t, to, 'target', false);
      const progress: CopyProgress[] = [];
      const copied = await copy(source, target, 2, (p) => progress.push(p));

      t.same(await target.dump(), before, 'the same rows, value for value');
      if (to === 'postgres') t.same(await target.query("SELECT relname FROM pg_class WHERE relname IN ('devices', 'presence', 'tasks') AND reltuples < 0"), [], 'the planner has statistics of the copied tables');
      t.same(await source.dump(), before, 'the source is unchanged');
      t.same(copied.map((c) => c.name).sort(), Object.keys(before).filter((n) => !n.startsWith('sqlite_')).sort(), 'every table');
      t.same(Object.fromEntries(copied.map((c) => [c.name, c.rows])), Object.fromEntries(Object.entries(before).map(([n, r]) => [n, r.length])), 'row counts reported');
      const total = copied.reduce((n, c) => n + c.rows, 0);
      t.match(progress.at(-1), { phase: 'verify', rows: total, total });
      t.ok(progress.some((p) => p.phase === 'copy' && p.table === 'device_parameters' && p.tableRows === 2 && p.tableTotal === 15), 'pages of 2 rows reported as they go');

      // The parameter counter was copied, not counted again, and counts again from here.
      t.same((await target.query("SELECT parameter_count FROM cwmp_devices WHERE device_id = 'a-dev'")).map((r) => Number(r['parameter_count'])), [3]);
      await target.query("INSERT INTO device_parameters VALUES ('a-dev', 'Device.New', 'v', 'xsd:string', 1)");
      t.same((await target.query("SELECT parameter_count FROM cwmp_devices WHERE device_id = 'a-dev'")).map((r) => Number(r['parameter_count'])), [4], 'the trigger is back');
      // A new row gets an id past the copied ones.
      const [task] = await target.query("INSERT INTO tasks (device_id, kind, request, origin, status, created_at, expires_at) VALUES ('a-dev', 'reboot', '{}', 'api', 'queued', 1, 2) RETURNING id");
      t.equal(BigInt(task!['id'] as number), 105n);
      const [outbox] = await target.query("INSERT INTO cas_outbox (op, device_id, idempotency_key, created_at, next_attempt_at) VALUES ('register', 'a-dev', 'new', 1, 1) RETURNING id");
      t.equal(BigInt(outbox!['id'] as number), 2n ** 53n + 10n);
    });
  }
}

for (const to of kinds) {
  t.test(`a target with rows (${to}) is refused, naming the table, and left unchanged`, async (t) => {
    const source = await newStore(t, 'sqlite', 'source');
    await fill(source);
    const target = await newStore(t, to, 'target');
    await target.query("INSERT INTO timer_deadlines (kind, key, due_at) VALUES ('offline', 'x', 1)");
    const before = await target.dump();
    const err = await copy(source, target).catch((e: unknown) => e);
    t.match(err, { name: 'CopyRefusedError' });
    t.equal((err as Error).message, `the target store ${storeName(target.settings)} is not empty: table timer_deadlines has rows (copy into a new, empty database; nothing was written)`);
    t.same(await target.dump(), before);
  });
}

t.test('a source at another schema version is refused; the target stays empty', async (t) => {
  const path = join(dirOf(t), 'old.db');
  openDatabase(path, { synchronous: 'normal', busyTimeoutMs: 1000, migrations: MIGRATIONS.slice(0, -1) }).close();
  const source: TestStore = { ...(await newStore(t, 'sqlite', 'unused')), settings: { ...base, kind: 'sqlite', path } };
  const target = await newStore(t, 'sqlite', 'target', false);
  await t.rejects(copy(source, target), {
    name: 'CopyRefusedError',
    message: `the source store ${path} is at schema version ${MIGRATIONS.at(-2)!.version}, this stbd's is ${VERSION}: start this stbd on it once (it migrates the schema as it starts), stop it, then copy`,
  });
  t.same(Object.values(await target.dump()).flat(), []);
  if (!server) return;
  const never = await newStore(t, 'postgres', 'never', false);
  await t.rejects(copy(never, target), { name: 'CopyRefusedError', message: /^the source store postgres:\/\/\S+ is at schema version 0, this stbd's is \d+: start this stbd on it once/ });
});

t.test('a store in use is not copied: the SQLite instance lock, other stbd connections to PostgreSQL', async (t) => {
  const source = await newStore(t, 'sqlite', 'source');
  const held = acquireInstanceLock(source.settings.path);
  await t.rejects(openCopySource(source.settings), { name: 'CopyRefusedError', message: `another stbd (pid ${process.pid}) is using ${source.settings.path}: stop it first (a store is copied while no stbd uses it)` });
  held.release();
  const target = await newStore(t, 'sqlite', 'target', false);
  const end = await openCopyTarget(target.settings, () => undefined);
  await t.rejects(openCopySource(target.settings), /another stbd .* is using .*target\.db/, 'the copy holds the lock of its target too');
  await end.close();
  t.throws(() => refuseSameStore(source.settings, { ...source.settings }), { name: 'CopyRefusedError', message: `the source and the target are the same store (${source.settings.path})` });
  await t.rejects(openCopySource({ ...base, kind: 'sqlite', path: join(dirOf(t), 'none.db') }), { name: 'StoreError', message: /none\.db: no database file there/ });

  if (!server) return;
  const pgStore = await newStore(t, 'postgres', 'pg');
  const daemonPool = await openPostgres({ url: pgStore.settings.url, poolSize: 2, statementTimeoutMs: 1000 });
  await daemonPool.query('SELECT 1');
  await t.rejects(openCopySource(pgStore.settings), { name: 'CopyRefusedError', message: /^1 other stbd connection is open on postgres:\/\/.*: stop every stbd using it first/ });
  await daemonPool.end();
  await (await openCopySource(pgStore.settings)).close();
});

t.test('a copy that does not read back the same keeps nothing', async (t) => {
  const source = await newStore(t, 'sqlite', 'source');
  await fill(source);
  const target = await newStore(t, 'sqlite', 'target', false);
  const sourceEnd = await openCopySource(source.settings);
  const targetEnd = await openCopyTarget(target.settings, () => undefined);
  // A target that loses a value on the way (as a wrong type conversion would).
  const insert = targetEnd.insert.bind(targetEnd);
  targetEnd.insert = (table, rows) => insert(table, table.name === 'presence' ? rows.map((r) => r.map((v, i) => (i === table.columns.indexOf('source_port') ? 1n : v))) : rows);
  await t.rejects(copyStore(sourceEnd, targetEnd, { schemaVersion: VERSION }), { name: 'CopyVerifyError', message: /^table presence does not read back the same from .*target\.db: 5 rows, checksum [0-9a-f]{64}; the source has 5 rows, checksum [0-9a-f]{64}; nothing was kept$/ });
  await targetEnd.close();
  await sourceEnd.close();
  t.same(Object.values(await target.dump()).flat(), [], 'the target is empty again');
});

t.test('progress off a terminal: a plain line at most every 5 s, and one as each phase ends', async (t) => {
  const lines: string[] = [];
  const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
  let now = 0;
  const progress = copyProgress(stream, () => now);
  const at = (ms: number, phase: CopyProgress['phase'], rows: number) => {
    now = ms;
    progress.update({ phase, table: 'devices', tableRows: rows, tableTotal: 10, rows, total: 10 });
  };
  at(0, 'copy', 2);
  at(4999, 'copy', 4);
  at(5000, 'copy', 6);
  at(6000, 'copy', 10);
  at(6001, 'verify', 5);
  at(6002, 'verify', 10);
  progress.stop();
  t.same(lines, [
    'stbd: copying: 2/10 rows (table devices: 2/10)\n',
    'stbd: copying: 6/10 rows (table devices: 6/10)\n',
    'stbd: copying: 10/10 rows (table devices: 10/10)\n',
    'stbd: verifying: 10/10 rows (table devices: 10/10)\n',
  ]);
});

t.test('a value the target engine refuses: one line naming the table, and the target stays empty', { skip: server ? false : 'needs PostgreSQL' }, async (t) => {
  const source = await newStore(t, 'sqlite', 'source');
  await fill(source);
  // SQLite text may hold a NUL character; PostgreSQL text may not.
  await source.query("INSERT INTO timer_deadlines (kind, key, due_at) VALUES ('offline', 'nul' || char(0) || 'key', 1)");
  const target = await newStore(t, 'postgres', 'target', false);
  await t.rejects(copy(source, target), { name: 'CopyFailedError', message: /^copying table timer_deadlines: invalid byte sequence for encoding "UTF8": 0x00; nothing was kept$/ });
  t.same(Object.values(await target.dump()).flat(), []);
});
