import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openDatabase } from '../src/store/database.js';
import { run, spawnDaemon, STBD, writeTestConfig } from './helpers/daemon.js';
import { freshDatabase, postgresFor } from './helpers/postgres.js';
import { dumpPostgres, dumpSqlite, exampleRows, insertRows } from './helpers/store-rows.js';
import { forSqlite } from '../src/store/sql-dialect.js';

const server = postgresFor(t);

const sqliteDump = (path: string) => {
  const db = openDatabase(path, { synchronous: 'normal', busyTimeoutMs: 1000 });
  try {
    return dumpSqlite(db);
  } finally {
    db.close();
  }
};

t.test(`stbd store copy: a store the daemon filled, SQLite → ${server ? 'PostgreSQL → SQLite' : 'SQLite'}, and stbd runs on the copy`, async (t) => {
  const dir = t.testdir({ old: {}, middle: {}, back: {} });
  const oldDir = join(dir, 'old');
  const config = writeTestConfig(oldDir);
  const masterKey = join(oldDir, 'master.key');
  let daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop('SIGKILL'));
  const call = async (method: string, path: string, json?: unknown, tokenFile = join(oldDir, 'api.token')) => {
    const res = await fetch(`${daemon.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
      body: json === undefined ? null : JSON.stringify(json),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  for (const id of ['stb-1', 'stb-2', 'stb-3']) t.equal((await call('POST', '/v1/devices', { id })).status, 201);
  const task = await call('POST', '/v1/devices/stb-1/tasks', { kind: 'reboot' });
  const bss = join(oldDir, 'bss.token');
  t.equal((await call('PUT', '/v1/accounts/acct/devices/stb-2', undefined, bss)).body.result, 'registered');
  t.equal((await call('DELETE', '/v1/accounts/acct/devices/stb-2', undefined, bss)).body.result, 'unbound');
  t.equal((await call('PUT', '/v1/accounts/acct/devices/stb-3', undefined, bss)).body.result, 'registered');
  t.equal((await call('POST', '/v1/certificates', { device: 'stb-3', id: 'media-stb-3' })).status, 201);
  t.equal(await daemon.stop('SIGTERM'), 0);

  // What the daemon did not write (no CPE came by): one raw row in each table it left empty.
  const oldDb = join(oldDir, 'stbd.db');
  const db = openDatabase(oldDb, { synchronous: 'normal', busyTimeoutMs: 1000 });
  const empty = new Set(Object.entries(dumpSqlite(db)).filter(([, rows]) => rows.length === 0).map(([table]) => table));
  t.comment(`filled by raw rows: ${[...empty].join(', ')}`);
  await insertRows(async (sql, params) => db.prepare(forSqlite(sql)).run(...params), exampleRows('stb-1', 0).filter(([table]) => empty.has(table)));
  const before = dumpSqlite(db);
  db.close();
  for (const [table, rows] of Object.entries(before)) t.ok(rows.length > 0, `${table} has rows`);

  // Into PostgreSQL with the real CLI (or, without PostgreSQL here, into another SQLite file).
  const pgUrl = server ? await freshDatabase(server) : undefined;
  const middle = writeTestConfig(join(dir, 'middle'), { ca: { master_key_file: masterKey }, ...(pgUrl ? { store: { kind: 'postgres', url: pgUrl } } : {}) });
  let r = await run(STBD, ['store', 'copy', '--config', config, '--to-config', middle]);
  t.equal(r.code, 0, r.stderr);
  const where = pgUrl ? /postgres:\/\/\S+/.source : /\S+middle\/stbd\.db/.source;
  t.match(r.stdout, new RegExp(`^copied \\d+ rows in ${Object.keys(before).length} tables from \\S+old/stbd\\.db to ${where}; read back, every table has the same row count and checksum\\ntable +rows +checksum\\n`));
  t.match(r.stdout, /\ndevices +3 +[0-9a-f]{64}\n/);
  t.match(r.stderr, /^stbd: copying: \d+\/\d+ rows \(table \w+: \d+\/\d+\)\n/, 'plain progress lines when stderr is not a terminal');
  t.match(r.stderr, /stbd: verifying: (\d+)\/\1 rows/);
  t.same(pgUrl ? await dumpPostgres(pgUrl) : sqliteDump(join(dir, 'middle', 'stbd.db')), before, 'the same rows');
  t.notOk(existsSync(`${oldDb}.lock`), 'the source lock is released');

  r = await run(STBD, ['store', 'copy', '--config', config, '--to-config', middle]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^stbd: the target store \S+ is not empty: table bindings has rows \(copy into a new, empty database; nothing was written\)\n$/);

  // Back into a new SQLite file, and stbd runs on it: sealed secrets open with the same master key.
  const back = writeTestConfig(join(dir, 'back'), { ca: { master_key_file: masterKey } });
  r = await run(STBD, ['store', 'copy', '--config', middle, '--to-config', back]);
  t.equal(r.code, 0, r.stderr);
  t.same(sqliteDump(join(dir, 'back', 'stbd.db')), before, 'the same rows after the round trip');
  daemon = await spawnDaemon(back);
  const backDir = join(dir, 'back');
  const ids = (await call('GET', '/v1/devices', undefined, join(backDir, 'api.token'))).body.devices.map((d: { id: string }) => d.id);
  t.same(ids, ['stb-1', 'stb-2', 'stb-3']);
  t.match((await call('GET', `/v1/tasks/${task.body.id}`, undefined, join(backDir, 'api.token'))).body, { status: 'queued', kind: 'reboot' });
  t.match((await call('GET', '/v1/pool', undefined, join(backDir, 'bss.token'))).body.entries, [{ device: 'stb-2', account: 'acct', state: 'pooled' }]);
  t.match((await call('GET', '/v1/certificates/media-stb-3', undefined, join(backDir, 'api.token'))).body, { id: 'media-stb-3', device: 'stb-3', status: 'valid' });
  t.equal((await call('POST', '/v1/devices/stb-2/tasks', { kind: 'reboot' }, join(backDir, 'api.token'))).body.id > task.body.id, true, 'new tasks get new ids');
});

t.test('stbd store copy refuses another master key, a running stbd, a missing --to-config', async (t) => {
  const dir = t.testdir({ old: {}, new: {}, other: {} });
  const config = writeTestConfig(join(dir, 'old'));
  const daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop('SIGKILL'));
  const target = writeTestConfig(join(dir, 'new'), { ca: { master_key_file: join(dir, 'old', 'master.key') } });
  let r = await run(STBD, ['store', 'copy', '--config', config, '--to-config', target]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^stbd: another stbd \(pid \d+\) is using \S+old\/stbd\.db: stop it first \(a store is copied while no stbd uses it\)\n$/);
  t.equal(await daemon.stop('SIGTERM'), 0);

  const otherKey = writeTestConfig(join(dir, 'other'));
  r = await run(STBD, ['store', 'copy', '--config', config, '--to-config', otherKey]);
  t.equal(r.code, 1);
  t.equal(r.stderr, `stbd: ${otherKey}: [ca] master_key_file ${join(dir, 'other', 'master.key')} does not exist; it must hold the key of ${config} (${join(dir, 'old', 'master.key')}), which sealed the secrets being copied: install that file there (mode 0600), then copy\n`);
  t.notOk(existsSync(join(dir, 'other', 'stbd.db')), 'no target made');

  r = await run(STBD, ['store', 'copy', '--config', config]);
  t.equal(r.code, 2);
  t.equal(r.stderr, "stbd: required option '--to-config <file>' not specified; see 'stbd store copy --help'\n");
});
