import { chmodSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { openDatabase } from '../src/store/database.js';
import { MIGRATIONS, type Migration } from '../src/store/migrations.js';
import { PG_MIGRATIONS } from '../src/store/postgres/migrations.js';
import { StoreError } from '../src/store/database.js';
import { openPostgres, pgSchemaVersion } from '../src/store/postgres/pg-database.js';
import { openPostgresStore, postgresOptions, type PostgresStoreSettings } from '../src/store/open-store.js';
import { freshDatabase, postgresFor } from './helpers/postgres.js';

const server = postgresFor(t);

const settings = (url: string, password_file?: string): PostgresStoreSettings => ({ url, password_file, pool_size: 2, statement_timeout: 5000 });

/** A TCP port of 127.0.0.1 nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

t.test('[store] as openPostgres options: the password from password_file (first line, as it is)', async (t) => {
  const dir = t.testdir({ 'pg.pass': ' pass word \nnot this\n' });
  chmodSync(join(dir, 'pg.pass'), 0o600);
  t.same(postgresOptions(settings('postgres://stbd@db/stbd', join(dir, 'pg.pass'))), { url: 'postgres://stbd@db/stbd', password: ' pass word ', poolSize: 2, statementTimeoutMs: 5000 });
  t.same(postgresOptions(settings('postgres://stbd@db/stbd'), { poolSize: 1, migrate: false }), { url: 'postgres://stbd@db/stbd', poolSize: 1, statementTimeoutMs: 5000, migrate: false });
  writeFileSync(join(dir, 'open.pass'), 'pw\n', { mode: 0o644 });
  chmodSync(join(dir, 'open.pass'), 0o644);
  t.throws(() => postgresOptions(settings('postgres://stbd@db/stbd', join(dir, 'open.pass'))), { name: 'SecretFileError', message: /^\[store\] password_file: .*open\.pass: mode 0644 lets others read or change it; chmod 600 it$/ });
});

t.test('an unreachable port is one line naming host:port and why', async (t) => {
  const port = await closedPort();
  const err = await openPostgresStore(settings(`postgres://stbd@127.0.0.1:${port}/stbd`)).catch((e: unknown) => e);
  t.type(err, StoreError);
  t.equal((err as Error).message, `database postgres://stbd@127.0.0.1:${port}/stbd: connection refused (is PostgreSQL running and listening there?) [ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:${port}]`);
});

t.test('a server that closes the connection at once is named, in one line', async (t) => {
  const silent = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  const { port } = silent.address() as { port: number };
  const err = await openPostgresStore(settings(`postgres://stbd@127.0.0.1:${port}/stbd`)).catch((e: unknown) => e);
  t.equal((err as Error).message, `database postgres://stbd@127.0.0.1:${port}/stbd: the server closed the connection at once (is it PostgreSQL? its log says why)`);
});

t.test('both engines have the same migration history', async (t) => {
  t.same(
    PG_MIGRATIONS.map((m) => [m.version, m.name]),
    MIGRATIONS.map((m) => [m.version, m.name]),
  );
});

if (server) {
  const open = (url: string, migrations?: readonly Migration[]) => openPostgres({ url, poolSize: 4, statementTimeoutMs: 5000, ...(migrations ? { migrations } : {}) });

  t.test('the two engines build the same tables, columns and indexes', async (t) => {
    const sqlite = openDatabase(join(t.testdir(), 'stbd.db'), { synchronous: 'normal', busyTimeoutMs: 1000 });
    const tables = sqlite.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all().map((r) => r.name);
    const sqliteColumns = tables.flatMap((table) => sqlite.prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${table}')`).all().map((c) => `${table}.${c.name}`));
    const sqliteIndexes = sqlite.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'").all().map((r) => r.name);
    sqlite.close();

    const pool = await open(await freshDatabase(server));
    const pgColumns = (await pool.query<{ c: string }>("SELECT table_name || '.' || column_name AS c FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'stbd_schema'")).rows.map((r) => r.c);
    const pgIndexes = (await pool.query<{ n: string }>("SELECT indexname AS n FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'")).rows.map((r) => r.n);
    await pool.end();
    t.same(pgColumns.sort(), sqliteColumns.sort(), 'same columns in the same tables');
    t.same(pgIndexes.sort(), sqliteIndexes.sort(), 'same secondary indexes');
  });

  t.test('BIGINT millisecond timestamps come back as numbers', async (t) => {
    const pool = await open(await freshDatabase(server));
    await pool.query("INSERT INTO devices VALUES ('d', 'su', 'sp', 'cu', 'cp', 'wu', 'wp', $1, $1)", [1_790_000_000_123]);
    const { rows } = await pool.query('SELECT created_at FROM devices');
    await pool.end();
    t.equal(rows[0].created_at, 1_790_000_000_123);
  });

  t.test('nodes starting at once migrate once', async (t) => {
    const url = await freshDatabase(server);
    const pools = await Promise.all(Array.from({ length: 6 }, () => open(url)));
    const { rows } = await pools[0]!.query<{ version: number }>('SELECT version FROM stbd_schema ORDER BY version');
    await Promise.all(pools.map((p) => p.end()));
    t.same(
      rows.map((r) => r.version),
      PG_MIGRATIONS.map((m) => m.version),
      'each migration applied exactly once',
    );
  });

  t.test('a failing migration applies nothing, and the database stays usable at its version', async (t) => {
    const url = await freshDatabase(server);
    const good: Migration[] = [{ version: 1, name: 'a', sql: 'CREATE TABLE a (x INTEGER)' }];
    await (await open(url, good)).end();
    const bad: Migration[] = [...good, { version: 2, name: 'b', sql: 'CREATE TABLE b (y INTEGER); CREATE TABLE a (z INTEGER)' }, { version: 3, name: 'c', sql: 'CREATE TABLE c (z INTEGER)' }];
    await t.rejects(open(url, bad), { name: 'StoreError', message: /migration 2 \(b\) failed: relation "a" already exists/ });
    const pool = await open(url, good);
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name IN ('b', 'c')");
    await pool.end();
    t.equal(rows[0].n, 0, 'no half-applied migration');
  });

  t.test('a schema from a newer stbd is refused', async (t) => {
    const url = await freshDatabase(server);
    const pool = await open(url);
    await pool.query("INSERT INTO stbd_schema VALUES (999, 'future', 0)");
    await pool.end();
    await t.rejects(open(url), { message: /schema version 999 is newer than this stbd knows/ });
  });

  t.test('openPostgresStore migrates; migrate: false leaves a database as it is', async (t) => {
    const dir = t.testdir({ 'pg.pass': 'ignored by trust authentication\n' });
    chmodSync(join(dir, 'pg.pass'), 0o600);
    const url = await freshDatabase(server);
    const asIs = await openPostgresStore(settings(url), { migrate: false });
    t.equal(await pgSchemaVersion(asIs), 0, 'not migrated');
    await asIs.end();
    const pool = await openPostgresStore(settings(url, join(dir, 'pg.pass')));
    t.equal(await pgSchemaVersion(pool), PG_MIGRATIONS.at(-1)!.version);
    await pool.end();
  });

  t.test('an unreachable server is one clear error naming it', async (t) => {
    const url = `postgres://stbd@/stbd?host=${encodeURIComponent(join(t.testdir(), 'nowhere'))}&port=5432`;
    const err = await open(url).catch((e: unknown) => e);
    t.type(err, StoreError);
    t.match((err as Error).message, /^database postgres:\/\/stbd@.*nowhere:5432\/stbd: no server socket there \(is PostgreSQL running\?\)/);
  });
}
