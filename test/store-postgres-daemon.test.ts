import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { run, STBD, writeTestConfig } from './helpers/daemon.js';
import { startInProcess } from './helpers/in-process.js';
import { freshDatabase, postgresFor } from './helpers/postgres.js';

/** stbd on PostgreSQL as an operator meets it: one process per node id, a clear refusal, a server that crashes under load. */

const server = postgresFor(t);
if (server) {
  t.test('a second stbd with the same node id on the same database refuses to start, naming it; the first goes on', async (t) => {
    const url = await freshDatabase(server);
    const first = await startInProcess(t.testdir(), { store: { kind: 'postgres', url } });
    t.teardown(() => first.daemon.stop());
    const second = join(t.testdir(), 'second');
    mkdirSync(second);
    await t.rejects(startInProcess(second, { store: { kind: 'postgres', url } }), { name: 'InstanceLockedError', message: /^another stbd with \[cluster\] node_id "[^"]+" \(connected from a Unix socket since .*\) is running on postgres:\/\/postgres@.*\/db_\w+: each node of a cluster needs its own node_id$/ });
    t.equal((await first.api('GET', '/health')).body.status, 'ok');
  });

  t.test('a database that cannot be reached at start: one line naming the server and why, exit 1', async (t) => {
    const config = writeTestConfig(t.testdir(), { store: { kind: 'postgres', url: 'postgres://stbd@127.0.0.1:1/stbd' } });
    const r = await run(STBD, ['--config', config]);
    t.equal(r.code, 1);
    t.match(r.stderr, /^stbd: .*postgres:\/\/stbd@127\.0\.0\.1:1\/stbd: connection refused \(is PostgreSQL running and listening there\?\)/);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  });

  t.test('PostgreSQL crashes under load (pg_ctl stop -m immediate) and comes back: stbd recovers by itself, every acknowledged write is there', async (t) => {
    const url = await freshDatabase(server);
    const d = await startInProcess(t.testdir(), { store: { kind: 'postgres', url } });
    t.teardown(() => d.daemon.stop());
    const acknowledged: string[] = [];
    const statuses = new Map<number, number>();
    let n = 0;
    let writing = true;
    const writer = async () => {
      while (writing) {
        const id = `stb-${n++}`;
        const r = await d.api('POST', '/v1/devices', { json: { id } }).catch(() => ({ status: 0 }));
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 201) acknowledged.push(id);
      }
    };
    const writers = Array.from({ length: 8 }, writer);
    while (acknowledged.length < 50) await new Promise((r) => setTimeout(r, 10));
    server.stop('immediate');
    const down = await d.api('GET', '/health');
    t.equal(down.status, 503, '/health fails while the database is down');
    t.match(down.body.checks.store, { status: 'failing' });
    const refused = await d.api('POST', '/v1/devices', { json: { id: 'while-down' } });
    t.same([refused.status, refused.body.error], [503, 'store-unavailable'], 'writes are refused, not acknowledged');
    server.start();
    let healthy = false;
    for (let i = 0; i < 200 && !healthy; i++) {
      healthy = (await d.api('GET', '/health')).body.checks.store.status === 'ok';
      if (!healthy) await new Promise((r) => setTimeout(r, 50));
    }
    t.ok(healthy, 'healthy again without a restart');
    const after = acknowledged.length;
    while (acknowledged.length < after + 50) await new Promise((r) => setTimeout(r, 10));
    writing = false;
    await Promise.all(writers);
    t.notOk(statuses.has(500), `no internal errors (statuses: ${JSON.stringify([...statuses])})`);
    const missing: string[] = [];
    for (const id of acknowledged) if ((await d.api('GET', `/v1/devices/${id}`)).status !== 200) missing.push(id);
    t.same(missing, [], `all ${acknowledged.length} acknowledged devices are there`);
    // The test server runs with synchronous_commit = off (fast, and lossy in a crash): stbd said so and overrode it.
    t.match(d.logText(), /the server runs with synchronous_commit = off, which loses the last commits in a crash; stbd's sessions use synchronous_commit = on/);
    t.notMatch(d.logText(), /node's lock was lost/, 'its node lock was taken again after the restart');
  });
}
