import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import t from 'tap';
import { type TestNode, startNode } from './helpers/cluster.js';
import { FakeCa } from './helpers/certs.js';
import { FakeCas } from './helpers/fake-cas.js';
import { freshDatabase, postgresFor } from './helpers/postgres.js';

/**
 * Work that must happen once, on a cluster of three real stbd processes over one PostgreSQL: every node loads
 * the deadlines due soon and fires them, and only the node that claims one runs it. The test CAS and CA count calls.
 */

const until = async (what: () => boolean | Promise<boolean>, ms: number): Promise<boolean> => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) if (await what()) return true;
  return what();
};

const server = postgresFor(t);
if (server) {
  t.test('a pool recycling deadline and a certificate renewal each fire exactly once across three nodes', async (t) => {
    const url = await freshDatabase(server);
    const root = t.testdir();
    const cas = await FakeCas.start('cas-secret-0123456789');
    t.teardown(() => cas.stop());
    const ca = await FakeCa.start('ca-secret-0123456789');
    t.teardown(() => ca.stop());
    writeFileSync(resolve(root, 'cas.token'), 'cas-secret-0123456789\n', { mode: 0o600 });
    writeFileSync(resolve(root, 'ca.token'), 'ca-secret-0123456789\n', { mode: 0o600 });
    const extra = {
      cas: { kind: 'http', url: cas.url, token_file: resolve(root, 'cas.token') },
      ca: { kind: 'http', url: `${ca.url}/`, token_file: resolve(root, 'ca.token') },
      // Recycling revokes the device's certificates: after the renewal.
      pool: { recycle_after: '30s' },
      // Renewal due after 1% of 30 minutes: 18 s.
      certs: { validity: '30m', renew_at_percent: 1, renew_jitter_percent: 0 },
    };
    const nodes: TestNode[] = [];
    for (const [i, id] of ['node-a', 'node-b', 'node-c'].entries()) {
      const n = await startNode(root, url, id, `127.0.0.${i + 2}`, {}, extra);
      t.teardown(() => n.daemon.stop('SIGKILL'));
      nodes.push(n);
    }
    const [a] = nodes as [TestNode];
    t.equal((await a.clients.api('POST', '/v1/devices', { id: 'stb-1' })).status, 201);
    const bss = readFileSync(resolve(root, 'node-a', 'bss.token'), 'utf8').trim();
    const asBss = (method: string) => fetch(`${a.daemon.url}/v1/accounts/acct-1/devices/stb-1`, { method, headers: { authorization: `Bearer ${bss}` } });
    t.equal((await asBss('PUT')).status, 200, 'bound');
    t.equal((await asBss('DELETE')).status, 200, 'unbound: parked in the pool, recycled in 30 s');
    t.equal((await a.clients.api('POST', '/v1/certificates', { device: 'stb-1', id: 'media-stb-1' })).status, 201, 'a certificate, renewal due in 18 s');
    t.equal(ca.calls.length, 1);

    const notices = async () => (await a.clients.api('GET', '/v1/devices/stb-1/tasks')).body.tasks.length as number;
    t.ok(await until(async () => (await notices()) > 0, 40_000), 'the renewal deadline fired: the STB is told to fetch its new certificate');
    const deregistrations = () => cas.calls.filter((c) => c.path === '/deregistrations').length;
    t.ok(await until(() => deregistrations() > 0, 40_000), 'the recycling deadline fired');
    // Every node had both deadlines loaded; give the late ones time to fire, if they were going to.
    await new Promise((r) => setTimeout(r, 3 * 3000));
    t.equal(deregistrations(), 1, 'one CAS deregistration in the whole cluster');
    t.equal(await notices(), 1, 'one update notice queued in the whole cluster');
    t.equal((await a.clients.api('GET', '/v1/pool')).body.entries.length, 0, 'the pool entry is recycled');
    const fired = nodes.map((n) => n.daemon.logs.filter((l) => l.includes('"pool entry recycled')).length);
    t.equal(fired.reduce((x, y) => x + y, 0), 1, `recycled by one node (${fired.join(', ')})`);
  });
}
