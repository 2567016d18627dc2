import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import pg from 'pg';
import t from 'tap';
import type * as Tap from 'tap';
import { parseConnectionRequest, verifySignature } from '../src/management/udp-connection-request.js';
import { seesLive, type TestNode, startNode, startNodes } from './helpers/cluster.js';
import { cpeRequest } from './helpers/cpe.js';
import { run, STBD, writeTestConfig } from './helpers/daemon.js';
import { startInProcess } from './helpers/in-process.js';
import { freshDatabase, postgresFor } from './helpers/postgres.js';
import { informXml, responseXml, TestCpe } from './helpers/test-cpe.js';
import { UdpPeer } from './helpers/udp.js';

/**
 * stbd as a cluster: real stbd processes on one PostgreSQL, each node on its own loopback address (127.0.0.N) as
 * each would have its own public STUN address. The STB is a UDP socket on 127.0.0.1 (no NAT here: the same
 * scenarios behind a real masquerading gateway are in cluster-netns.test.ts).
 */

t.test('on SQLite the cluster is the one node', async (t) => {
  const d = await startInProcess(t.testdir(), { store: { kind: 'sqlite' }, cluster: { node_id: 'lab-1', stun_address: 'stun.lab.example.net:3478' } });
  t.teardown(() => d.daemon.stop());
  const { body } = await d.api('GET', '/v1/cluster');
  t.match(body, { node: 'lab-1', nodes: [{ id: 'lab-1', stunAddress: 'stun.lab.example.net:3478', alive: true, self: true, incarnation: 1, devicesOwned: 0, online: 0 }] });
  t.equal(body.nodes.length, 1);
});

const behindNat = { serial: 'S1', params: { 'InternetGatewayDevice.ManagementServer.ConnectionRequestURL': 'http://192.168.1.20:7547/' } };
const stunAddressOf = (body: string) => /STUNServerAddress<\/Name><Value[^>]*>([^<]*)</.exec(body)?.[1];

/** One session of stb-1 (behind NAT) through `node`: every RPC answered with success; the RPCs, and the STUN address provisioning sent. */
async function cwmpSession(t: Tap.Test, node: TestNode, events = ['2 PERIODIC']): Promise<{ rpcs: string[]; stun: string | undefined }> {
  const cpe = new TestCpe(`http://${node.host}:${node.daemon.cwmpPort}/`, 'stb-1', 'cwmp-pw');
  t.equal((await cpe.post(informXml({ ...behindNat, events }))).status, 200, `Inform through ${node.id}`);
  const rpcs: string[] = [];
  let stun: string | undefined;
  for (let reply = await cpe.post(''); reply.status === 200; ) {
    const rpc = TestCpe.rpc(reply.body);
    rpcs.push(rpc.method);
    if (rpc.method === 'SetParameterValues') stun = stunAddressOf(reply.body) ?? stun;
    const inner = rpc.method === 'SetParameterValues' ? '<Status>0</Status>' : '';
    reply = await cpe.post(responseXml(rpc.id, `${rpc.method}Response`, inner));
  }
  return { rpcs, stun };
}

/** A signed binding keepalive (CONNECTION-REQUEST-BINDING) from the STB's socket to `node`'s STUN listener. */
const keepaliveTo = (stb: UdpPeer, c: { stunUsername: string; stunPassword: string }, node: TestNode) =>
  new Promise<void>((resolve, reject) =>
    stb.socket.send(cpeRequest({ username: c.stunUsername, connectionRequestBinding: true, integrity: { password: c.stunPassword, variant: 'rfc3489' } }), node.daemon.stunPort, node.host, (err) => (err ? reject(err) : resolve())),
  );

const mkdirp = (dir: string) => (mkdirSync(dir, { recursive: true }), dir);

const server = postgresFor(t);
if (server) {
  const startBoth = async (t: Tap.Test, root: string, url: string): Promise<[TestNode, TestNode]> => {
    const a = await startNode(root, url, 'node-a', '127.0.0.2', { stun_address: 'stun-a.example.net:3478' });
    t.teardown(() => a.daemon.stop('SIGKILL'));
    const b = await startNode(root, url, 'node-b', '127.0.0.3', { stun_address: 'stun-b.example.net:3478' });
    t.teardown(() => b.daemon.stop('SIGKILL'));
    return [a, b];
  };

  /** Nodes A and B on a database of their own, in a directory of the test's (t.testdir() empties it: once per test). */
  const freshPair = async (t: Tap.Test) => {
    const url = await freshDatabase(server);
    const root = t.testdir();
    const a = await startNode(root, url, 'node-a', '127.0.0.2');
    t.teardown(() => a.daemon.stop('SIGKILL'));
    const b = await startNode(root, url, 'node-b', '127.0.0.3');
    t.teardown(() => b.daemon.stop('SIGKILL'));
    return { url, root, a, b };
  };

  t.test('nodes: each heartbeats its row; stbctl cluster status shows them; the same node id twice is refused; a stopped node is shown dead', async (t) => {
    const url = await freshDatabase(server);
    // t.testdir() empties the directory at each call: once per test.
    const root = t.testdir();
    const [a, b] = await startBoth(t, root, url);
    const status = await a.clients.json('cluster', 'status');
    t.equal(status.code, 0, 'every node alive: exit 0');
    t.match(status.out, {
      node: 'node-a',
      nodes: [
        { id: 'node-a', stunAddress: 'stun-a.example.net:3478', alive: true, self: true, incarnation: 1, devicesOwned: 0, online: 0 },
        { id: 'node-b', stunAddress: 'stun-b.example.net:3478', alive: true, self: false, incarnation: 1 },
      ],
    });
    const table = await b.clients.ctl('cluster', 'status');
    t.match(table.stdout, /^NODE\s+STUN ADDRESS\s+ALIVE\s+LAST HEARTBEAT\s+OWNED\s+ONLINE\s+DRAIN\n/);
    t.match(table.stdout, /\nnode-a\s+stun-a\.example\.net:3478\s+yes\s+\d{4}-/);
    t.match(table.stdout, /\nnode-b \*\s+stun-b\.example\.net:3478\s+yes/);

    // A second process configured as node-b while node-b runs.
    const twin = writeTestConfig(mkdirp(resolve(root, 'twin')), { store: { kind: 'postgres', url }, cluster: { node_id: 'node-b' }, ca: { master_key_file: resolve(root, 'master.key') } });
    const refused = await run(STBD, ['--config', twin]);
    t.equal(refused.code, 1, 'exit 1');
    t.match(refused.stderr, /^stbd: another stbd with \[cluster\] node_id "node-b" \(connected from a Unix socket since [^)]+\) is running on postgres:\/\/\S+: each node of a cluster needs its own node_id\n$/, 'one line naming the node id');
    t.match((await a.clients.json('cluster', 'status')).out.nodes[1], { id: 'node-b', alive: true, incarnation: 1 }, 'node-b goes on, untouched');

    t.equal(await b.daemon.stop(), 0);
    const after = await a.clients.json('cluster', 'status');
    t.equal(after.code, 1, 'a dead node: exit 1');
    t.match(after.out.nodes[1], { id: 'node-b', alive: false }, 'a node stopped cleanly gives its lease up at once');

    const again = await startNode(root, url, 'node-b', '127.0.0.3');
    t.teardown(() => again.daemon.stop('SIGKILL'));
    t.match((await a.clients.json('cluster', 'status')).out.nodes[1], { id: 'node-b', alive: true, incarnation: 2 }, 'a restart bumps the incarnation');
  });

  t.test('routing: a task queued through node A for an STB whose binding node B holds is sent from B\'s STUN socket; the STB re-homed to A, A sends and B cannot overwrite A\'s row', async (t) => {
    const { url, a, b } = await freshPair(t);
    // Registered through node A after node B started: node A announces it, node B's keepalive path learns it.
    const dev = (await a.clients.api('POST', '/v1/devices', { id: 'stb-1', crPassword: 'crpass' })).body;
    const stb = await UdpPeer.open();
    t.teardown(() => stb.close());
    const keepalive = (node: TestNode) => keepaliveTo(stb, dev.credentials, node);
    let answer: Awaited<ReturnType<UdpPeer['next']>>;
    for (let i = 0; i < 50; i++) {
      await keepalive(b);
      answer = await stb.next();
      if (answer?.msg.readUInt16BE(0) === 0x0101) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    t.equal(answer?.msg.readUInt16BE(0), 0x0101, 'node B accepts the keepalive of a device registered through node A (Binding Success)');
    t.match(answer?.rinfo, { address: '127.0.0.3', port: b.daemon.stunPort });
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    t.teardown(() => db.end());
    const owner = async () => (await db.query<{ node: string | null }>("SELECT node FROM presence WHERE device_id = 'stb-1'")).rows[0]?.node ?? null;
    for (let i = 0; i < 100 && (await owner()) !== 'node-b'; i++) await new Promise((r) => setTimeout(r, 50));
    t.equal(await owner(), 'node-b', 'node B holds the binding (its flush wrote it)');
    // stbctl device show through either node: the device online where its binding is, as node B wrote it.
    const shown = async (node: TestNode) => (await node.clients.api('GET', '/v1/devices/stb-1')).body;
    const stbAt = { address: '127.0.0.1', port: stb.socket.address().port };
    t.match(await shown(b), { online: true, binding: stbAt }, 'node B, which holds the binding, shows it online');
    t.match(await shown(a), { online: true, binding: stbAt, natId: '127.0.0.1' }, 'so does node A, from what node B wrote');
    t.match((await a.clients.api('GET', '/v1/devices')).body.devices, [{ id: 'stb-1', online: true, binding: stbAt }], 'and its device list');
    t.same((await a.clients.api('GET', '/v1/device-ids?online=true')).body.ids, ['stb-1'], 'and a selection of the online (stbctl --all-online, a campaign --where online)');
    t.same((await a.clients.api('GET', `/v1/device-ids?where=${encodeURIComponent('not online')}`)).body.ids, [], 'which the offline do not match');

    const task = await a.clients.api('POST', '/v1/devices/stb-1/tasks', { kind: 'reboot' });
    t.equal(task.status, 201);
    const cr = await stb.next(10_000);
    t.match(cr?.rinfo, { address: '127.0.0.3', port: b.daemon.stunPort }, 'the connection request left from node B\'s STUN socket');
    const parsed = parseConnectionRequest(cr!.msg);
    if ('error' in parsed) throw new Error(parsed.error);
    t.ok(verifySignature(parsed, 'crpass'), 'signed with the device\'s ConnectionRequestPassword');
    t.match((await a.clients.api('GET', `/v1/tasks/${task.body.id}`)).body.pending, /its NAT binding is not held here\): the node of the cluster holding it, if any, sends the connection request/, 'node A says who sends it');
    // Nothing came from node A's socket (a NAT would drop it: its mapping is toward B).
    const seen: string[] = [];
    while (true) {
      const m = await stb.next(300);
      if (!m) break;
      seen.push(`${m.rinfo.address}:${m.rinfo.port}`);
    }
    t.notOk(seen.includes(`127.0.0.2:${a.daemon.stunPort}`), 'no connection request from node A');

    // The STB now keeps its binding alive toward node A (re-homed): A claims it.
    await keepalive(a);
    t.match(await stb.next(), { rinfo: { address: '127.0.0.2' } });
    for (let i = 0; i < 100 && (await owner()) !== 'node-a'; i++) await new Promise((r) => setTimeout(r, 50));
    t.equal(await owner(), 'node-a', 'node A holds the binding now');
    t.match(await shown(b), { online: true, binding: stbAt }, 'node B, which lost it, shows what node A wrote');
    await a.clients.api('POST', `/v1/tasks/${task.body.id}/cancel`);
    const second = await b.clients.api('POST', '/v1/devices/stb-1/tasks', { kind: 'reboot' });
    t.equal(second.status, 201);
    let from: string | undefined;
    for (let i = 0; i < 20 && from !== `127.0.0.2:${a.daemon.stunPort}`; i++) {
      const m = await stb.next(1000);
      if (m) from = `${m.rinfo.address}:${m.rinfo.port}`;
    }
    t.equal(from, `127.0.0.2:${a.daemon.stunPort}`, 'the next command through node B: its connection request leaves from node A');

    // Node B, which still has its old presence in memory, writes it (its offline check, a flush at stop): fenced.
    t.equal(await b.daemon.stop(), 0);
    t.equal(await owner(), 'node-a', 'node B\'s last flush did not take the row back');
  });

  t.test('memory: a node holds the devices whose bindings it holds; any other is read from the database at its first keepalive there, an unknown name once', async (t) => {
    const pair = await freshPair(t);
    const { url, root, a } = pair;
    let b = pair.b;
    const devices = [];
    for (let i = 1; i <= 30; i++) devices.push((await a.clients.api('POST', '/v1/devices', { id: `stb-${i}` })).body);
    const stb = await UdpPeer.open();
    t.teardown(() => stb.close());
    /** The answer of `node` to a signed binding keepalive of `c`: its STUN message type. */
    const ask = async (c: { stunUsername: string; stunPassword: string }, node: TestNode) => {
      stb.socket.send(cpeRequest({ username: c.stunUsername, connectionRequestBinding: true, integrity: { password: c.stunPassword, variant: 'rfc3489' } }), node.daemon.stunPort, node.host);
      return (await stb.next(3000))?.msg.readUInt16BE(0);
    };
    const metric = async (node: TestNode, name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await (await fetch(`${node.daemon.url}/metrics`)).text())?.[1]);
    const SUCCESS = 0x0101;
    const ERROR = 0x0111;
    for (const d of devices.slice(0, 10)) t.equal(await ask(d.credentials, b), SUCCESS, `${d.id}: node B reads it from the database and answers the very keepalive`);
    t.equal(await metric(b, 'stbd_keepalive_deferred_total'), 10, 'each waited for one read');
    t.equal(await ask(devices[0].credentials, b), SUCCESS, 'held now: answered from memory');
    t.equal(await metric(b, 'stbd_keepalive_deferred_total'), 10, 'no read');
    for (const d of devices.slice(10, 12)) t.equal(await ask(d.credentials, a), SUCCESS);

    // Restarted, node B loads the 10 bindings its rows say it holds, and nothing else.
    t.equal(await b.daemon.stop(), 0);
    b = await startNode(root, url, 'node-b', '127.0.0.3');
    t.teardown(() => b.daemon.stop('SIGKILL'));
    t.equal(await metric(b, 'stbd_keepalive_devices_in_memory'), 10, 'node B holds its own 10 of 30 devices');
    t.equal(await ask(devices[0].credentials, b), SUCCESS, 'one of them: answered at once');
    t.equal(await metric(b, 'stbd_keepalive_deferred_total'), 0);
    t.equal(await ask(devices[20]!.credentials, b), SUCCESS, 'a device never seen here: read, then answered');
    t.equal(await metric(b, 'stbd_keepalive_devices_in_memory'), 11);

    const stranger = { stunUsername: 'no-such-box', stunPassword: 'guess' };
    t.equal(await ask(stranger, b), ERROR, 'an unknown name: 401, as on a single node');
    t.equal(await ask(stranger, b), ERROR);
    t.equal(await metric(b, 'stbd_keepalive_deferred_total'), 2, 'the unknown name was read once, then remembered as unknown');
    // Registered through node A after that: node B forgets it was unknown when node A announces it.
    const late = (await a.clients.api('POST', '/v1/devices', { id: 'no-such-box', stunPassword: 'now-known-1' })).body;
    let answer: number | undefined;
    for (let i = 0; i < 50 && answer !== SUCCESS; i++) {
      answer = await ask(late.credentials, b);
      if (answer !== SUCCESS) await new Promise((r) => setTimeout(r, 100));
    }
    t.equal(answer, SUCCESS, 'a device registered elsewhere is accepted once announced');
  });

  t.test('a command through node A with ?wait= answers as soon as node B, where the STB\'s session runs, finishes it', async (t) => {
    const { a, b } = await freshPair(t);
    await a.clients.api('POST', '/v1/devices', { id: 'stb-1', cwmpPassword: 'cwmp-pw' });
    const started = performance.now();
    const waiting = a.clients.api('POST', '/v1/devices/stb-1/tasks?wait=20', { kind: 'reboot' });
    // The queued task is found by the STB's session through node B (behind the load balancer, any node).
    let rpcs: string[] = [];
    for (let i = 0; i < 50 && !rpcs.includes('Reboot'); i++) {
      rpcs = (await cwmpSession(t, b)).rpcs;
      if (!rpcs.includes('Reboot')) await new Promise((r) => setTimeout(r, 100));
    }
    t.ok(rpcs.includes('Reboot'), 'the session through node B ran the reboot');
    const answer = await waiting;
    t.equal(answer.body.status, 'done', 'node A answers with the task done');
    t.ok(performance.now() - started < 10_000, 'when node B finished it, not when the 20 s wait ran out');
  });

  t.test('a campaign started through one node starts devices whose keepalives reach the other (online as the other wrote it)', async (t) => {
    const { url, a, b } = await freshPair(t);
    const stb = await UdpPeer.open();
    t.teardown(() => stb.close());
    // Two boxes keep their bindings on each node; whichever node drives the campaign, two are held elsewhere.
    for (let i = 1; i <= 4; i++) {
      const d = (await a.clients.api('POST', '/v1/devices', { id: `camp-${i}` })).body;
      const home = i <= 2 ? a : b;
      let answer: number | undefined;
      for (let k = 0; k < 20 && answer !== 0x0101; k++) {
        await keepaliveTo(stb, d.credentials, home);
        answer = (await stb.next(3000))?.msg.readUInt16BE(0);
      }
      t.equal(answer, 0x0101, `camp-${i} online on ${home.id}`);
    }
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    t.teardown(() => db.end());
    const written = async () => Number((await db.query("SELECT count(*) AS n FROM presence WHERE device_id LIKE 'camp-%' AND node IS NOT NULL")).rows[0].n);
    for (let i = 0; i < 100 && (await written()) < 4; i++) await new Promise((r) => setTimeout(r, 50));
    t.equal(await written(), 4, 'each node wrote its own boxes as seen');

    const created = await a.clients.ctl('campaign', 'create', 'ntp', '--where', "id LIKE 'camp-*'", '--set', 'InternetGatewayDevice.Time.NTPServer1=ntp.example.net', '--start');
    t.equal(created.code, 0, created.stderr);
    let counts: Record<string, number> = {};
    for (let i = 0; i < 100 && counts['in-progress'] !== 4; i++) {
      counts = (await a.clients.json('campaign', 'show', 'ntp')).out.counts;
      if (counts['in-progress'] !== 4) await new Promise((r) => setTimeout(r, 100));
    }
    t.match(counts, { pending: 0, 'in-progress': 4 }, 'every box started, on both nodes');
  });

  t.test('a node dies: the STB\'s tasks wait; its next Inform reaches another node, which runs them and re-homes the STB to itself (and not while its home was alive)', async (t) => {
    const url = await freshDatabase(server);
    const root = t.testdir();
    const a = await startNode(root, url, 'node-a', '127.0.0.2', { stun_address: 'stun-a.example.net:3478' });
    t.teardown(() => a.daemon.stop('SIGKILL'));
    t.equal((await a.clients.api('POST', '/v1/devices', { id: 'stb-1', cwmpPassword: 'cwmp-pw' })).status, 201);
    const b = await startNode(root, url, 'node-b', '127.0.0.3', { stun_address: 'stun-b.example.net:3478' });
    t.teardown(() => b.daemon.stop('SIGKILL'));
    const session = (node: TestNode, events?: string[]) => cwmpSession(t, node, events);
    t.ok(await seesLive(a, 'node-a, node-b'), 'node A sees node B');
    t.same(await session(b, ['0 BOOTSTRAP']), { rpcs: ['SetParameterValues'], stun: 'stun-b.example.net' }, 'provisioned through node B: its STUN address');
    t.same(await session(a), { rpcs: [], stun: undefined }, 'a session through node A while node B is alive: the STB stays on B');

    t.equal(await b.daemon.stop('SIGKILL'), null, 'node B killed');
    const task = await a.clients.api('POST', '/v1/devices/stb-1/tasks', { kind: 'reboot' });
    t.equal(task.status, 201);
    let dead = false;
    for (let i = 0; i < 100 && !dead; i++) {
      dead = (await a.clients.json('cluster', 'status')).out.nodes.find((n: { id: string }) => n.id === 'node-b')?.alive === false;
      if (!dead) await new Promise((r) => setTimeout(r, 200));
    }
    t.ok(dead, 'node A sees node B dead once its lease ran out');
    t.ok(await seesLive(a, 'node-a'), 'node A\'s steering knows it');
    t.equal((await a.clients.api('GET', `/v1/tasks/${task.body.id}`)).body.status, 'queued', 'the task waits for the STB');
    const moved = await session(a);
    t.same(moved.rpcs.sort(), ['Reboot', 'SetParameterValues'], 'its next periodic Inform, through node A: the task runs, and the STB is re-homed');
    t.equal(moved.stun, 'stun-a.example.net', 'to node A\'s STUN address');
    t.equal((await a.clients.api('GET', `/v1/tasks/${task.body.id}`)).body.status, 'done');
  });

  t.test('stbctl cluster drain moves every STB of a node to the others', async (t) => {
    const url = await freshDatabase(server);
    const root = t.testdir();
    const a = await startNode(root, url, 'node-a', '127.0.0.2', { stun_address: 'stun-a.example.net:3478' });
    t.teardown(() => a.daemon.stop('SIGKILL'));
    const dev = (await a.clients.api('POST', '/v1/devices', { id: 'stb-1', cwmpPassword: 'cwmp-pw' })).body;
    const b = await startNode(root, url, 'node-b', '127.0.0.3', { stun_address: 'stun-b.example.net:3478' });
    t.teardown(() => b.daemon.stop('SIGKILL'));
    t.same(await cwmpSession(t, b, ['0 BOOTSTRAP']), { rpcs: ['SetParameterValues'], stun: 'stun-b.example.net' }, 'homed on node B');
    const stb = await UdpPeer.open();
    t.teardown(() => stb.close());
    const keepalive = (node: TestNode) => keepaliveTo(stb, dev.credentials, node);
    await keepalive(b);
    t.ok(await stb.next(), 'its keepalives reach node B');
    const heldBy = async (node: string) => ((await a.clients.json('cluster', 'status')).out.nodes.find((n: { id: string }) => n.id === node)?.devicesOwned ?? -1) as number;
    for (let i = 0; i < 50 && (await heldBy('node-b')) !== 1; i++) await new Promise((r) => setTimeout(r, 200));
    t.equal(await heldBy('node-b'), 1, 'node B holds its binding');

    const drained = await a.clients.json('cluster', 'drain', 'node-b');
    t.equal(drained.code, 0);
    t.same(drained.out, { node: 'node-b', devices: 1, queued: 1 }, 'its new STUN settings are queued');
    t.match((await a.clients.json('cluster', 'status')).out.nodes.find((n: { id: string }) => n.id === 'node-b'), { drain: { total: 1, done: 1 } }, 'status shows the drain');
    // Node B, still alive, sends the connection request; the session (through node B here) moves the STB.
    t.same(await cwmpSession(t, b, ['6 CONNECTION REQUEST']), { rpcs: ['SetParameterValues'], stun: 'stun-a.example.net' }, 'the STB is told node A\'s STUN address');
    await keepalive(a);
    t.ok(await stb.next(), 'its keepalives now reach node A');
    // Each node reports its own count: node B's falls to 0 on its next report, which may come after node A's.
    const held = async () => [await heldBy('node-a'), await heldBy('node-b')];
    for (let i = 0; i < 50 && JSON.stringify(await held()) !== '[1,0]'; i++) await new Promise((r) => setTimeout(r, 200));
    t.same(await held(), [1, 0], 'node A holds the binding, node B none');
    const refused = await a.clients.ctl('cluster', 'drain', 'node-z');
    t.same([refused.code, refused.stderr], [1, 'stbctl: no node "node-z" in the cluster (stbctl cluster status lists them)\n'], 'an unknown node: a clear refusal');
  });

  t.test('three nodes started at once on an empty database migrate it once and all come up', async (t) => {
    const url = await freshDatabase(server);
    const root = t.testdir();
    const nodes = await startNodes(t, root, url, ['node-a', 'node-b', 'node-c'].map((id, i) => ({ id, host: `127.0.0.${i + 2}` })), {}, true);
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    t.teardown(() => db.end());
    const { rows } = await db.query<{ version: number; n: number }>('SELECT version, count(*)::int AS n FROM stbd_schema GROUP BY version ORDER BY version');
    t.ok(rows.length > 0 && rows.every((r) => r.n === 1), 'each migration applied once');
    t.match((await nodes[0]!.clients.json('cluster', 'status')).out.nodes, [{ id: 'node-a', alive: true }, { id: 'node-b', alive: true }, { id: 'node-c', alive: true }]);
  });
}
