import { join } from 'node:path';
import t from 'tap';
import { openDatabase } from '../src/store/database.js';
import { MIGRATIONS, type Migration } from '../src/store/migrations.js';
import { PG_MIGRATIONS } from '../src/store/postgres/migrations.js';
import { StoreError } from '../src/store/database.js';
import { openPostgres } from '../src/store/postgres/pg-database.js';
import { freshDatabase, postgresFor } from './helpers/postgres.js';

const server = postgresFor(t);

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

  t.test('an unreachable server is one clear error naming it', async (t) => {
    const url = `postgres://stbd@/stbd?host=${encodeURIComponent(join(t.testdir(), 'nowhere'))}&port=5432`;
    const err = await open(url).catch((e: unknown) => e);
    t.type(err, StoreError);
    t.match((err as Error).message, /^database postgres:\/\/stbd@.*nowhere:5432\/stbd: no server socket there \(is PostgreSQL running\?\)/);
  });
}
