import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import type * as Tap from 'tap';
import { pollUntil, seesLive, startNodes, type TestNode } from './helpers/cluster.js';
import { ROOT, run, STBSIM } from './helpers/daemon.js';
import { NatTopology, netnsUnavailable, NsFetch, sendConnectionRequests } from './helpers/netns.js';
import { freshDatabase, postgresFor } from './helpers/postgres.js';

/**
 * The cluster through a real NAT. Three stbd nodes in the server namespace, each on its own public address (STUN
 * on ADDR:3478, CWMP on ADDR:7547), on one PostgreSQL (its Unix socket reaches every namespace); one stbsim STB
 * in the home namespace behind the nftables masquerading gateway, whose conntrack lets in only replies to what
 * left from inside (address- and port-dependent filtering, as home NATs do). The STB's ACS URL is a load
 * balancer's address: an nftables DNAT in the server namespace to one node's CWMP listener. Named counters on
 * the gateway count the connection requests (UDP datagrams starting "GET "; STUN messages are binary) that
 * arrive at its public side and those it forwards into the home.
 */

const why = netnsUnavailable();
const [A, B, C] = ['198.51.100.11', '198.51.100.12', '198.51.100.13'];
const LB = NatTopology.SERVER;
const STUN_PORT = 3478;
const CWMP_PORT = 7547;
/** The port of the test's own socket on A's address, rewritten to A's STUN port on the way out (SNAT). */
const PROBE_PORT = 47_000;
const CR = '@th,64,32 0x47455420';
const NAMES = ['InternetGatewayDevice.DeviceInfo.SoftwareVersion'];

const gatewayCounters = `table ip observe {
  counter cr_arrived_from_a {}
  counter cr_to_home_from_a {}
  counter cr_to_home_from_b {}
  counter keepalives_to_a {}
  chain arrive {
    type filter hook prerouting priority -300; policy accept;
    ip saddr ${A} udp sport ${STUN_PORT} ${CR} counter name "cr_arrived_from_a"
  }
  chain forwarded {
    type filter hook forward priority 10; policy accept;
    ip saddr ${A} udp sport ${STUN_PORT} ${CR} counter name "cr_to_home_from_a"
    ip saddr ${B} udp sport ${STUN_PORT} ${CR} counter name "cr_to_home_from_b"
    ip daddr ${A} udp dport ${STUN_PORT} counter name "keepalives_to_a"
  }
}
`;
const balanceTo = (node: string) => `ip daddr ${LB} tcp dport ${CWMP_PORT} dnat to ${node}:${CWMP_PORT}`;
const serverSide = `table ip lb {
  chain pre {
    type nat hook prerouting priority dstnat; policy accept;
    ${balanceTo(B)}
  }
  chain post {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr ${A} udp sport ${PROBE_PORT} snat to ${A}:${STUN_PORT}
  }
}
`;

t.test('three nodes, the STB behind a real masquerading NAT', { skip: why ?? false }, async (t) => {
  const server = postgresFor(t);
  if (!server) return;
  const net = new NatTopology();
  t.teardown(() => net.destroy());
  for (const address of [A, B, C]) net.addServerAddress(address);
  net.nft(net.server, serverSide);
  net.nft(net.nat, gatewayCounters);
  const counts = () => net.counters(net.nat, 'observe');
  const inServer = new NsFetch(net.server);
  t.teardown(() => inServer.close());

  const url = await freshDatabase(server);
  const root = t.testdir();
  const spec = (id: string, host: string) => ({ id, host, cluster: { stun_address: `${host}:${STUN_PORT}` }, extra: { stun: { listen: `${host}:${STUN_PORT}` }, cwmp: { listen: `${host}:${CWMP_PORT}` } } });
  const via = { wrap: net.wrap(net.server), fetch: inServer.fetch };
  const [a, b, c] = (await startNodes(t, root, url, [spec('node-a', A), spec('node-b', B), spec('node-c', C)], via)) as [TestNode, TestNode, TestNode];

  const db = new pg.Client({ connectionString: url });
  await db.connect();
  t.teardown(() => db.end());

  // The STB: registered through node A, booted at home with STUN off; its first session (through the load
  // balancer, to node B) finds it behind the NAT and provisions keepalives to node B's STUN address.
  const sim = ['--count', '1', '--prefix', 'nc-', '--secret', 'netns-cluster'];
  const csv = await run(STBSIM, ['csv', ...sim]);
  writeFileSync(join(root, 'devices.csv'), csv.stdout);
  t.equal((await a.clients.ctl('devices', 'import', join(root, 'devices.csv'))).code, 0, 'registered through node A');
  const [id, , , crUser, crPass] = csv.stdout.trim().split('\n')[1]!.split(',') as [string, string, string, string, string];
  const stb: ChildProcess = spawn('ip', [...net.wrap(net.home).slice(1), STBSIM, ...sim, '--acs', `http://${LB}:${CWMP_PORT}/`, '--bind', NatTopology.HOME, '--keepalive-interval', '1', '--retry-delay', '500'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd: ROOT,
  });
  let stbLog = '';
  stb.stderr!.on('data', (chunk: Buffer) => (stbLog += chunk.toString()));
  t.teardown(() => void stb.kill('SIGKILL'));

  type Presence = { node: string | null; binding_address: string | null; binding_port: number | null };
  const presence = async () => (await db.query<Presence>('SELECT node, binding_address, binding_port FROM presence WHERE device_id = $1', [id])).rows[0];
  const heldBy = async (nodeId: string) => (await presence())?.node === nodeId;
  const sims = () => ({ stbsim: stbLog });
  t.ok(await pollUntil(() => heldBy('node-b'), 20_000), "node B holds the STB's binding", sims());
  const binding = (await presence())!;
  t.equal(binding.binding_address, NatTopology.PUBLIC, "the binding is the NAT's public side");

  const queue = async (t: Tap.Test, via: TestNode) => {
    const r = await via.clients.api('POST', `/v1/devices/${id}/tasks`, { kind: 'getParameterValues', names: NAMES });
    t.equal(r.status, 201, `a task queued through ${via.id}`);
    return r.body.id as number;
  };
  const statusOf = async (task: number) => (await c.clients.api('GET', `/v1/tasks/${task}`)).body.status as string;
  const done = (...tasks: number[]) => pollUntil(async () => (await Promise.all(tasks.map(statusOf))).every((s) => s === 'done'), 20_000, 200);
  const lastEvents = async (via: TestNode) => (await via.clients.api('GET', `/v1/devices/${id}`)).body.management.lastEvents as string[];

  await t.test("routing: a task queued through node A is sent from node B's STUN socket; the NAT drops the same request from node A's", async (t) => {
    // A validly signed connection request from node A's STUN address and port (the test's socket on A's address,
    // rewritten to port 3478 on the way out): the gateway has no mapping toward A, so it goes no further.
    await sendConnectionRequests(net.server, { address: A, port: PROBE_PORT }, { address: binding.binding_address!, port: binding.binding_port! }, { username: crUser, password: crPass }, 3);
    t.ok(await pollUntil(() => counts()['cr_arrived_from_a'] === 3, 5000, 50), "three requests from A's STUN address:port reached the gateway");
    t.equal(counts()['cr_to_home_from_a'], 0, 'none of them was let into the home');

    const task = await queue(t, a);
    t.ok(await done(task), 'the task is done', sims());
    t.ok((await lastEvents(b)).includes('6 CONNECTION REQUEST'), 'the STB opened its session because a connection request reached it');
    const after = counts();
    t.ok(after['cr_to_home_from_b']! >= 1, "node B's connection request came in through the NAT");
    t.equal(after['cr_arrived_from_a'], 3, 'node A sent none of its own (it does not hold the binding)');
    t.equal(after['cr_to_home_from_a'], 0, 'and nothing from node A ever reached the home');
  });

  await t.test("kill -9 node B: the STB's tasks survive; its next Inform reaches node A, which runs them and re-homes it; the next command's request leaves from A", async (t) => {
    // The STB sleeps (SIGSTOP) so that a task node B acknowledged is still waiting when node B dies.
    process.kill(stb.pid!, 'SIGSTOP');
    const fromB = counts()['cr_to_home_from_b']!;
    const ackedByB = await queue(t, b);
    t.ok(await pollUntil(() => counts()['cr_to_home_from_b']! > fromB, 5000, 50), "node B's connection request for it reached the sleeping STB");
    t.equal(await b.daemon.stop('SIGKILL'), null, 'node B killed');
    const ackedByA = await queue(t, a);

    const bDead = async () => (await a.clients.api('GET', '/v1/cluster')).body.nodes.find((n: { id: string }) => n.id === 'node-b')?.alive === false;
    t.ok(await pollUntil(bDead, 15_000, 200), 'node A sees node B dead once its lease ran out');
    t.ok(await seesLive(a, 'node-a, node-c'), "node A's steering knows it");
    t.same([await statusOf(ackedByB), await statusOf(ackedByA)], ['queued', 'queued'], 'both tasks wait in the database');

    // The load balancer's health check takes node B out; the STB wakes up.
    const informsOnA = () => a.daemon.logs.filter((l) => l.includes('"msg":"Inform"') && l.includes(`"device":"${id}"`)).length;
    const before = informsOnA();
    net.nft(net.server, `flush chain ip lb pre\nadd rule ip lb pre ${balanceTo(A)}\n`);
    process.kill(stb.pid!, 'SIGCONT');
    t.ok(await done(ackedByB, ackedByA), 'both tasks are done', sims());
    t.ok(informsOnA() > before, 'through an Inform that reached node A');
    t.ok(await pollUntil(() => heldBy('node-a'), 15_000), 're-homed: node A holds the binding');
    t.ok(counts()['keepalives_to_a']! > 0, "the STB's keepalives now go to node A's STUN address");

    const arrivedFromA = counts()['cr_arrived_from_a']!;
    const next = await queue(t, c);
    t.ok(await done(next), 'the next command, queued through node C, is done', sims());
    const after = counts();
    t.ok(after['cr_arrived_from_a']! > arrivedFromA, "its connection request left from node A's STUN socket");
    t.ok(after['cr_to_home_from_a']! >= 1, 'and the NAT let it in');
  });
});
