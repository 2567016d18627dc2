import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import { Simulator } from '../src/sim/index.js';
import { pollUntil, startNodes, type TestNode } from './helpers/cluster.js';
import { freshDatabase, postgresFor } from './helpers/postgres.js';

/**
 * PostgreSQL crashes and comes back under a cluster's load: three real stbd processes on one PostgreSQL, each on
 * its own loopback address with four simulated STBs (behind NAT: keepalives to their node, UDP connection
 * requests from its STUN socket), and clients queueing tasks through every node's API for every STB (most of
 * them homed on another node: routed) while the server is restarted with `pg_ctl restart -m immediate`.
 */

const NAMES = ['InternetGatewayDevice.DeviceInfo.SoftwareVersion'];
const PER_NODE = 4;

const server = postgresFor(t);
if (server) {
  t.test("PostgreSQL restarted (pg_ctl restart -m immediate) under a cluster's load: every node recovers by itself and every acknowledged task completes", async (t) => {
    const url = await freshDatabase(server);
    const root = t.testdir();
    const nodes = await startNodes(t, root, url, ['node-a', 'node-b', 'node-c'].map((id, i) => ({ id, host: `127.0.0.${i + 2}` })));

    const sims = nodes.map(
      (n, i) =>
        new Simulator({ count: PER_NODE, prefix: `pg${i}-`, acsUrl: `http://${n.host}:${n.daemon.cwmpPort}/`, stun: { host: n.host, port: n.daemon.stunPort }, behindNat: true, keepaliveIntervalS: 1, retryDelayMs: 300, responseDelayMs: 300 }),
    );
    for (const [i, sim] of sims.entries()) {
      writeFileSync(join(root, `devices-${i}.csv`), sim.csv());
      t.equal((await nodes[0]!.clients.ctl('devices', 'import', join(root, `devices-${i}.csv`))).code, 0, `the STBs of ${nodes[i]!.id} registered`);
    }
    for (const sim of sims) {
      await sim.start();
      t.teardown(() => sim.stop());
    }
    const owned = async () => ((await nodes[0]!.clients.api('GET', '/v1/cluster')).body.nodes as { devicesOwned: number }[]).map((n) => n.devicesOwned);
    t.ok(await pollUntil(async () => (await owned()).every((n) => n === PER_NODE), 20_000, 200), `each node holds the bindings of its ${PER_NODE} STBs`);

    // Clients, one per node, each queueing a task about every 100 ms for the STBs in turn.
    const devices = sims.flatMap((s) => s.devices.map((d) => d.id));
    type Phase = 'before' | 'during' | 'after';
    let phase: Phase = 'before';
    let loading = true;
    let turn = 0;
    const acknowledged: { id: number; device: string; via: string; phase: Phase }[] = [];
    const answers = new Map<string, number>();
    const client = async (n: TestNode) => {
      while (loading) {
        const device = devices[turn++ % devices.length]!;
        const asked: Phase = phase;
        const r = await n.clients.api('POST', `/v1/devices/${device}/tasks`, { kind: 'getParameterValues', names: NAMES }).catch(() => ({ status: 0, body: undefined }));
        answers.set(`${asked}:${r.status}`, (answers.get(`${asked}:${r.status}`) ?? 0) + 1);
        // Asked before (after) the restart and answered before (after) it; anything else overlapped the restart.
        if (r.status >= 200 && r.status < 300) acknowledged.push({ id: r.body.id, device, via: n.id, phase: asked === phase ? asked : 'during' });
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    const clients = nodes.map(client);
    const count = (p: Phase) => acknowledged.filter((a) => a.phase === p).length;
    t.ok(await pollUntil(() => count('before') >= 20, 20_000, 50), 'tasks acknowledged before the restart');

    phase = 'during';
    const crashAt = Date.now();
    await server.restart('immediate');
    phase = 'after';
    t.comment(`restart took ${Date.now() - crashAt} ms`);
    const healthy = async (n: TestNode) => (await n.clients.api('GET', '/health').catch(() => ({ body: undefined }))).body?.status === 'ok';
    for (const n of nodes) t.ok(await pollUntil(() => healthy(n), 20_000, 100), `${n.id}: /health is ok again, without a restart`);
    // Each node's own connection (its node lock, its LISTEN) came back too: a second process with its id would be refused.
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    t.teardown(() => db.end());
    const nodeLocks = async () => (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted")).rows[0]!.n;
    t.ok(await pollUntil(async () => (await nodeLocks()) === nodes.length, 20_000, 100), 'every node holds its node lock again');
    t.ok(await pollUntil(() => count('after') >= 20, 20_000, 50), 'every node acknowledges tasks again');
    loading = false;
    await Promise.all(clients);

    const statusOf = async (id: number) => (await nodes[id % nodes.length]!.clients.api('GET', `/v1/tasks/${id}`)).body.status as string;
    const pending = new Set(acknowledged.map((a) => a.id));
    const allDone = async () => {
      for (const [id, status] of await Promise.all([...pending].map(async (id) => [id, await statusOf(id)] as const))) if (status === 'done') pending.delete(id);
      return pending.size === 0;
    };
    const diag = () => ({ answers: Object.fromEntries(answers), notDone: acknowledged.filter((a) => pending.has(a.id)) });
    t.ok(await pollUntil(allDone, 30_000, 500), `all ${acknowledged.length} acknowledged tasks are done (${count('before')} before, ${count('during')} during, ${count('after')} after the restart)`, diag());
    t.comment(JSON.stringify(Object.fromEntries(answers)));
    t.same([...answers.keys()].filter((k) => k.endsWith(':500')), [], 'no internal errors', diag());
    for (const n of nodes) {
      t.equal(n.daemon.proc.exitCode, null, `${n.id} is still running`);
      t.notOk(n.daemon.logs.some((l) => l.includes("node's lock was lost")), `${n.id} never lost its node id`);
    }
  });
}
