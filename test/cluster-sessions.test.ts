import pg from 'pg';
import t from 'tap';
import type * as Tap from 'tap';
import { startNode } from './helpers/cluster.js';
import { freshDatabase, postgresFor, type ThrowawayPostgres } from './helpers/postgres.js';
import { informXml, responseXml, TestCpe } from './helpers/test-cpe.js';

/**
 * Sessions anywhere: a CPE's CWMP sessions may reach any node (a load balancer in front), one at a time in the
 * whole cluster. Two real stbd processes on one PostgreSQL.
 */

const server = postgresFor(t);

/** Two nodes on a fresh database, node A at 127.0.0.2 and node B at 127.0.0.3, and one device, stb-1, registered. */
async function twoNodes(t: Tap.Test, server: ThrowawayPostgres, sessionTimeout: string) {
  const url = await freshDatabase(server);
  const root = t.testdir();
  const extra = { cwmp: { session_timeout: sessionTimeout } };
  const a = await startNode(root, url, 'node-a', '127.0.0.2', { lease: '6s' }, extra);
  t.teardown(() => a.daemon.stop('SIGKILL'));
  t.equal((await a.clients.api('POST', '/v1/devices', { id: 'stb-1', cwmpPassword: 'cwmp-pw' })).status, 201);
  const b = await startNode(root, url, 'node-b', '127.0.0.3', { lease: '6s' }, extra);
  t.teardown(() => b.daemon.stop('SIGKILL'));
  return { url, a, b };
}
if (server) {
  t.test('a node killed after sending an RPC: the device is refused elsewhere while the lease is live, then the RPC goes out once more, through the other node, and completes', async (t) => {
    const { a, b } = await twoNodes(t, server, '5s');

    const task = await b.clients.api('POST', '/v1/devices/stb-1/tasks', { kind: 'reboot' });
    const viaB = new TestCpe(`http://127.0.0.3:${b.daemon.cwmpPort}/`, 'stb-1', 'cwmp-pw');
    t.equal((await viaB.post(informXml({ serial: 'S1', events: ['6 CONNECTION REQUEST'] }))).status, 200);
    const sent = TestCpe.rpc((await viaB.post('')).body);
    t.same(sent, { method: 'Reboot', id: String(task.body.id) }, 'node B sent the RPC');
    t.equal(await b.daemon.stop('SIGKILL'), null, 'node B killed before the CPE answered');

    // The CPE calls in again, now through node A.
    const viaA = () => new TestCpe(`http://127.0.0.2:${a.daemon.cwmpPort}/`, 'stb-1', 'cwmp-pw');
    let cpe = viaA();
    let inform = await cpe.post(informXml({ serial: 'S1', events: ['1 BOOT'] }));
    t.equal(inform.status, 503, 'refused while node B\'s session lease is live: one session per device in the cluster');
    t.match(inform.headers['retry-after'], /^\d+$/);
    t.equal((await a.clients.api('GET', `/v1/tasks/${task.body.id}`)).body.status, 'sent', 'the RPC is still node B\'s, not sent twice in parallel');
    for (let i = 0; i < 60 && inform.status === 503; i++) {
      await new Promise((r) => setTimeout(r, 500));
      cpe = viaA();
      inform = await cpe.post(informXml({ serial: 'S1', events: ['1 BOOT'] }));
    }
    t.equal(inform.status, 200, 'once node B\'s lease ran out, node A takes the session');
    const again = TestCpe.rpc((await cpe.post('')).body);
    t.same(again, { method: 'Reboot', id: String(task.body.id) }, 'the same RPC, sent again through node A');
    const after = await cpe.post(responseXml(again.id, 'RebootResponse', ''));
    t.not(after.status === 200 ? TestCpe.rpc(after.body).method : 'none', 'Reboot', 'answered: not sent a third time');
    const done = (await a.clients.api('GET', `/v1/tasks/${task.body.id}`)).body;
    t.match(done, { status: 'done', attempts: 2 }, 'done, after two sends in all');
  });

  t.test('a session that fails to open after its Inform took the lease gives the lease up: another node takes the device at once', async (t) => {
    // Leases of two session timeouts (a minute): a lease left behind would refuse the device elsewhere that long.
    const { url, a, b } = await twoNodes(t, server, '30s');
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    t.teardown(() => db.end());

    // A session on node A with an RPC in flight.
    const task = await a.clients.api('POST', '/v1/devices/stb-1/tasks', { kind: 'reboot' });
    const first = new TestCpe(`http://127.0.0.2:${a.daemon.cwmpPort}/`, 'stb-1', 'cwmp-pw');
    t.equal((await first.post(informXml({ serial: 'S1', events: ['6 CONNECTION REQUEST'] }))).status, 200);
    t.same(TestCpe.rpc((await first.post('')).body), { method: 'Reboot', id: String(task.body.id) });

    // The CPE gave that session up and Informs again on a new connection, while the store refuses to put the RPC
    // in flight back in the queue: replacing the old session fails after the new Inform took the lease.
    await db.query(`CREATE FUNCTION refuse_task_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'tasks are read-only in this test'; END $$`);
    await db.query('CREATE TRIGGER refuse_task_update BEFORE UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION refuse_task_update()');
    const second = new TestCpe(`http://127.0.0.2:${a.daemon.cwmpPort}/`, 'stb-1', 'cwmp-pw');
    t.equal((await second.post(informXml({ serial: 'S1', events: ['1 BOOT'] }))).status, 500, 'the session could not open');
    await db.query('DROP TRIGGER refuse_task_update ON tasks');

    const viaB = new TestCpe(`http://127.0.0.3:${b.daemon.cwmpPort}/`, 'stb-1', 'cwmp-pw');
    t.equal((await viaB.post(informXml({ serial: 'S1', events: ['1 BOOT'] }))).status, 200, 'node B opens the next session: no lease of a session that never was stands in its way');
  });
}
