import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openDatabase, schemaVersion, StoreError } from '../src/store/database.js';
import { MIGRATIONS, type Migration } from '../src/store/migrations.js';
import { run, STBD, writeTestConfig } from './helpers/daemon.js';

const opts = { synchronous: 'normal', busyTimeoutMs: 1000 } as const;

t.test('an empty database gets every migration, WAL, foreign keys and the busy timeout', async (t) => {
  const path = join(t.testdir(), 'sub', 'dir', 'stbd.db');
  const db = openDatabase(path, opts);
  t.equal(schemaVersion(db), MIGRATIONS.at(-1)!.version);
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(db.pragma('foreign_keys', { simple: true }), 1);
  t.equal(db.pragma('busy_timeout', { simple: true }), 1000);
  t.ok(db.prepare("SELECT name FROM sqlite_master WHERE name = 'devices'").get(), 'devices table exists');
  db.close();
  t.equal(statSync(path).mode & 0o777, 0o600, 'the database file (it holds secrets) is private');
});

t.test('an existing database keeps its data; only newer migrations run, once', async (t) => {
  const path = join(t.testdir(), 'stbd.db');
  const v1: Migration[] = [{ version: 1, name: 'a', sql: 'CREATE TABLE a (x INTEGER)' }];
  const v2: Migration[] = [...v1, { version: 2, name: 'b', sql: 'ALTER TABLE a ADD COLUMN y INTEGER DEFAULT 7' }];
  let db = openDatabase(path, { ...opts, migrations: v1 });
  db.prepare('INSERT INTO a (x) VALUES (1)').run();
  db.close();
  db = openDatabase(path, { ...opts, migrations: v1 });
  t.equal(schemaVersion(db), 1, 'reopening at the same version changes nothing');
  db.close();
  db = openDatabase(path, { ...opts, migrations: v2 });
  t.equal(schemaVersion(db), 2);
  t.same(db.prepare('SELECT x, y FROM a').all(), [{ x: 1, y: 7 }], 'old rows survive the upgrade');
  db.close();
  db = openDatabase(path, { ...opts, migrations: v2 });
  t.equal(schemaVersion(db), 2, 'a migration is never applied twice');
  db.close();
});

t.test("migration 11 rebuilds tasks (for status 'transferring'): rows, indexes and their ids survive", async (t) => {
  const path = join(t.testdir(), 'stbd.db');
  let db = openDatabase(path, { ...opts, migrations: MIGRATIONS.filter((m) => m.version < 11) });
  db.prepare("INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at) VALUES ('d', 's', 'x', 'c', 'x', 'w', 'x', 0, 0)").run();
  const insert = db.prepare("INSERT INTO tasks (id, device_id, kind, request, origin, status, idempotency_key, created_at, expires_at, attempts, result, fault_details, request_sealed) VALUES (?, 'd', 'reboot', '{}', 'api', ?, ?, 1, 2, 1, '{\"r\":1}', '[]', 'sealed')");
  insert.run(5, 'queued', 'k');
  insert.run(9, 'done', null);
  t.throws(() => insert.run(10, 'transferring', null), /CHECK constraint/, 'before: no such status');
  db.close();
  db = openDatabase(path, opts);
  t.same(db.prepare('SELECT id, status, idempotency_key, result, fault_details, request_sealed FROM tasks ORDER BY id').all(), [
    { id: 5, status: 'queued', idempotency_key: 'k', result: '{"r":1}', fault_details: '[]', request_sealed: 'sealed' },
    { id: 9, status: 'done', idempotency_key: null, result: '{"r":1}', fault_details: '[]', request_sealed: 'sealed' },
  ]);
  db.prepare("INSERT INTO tasks (device_id, kind, request, origin, status, created_at, expires_at) VALUES ('d', 'upload', '{}', 'api', 'transferring', 1, 2)").run();
  t.equal((db.prepare('SELECT max(id) AS n FROM tasks').get() as { n: number }).n, 10, 'ids go on after the highest');
  t.throws(() => db.prepare("INSERT INTO tasks (device_id, kind, request, origin, status, idempotency_key, created_at, expires_at) VALUES ('d', 'reboot', '{}', 'api', 'queued', 'k', 1, 2)").run(), /UNIQUE/, 'the idempotency index is back');
  const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks' ORDER BY name").pluck().all();
  t.same(indexes, ['tasks_device', 'tasks_finished', 'tasks_idempotency', 'tasks_open']);
  db.close();
});

t.test('a failing migration leaves the database at the previous version', async (t) => {
  const path = join(t.testdir(), 'stbd.db');
  const good: Migration[] = [{ version: 1, name: 'a', sql: 'CREATE TABLE a (x INTEGER)' }];
  openDatabase(path, { ...opts, migrations: good }).close();
  const bad: Migration[] = [...good, { version: 2, name: 'b', sql: 'CREATE TABLE b (y INTEGER); CREATE TABLE a (z INTEGER)' }];
  t.throws(() => openDatabase(path, { ...opts, migrations: bad }), StoreError);
  const db = openDatabase(path, { ...opts, migrations: good });
  t.equal(schemaVersion(db), 1);
  t.notOk(db.prepare("SELECT name FROM sqlite_master WHERE name = 'b'").get(), 'no half-applied migration');
  db.close();
});

t.test('a database from a newer stbd is refused', async (t) => {
  const path = join(t.testdir(), 'stbd.db');
  const db = openDatabase(path, opts);
  db.pragma('user_version = 999');
  db.close();
  t.throws(() => openDatabase(path, opts), { message: /schema version 999 is newer than this stbd knows/ });
});

t.test('corrupt and unusable files give a StoreError naming the file', async (t) => {
  const dir = t.testdir();
  const corrupt = join(dir, 'corrupt.db');
  writeFileSync(corrupt, Buffer.alloc(8192, 0x41));
  t.throws(() => openDatabase(corrupt, opts), { name: 'StoreError', message: /corrupt\.db: the file is not an SQLite database/ });
  writeFileSync(join(dir, 'plainfile'), 'x');
  t.throws(() => openDatabase(join(dir, 'plainfile', 'stbd.db'), opts), { name: 'StoreError', message: /cannot create its directory .*plainfile \((EEXIST|ENOTDIR)\)/ });
  mkdirSync(join(dir, 'adir.db'));
  t.throws(() => openDatabase(join(dir, 'adir.db'), opts), { name: 'StoreError', message: /adir\.db: cannot create or open the file \(EISDIR\)/ });
});

t.test('stbd exits non-zero with one clear line, no stack trace, on a corrupt database', async (t) => {
  const dir = t.testdir();
  // SQLite's own failures: the store is named, so a run with STBD_TEST_STORE=postgres keeps it (and ends).
  const config = writeTestConfig(dir, { store: { kind: 'sqlite' } });
  writeFileSync(join(dir, 'stbd.db'), Buffer.alloc(8192, 0x41));
  const r = await run(STBD, ['--config', config]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^stbd: database .*stbd\.db: the file is not an SQLite database \(corrupt, or some other file\) \[SQLITE_NOTADB: file is not a database\]\n$/);
});

t.test('stbd exits non-zero with one clear line when the database cannot be created', async (t) => {
  const dir = t.testdir({ blocker: 'a file where a directory should be' });
  const config = writeTestConfig(dir, { store: { kind: 'sqlite', path: join(dir, 'blocker', 'stbd.db') } });
  const r = await run(STBD, ['--config', config]);
  t.equal(r.code, 1);
  t.match(r.stderr, /^stbd: database .*blocker\/stbd\.db: cannot create its directory .*blocker \((EEXIST|ENOTDIR)\)\n$/);
});
