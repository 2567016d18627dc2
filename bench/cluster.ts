/**
 * bench:cluster — N stbd nodes (default 3) on one PostgreSQL, on this machine, each on its own loopback address
 * (127.0.0.2, .3, …) as each would have its own public STUN address:
 *
 *   npm run bench:cluster [-- --quick]
 *
 * BENCH_CLUSTER_DEVICES sets the registered devices (default 1,000,000; --quick 40,000), BENCH_CLUSTER_NODES
 * the nodes (2 or 3); BENCH_STBD_NODE_ARGS passes Node flags to every node.
 *
 * Every node and the PostgreSQL server (fsync and synchronous commits on) are pinned to core 0; the keepalive
 * load generator (bench/load-generator.ts), the simulators (bench/sim-process.ts) and this process (the API
 * client) to core 1. One invocation:
 * Every RSS is read after the node collected its garbage (each node runs with --inspect on its loopback address;
 * bench/collect-garbage.ts), the RSS before that printed beside it.
 *   1. node A alone on the empty database, restarted (its RSS: what every increment is measured over); the devices
 *      imported through its API (CSV, the simulator's deterministic credentials);
 *   2. single node: every device sends one signed keepalive with CONNECTION-REQUEST-BINDING to A (A holds every
 *      binding); A restarted (it loads what it holds) and every device once more: A's RSS, its bindings
 *      (GET /v1/cluster); then the keepalive rate of A (the load of bench:keepalive: authenticated keepalives
 *      from a pool of A's devices, best of 2 closed-loop runs, then trusted ones);
 *   3. cluster: the other nodes started; device i's keepalive goes to node i mod N, which claims its binding;
 *      every node restarted and every device once more to its home: each node's RSS and bindings, against A
 *      holding all in step 2; the keepalive rate of A again, same pool, the other nodes alive beside it;
 *   4. command round trips: simulated STBs (src/sim) homed on each node (keepalives to its STUN listener, CWMP
 *      sessions to its CWMP listener); getParameterValues commands through A's API, one at a time, for random
 *      STBs homed on A (A sends the connection request) and, side by side, for random STBs homed on another
 *      node (A queues the task and notifies the owner, whose STUN socket sends the request), each for at most
 *      30 s (--quick) or 3 minutes;
 *   5. A alone again (the others stopped): its keepalive rate once more, so that the order of the runs does not
 *      decide the ratio (the baseline is the better single-node run);
 * and prints the figures against the targets, then one JSON line with everything.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { credentialsOf, deviceIdOf, deviceIds, simDeviceCsv } from '../src/sim/index.js';
import { cpeRequest } from '../test/helpers/cpe.js';
import { writeTestConfig } from '../test/helpers/daemon.js';
import { findPostgresBin, startThrowawayPostgres } from '../test/helpers/postgres.js';
import { BINDING_SUCCESS, best, generate, maxPhases, type Stbd, startStbd, transactionId, usPerRequest, writePool } from './keepalive-runs.js';
import type { Phase, PhaseResult } from './load-generator.js';
import { collectedRss } from './collect-garbage.js';
import { cpuOf, freeTcpPort, freeUdpPort, json, killAll, lines, nodeScript, onCore, otherLoad, PINNED, scratchDir, sleep, start, stop } from './processes.js';
import { agent, api, describe, type RoundTrips, roundTrips } from './round-trips.js';
import type { SimArgs, SimStatus } from './sim-process.js';

const QUICK = process.argv.includes('--quick');
const NODES = Number(process.env['BENCH_CLUSTER_NODES'] ?? 3);
const DEVICES = Number(process.env['BENCH_CLUSTER_DEVICES'] ?? (QUICK ? 40_000 : 1_000_000));
/** Devices sending in the keepalive rate runs: A's, spread over its share. */
const POOL = Math.min(20_000, Math.floor(DEVICES / NODES));
const WINDOW = 128;
const MAX = { window: WINDOW, warmupMs: 1_000, durationMs: QUICK ? 2_000 : 5_000 };
/** Simulated STBs per node for the round trips, and the commands (half same-node, half cross-node). */
const SIM_PER_NODE = QUICK ? 100 : 500;
const COMMANDS = QUICK ? 400 : 2_000;
const COMMAND_WARMUP = 30;
/** No new command after this long: a cross-node answer that waits out its long-poll (10 s) would make a run of hours. */
const COMMAND_BUDGET_MS = QUICK ? 30_000 : 180_000;
const IMPORT_CHUNK = 50_000;
const SECRET = 'bench-cluster';
const MASS = 'bench-';
const SIM = 'rt-';
const OWNED_WAIT_MS = 60_000;
const TARGETS = {
  /** Cross-node p99 ≤ factor × same-node p99 + slack (issue 14). */
  crossP99Factor: 1.5,
  crossP99SlackMs: 20,
  /** Keepalive rate of a node in the cluster ≥ this × a single node's. */
  keepaliveRatio: 0.9,
  /** Each node's RSS increment over an empty node ≤ this × (1 / NODES) × that of one node holding all ("about a 1/N"). */
  memoryShareSlack: 1.2,
};

if (!Number.isInteger(NODES) || NODES < 2 || NODES > 3) throw new Error(`BENCH_CLUSTER_NODES must be 2 or 3, got ${process.env['BENCH_CLUSTER_NODES']}`);
if (!Number.isInteger(DEVICES) || POOL < 4 * WINDOW) throw new Error(`BENCH_CLUSTER_DEVICES must be an integer >= ${4 * WINDOW * NODES}, got ${process.env['BENCH_CLUSTER_DEVICES']}`);

const dir = scratchDir('stbd-bench-cluster-');
const log = (s: string) => process.stderr.write(`${s}\n`);
const num = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en') : '-');
const fix = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
/** Mass device i (1-based) is homed on node (i - 1) mod NODES in the cluster. */
const homeOf = (i: number) => (i - 1) % NODES;

// ---- the nodes ----

interface Node {
  readonly k: number;
  readonly id: string;
  readonly host: string;
  readonly apiPort: number;
  readonly cwmpPort: number;
  readonly stunPort: number;
  /** Its inspector's port (loopback only): the bench makes it collect its garbage before reading its RSS. */
  readonly inspectPort: number;
  readonly config: string;
  stbd?: Stbd | undefined;
  token?: string;
}

async function nodeOf(k: number, url: string): Promise<Node> {
  const id = `node-${String.fromCharCode(97 + k)}`;
  const host = `127.0.0.${k + 2}`;
  const [apiPort, cwmpPort, stunPort, inspectPort] = [await freeTcpPort(host), await freeTcpPort(host), await freeUdpPort(host), await freeTcpPort(host)];
  const sub = join(dir, id);
  mkdirSync(sub);
  const config = writeTestConfig(sub, {
    store: { kind: 'postgres', url },
    // Fixed ports: a node restarted on the same address keeps the bindings it holds.
    api: { listen: `${host}:${apiPort}` },
    stun: { listen: `${host}:${stunPort}`, offline_after: '1h' },
    // Every simulated STB comes from 127.0.0.1: no per-source challenge limit (bench:management says why).
    cwmp: { listen: `${host}:${cwmpPort}`, challenges_per_second: 0, periodic_inform_profile: false },
    certs: { listen: `${host}:0` },
    files: { listen: `${host}:0` },
    // One master key for the cluster: device secrets are sealed under it in the database.
    ca: { master_key_file: join(dir, 'master.key') },
    cluster: { node_id: id, stun_address: `${host}:${stunPort}` },
    // info: startStbd waits for the "stbd started" line.
    log: { level: 'info' },
  });
  return { k, id, host, apiPort, cwmpPort, stunPort, inspectPort, config };
}

async function startNode(n: Node): Promise<void> {
  n.stbd = await startStbd(n.config, 0, undefined, [`--inspect=${n.host}:${n.inspectPort}`]);
  n.token ??= readFileSync(join(dir, n.id, 'api.token'), 'utf8').trim();
  log(`  ${n.id} started in ${fix(n.stbd.startupMs / 1000)} s (${n.host})`);
}

async function stopNode(n: Node): Promise<void> {
  if (n.stbd) await stop(n.stbd.proc);
  n.stbd = undefined;
}

const pidOf = (n: Node) => n.stbd!.proc.pid!;

async function call(n: Node, method: string, path: string, body?: { type: string; data: string }): Promise<any> {
  const r = await api(n.apiPort, n.token!, method, path, body, n.host);
  if (r.status >= 300) throw new Error(`${n.id}: ${method} ${path}: HTTP ${r.status} ${r.text.slice(0, 300)}`);
  return JSON.parse(r.text);
}

/** The bindings node `n` holds, by its own count (GET /v1/cluster, its own row comes from its memory). */
async function owned(n: Node): Promise<number> {
  const body = (await call(n, 'GET', '/v1/cluster')) as { nodes: { id: string; devicesOwned: number }[] };
  return body.nodes.find((x) => x.id === n.id)?.devicesOwned ?? NaN;
}

/** Waits until each node holds its expected number of bindings (claims are written in batches); returns the counts. */
async function waitOwned(nodes: readonly Node[], expected: (n: Node) => number): Promise<number[]> {
  const t0 = performance.now();
  for (;;) {
    const counts = await Promise.all(nodes.map(owned));
    if (counts.every((c, i) => c === expected(nodes[i]!)) || performance.now() - t0 > OWNED_WAIT_MS) {
      const off = nodes.filter((n, i) => counts[i] !== expected(n));
      if (off.length > 0) log(`  bindings after ${OWNED_WAIT_MS / 1000} s: ${nodes.map((n, i) => `${n.id} ${counts[i]} (expected ${expected(n)})`).join(', ')}`);
      return counts;
    }
    await sleep(250);
  }
}

/**
 * RSS once the node has settled: the presence flush behind it, then its garbage collected (what the node keeps,
 * not what the last burst left for V8's next collection: that differed by 70 MiB between identical nodes).
 * `raw`: before the collection.
 */
async function settledRss(n: Node): Promise<{ rss: number; raw: number }> {
  await sleep(2_000);
  return collectedRss(pidOf(n), n.host, n.inspectPort);
}

// ---- the run ----

try {
  if (PINNED) spawnSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  const commandLine = `npm run bench:cluster${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const load0 = loadavg()[0]!;
  log(`bench:cluster: ${NODES} nodes, ${num(DEVICES)} devices${PINNED ? '' : ' (taskset missing: processes NOT pinned)'}; temp dir ${dir}`);

  const bin = findPostgresBin();
  if (!bin) throw new Error('no PostgreSQL server installed here (Debian: apt-get install postgresql)');
  const pg = startThrowawayPostgres(bin, 5432, { durable: true, wrap: PINNED ? ['taskset', '-c', '0'] : [] });
  process.once('exit', () => pg.destroy());
  const created = spawnSync(join(bin, 'createdb'), ['-h', pg.socketDir, '-p', String(pg.port), '-U', pg.user, 'stbd_bench'], { encoding: 'utf8' });
  if (created.status !== 0) throw new Error(`createdb: ${created.stderr}`);
  const nodes: Node[] = [];
  for (let k = 0; k < NODES; k++) nodes.push(await nodeOf(k, pg.url('stbd_bench')));
  const a = nodes[0]!;

  // 1. A alone on the empty database, then the devices.
  // Measured after a restart, as every node is below: a first start also makes the CA's keys (a worker).
  await startNode(a);
  await stopNode(a);
  await startNode(a);
  const { rss: emptyRss, raw: emptyRaw } = await settledRss(a);
  let t = performance.now();
  for (let first = 1; first <= DEVICES; first += IMPORT_CHUNK) {
    const data = simDeviceCsv({ prefix: MASS, start: first, count: Math.min(IMPORT_CHUNK, DEVICES - first + 1), secret: SECRET });
    await call(a, 'POST', '/v1/devices/import', { type: 'text/csv', data });
  }
  await call(a, 'POST', '/v1/devices/import', { type: 'text/csv', data: simDeviceCsv({ prefix: SIM, start: 1, count: SIM_PER_NODE * NODES, secret: SECRET }) });
  const importMs = performance.now() - t;
  log(`  ${num(DEVICES + SIM_PER_NODE * NODES)} devices imported through ${a.id} in ${fix(importMs / 1000, 1)} s`);

  // The datagrams: one signed binding keepalive per device, in one pool per home node; the rate pools from A's share.
  t = performance.now();
  const signed = (id: string, i: number) =>
    cpeRequest({ dialect: 'rfc5389', username: id, connectionRequestBinding: true, integrity: { password: credentialsOf(SECRET, id).stunPassword, variant: 'rfc5389' }, transactionId: transactionId(i, 'rfc5389') });
  const pools: Record<string, string> = {};
  const shares = nodes.map(() => [] as string[]);
  for (let i = 1; i <= DEVICES; i++) shares[homeOf(i)]!.push(deviceIdOf(MASS, i));
  for (const n of nodes) pools[`home-${n.k}`] = writePool(join(dir, `home-${n.k}.pool`), shares[n.k]!.map(signed));
  const stride = Math.floor(shares[0]!.length / POOL);
  const ratePool = Array.from({ length: POOL }, (_, j) => shares[0]![j * stride]!);
  pools['auth'] = writePool(join(dir, 'auth.pool'), ratePool.map(signed));
  // A signed keepalive is believed once: the third rate run goes to the same process of A, so it signs anew.
  pools['reauth'] = writePool(join(dir, 'reauth.pool'), ratePool.map(signed));
  pools['keepalive'] = writePool(join(dir, 'keepalive.pool'), ratePool.map((id, i) => cpeRequest({ dialect: 'rfc3489', username: id, transactionId: transactionId(i, 'rfc3489') })));
  log(`  keepalive datagrams built in ${fix((performance.now() - t) / 1000, 1)} s`);

  const prime = (k: number): Phase => ({ name: `prime-${k}`, pool: `home-${k}`, mode: 'once', window: WINDOW, expectType: BINDING_SUCCESS });
  /** Every device of the given homes once, to `to` (default: each to its home). */
  const keepaliveRound = async (homes: readonly Node[], to?: Node) => {
    const targets = to ? [to] : homes;
    await Promise.all(targets.map((n) => generate(n.stunPort, pidOf(n), pools, (to ? homes : [n]).map((h) => prime(h.k)), n.host)));
  };
  const ratePhases = (auth: string): Phase[] => [...maxPhases('auth-max', auth, MAX, BINDING_SUCCESS), { name: 'prime', pool: auth, mode: 'once', window: WINDOW, expectType: BINDING_SUCCESS }, ...maxPhases('trusted-max', 'keepalive', MAX, BINDING_SUCCESS)];
  /** The rate runs against A, with what else ran on its core meanwhile: the other nodes, and the rest (PostgreSQL, other sessions). */
  const rates = async (what: string, auth = 'auth') => {
    log(`  keepalive rate of ${a.id}, ${what}`);
    const others = nodes.filter((n) => n !== a && n.stbd);
    const cpu0 = others.map((n) => cpuOf(pidOf(n)));
    const rest = otherLoad(0, () => nodes.filter((n) => n.stbd).map(pidOf));
    const t0 = performance.now();
    const runs = await generate(a.stunPort, pidOf(a), pools, ratePhases(auth), a.host);
    const ms = performance.now() - t0;
    return { runs, othersCpu: Math.round((others.reduce((x, n, i) => x + cpuOf(pidOf(n)) - cpu0[i]!, 0) * 100) / ms), restOfCore0: rest() };
  };

  // 2. One node holding every binding.
  log(`  single node: every device's binding to ${a.id}`);
  await keepaliveRound(nodes, a);
  await waitOwned([a], () => DEVICES);
  await stopNode(a);
  await startNode(a);
  const singleStartupMs = a.stbd!.startupMs;
  await keepaliveRound(nodes, a);
  const [singleOwned] = await waitOwned([a], () => DEVICES);
  const { rss: singleRss, raw: singleRaw } = await settledRss(a);
  log(`    ${a.id}: RSS ${mib(singleRss)} (before collecting its garbage ${mib(singleRaw)}) holding ${num(singleOwned!)} bindings (empty: ${mib(emptyRss)}, before ${mib(emptyRaw)})`);
  const single = await rates('alone');

  // 3. The cluster: each device's binding to its home node.
  log(`  cluster: ${NODES} nodes, device i homed on node i mod ${NODES}`);
  for (const n of nodes.slice(1)) await startNode(n);
  await keepaliveRound(nodes.slice(1));
  await waitOwned(nodes, (n) => shares[n.k]!.length);
  for (const n of nodes) await stopNode(n);
  for (const n of nodes) await startNode(n);
  const clusterStartupMs = nodes.map((n) => n.stbd!.startupMs);
  await keepaliveRound(nodes);
  const clusterOwned = await waitOwned(nodes, (n) => shares[n.k]!.length);
  const clusterMem = await Promise.all(nodes.map(settledRss));
  const clusterRss = clusterMem.map((m) => m.rss);
  nodes.forEach((n, i) => log(`    ${n.id}: RSS ${mib(clusterRss[i]!)} (before collecting its garbage ${mib(clusterMem[i]!.raw)}) holding ${num(clusterOwned[i]!)} bindings`));
  const inCluster = await rates(`with ${NODES - 1} other nodes alive`);

  // 4. Command round trips through A, for STBs homed on A and on the others.
  log(`  round trips: ${SIM_PER_NODE} simulated STBs homed on each node`);
  const sims = nodes.map((n) => {
    const args: SimArgs = {
      count: SIM_PER_NODE,
      start: 1 + n.k * SIM_PER_NODE,
      prefix: SIM,
      secret: SECRET,
      acsUrl: `http://${n.host}:${n.cwmpPort}/`,
      stun: { host: n.host, port: n.stunPort },
      keepaliveIntervalS: 20,
      informIntervalS: 86_400,
      groups: 10,
      staggerMs: 100,
      statusMs: 1_000,
    };
    const proc = start(onCore(1, [...nodeScript('sim-process.ts'), JSON.stringify(args)]));
    const state = { proc, status: undefined as SimStatus | undefined, out: lines(proc) };
    state.out.on((l) => {
      const s = json(l) as SimStatus | undefined;
      if (s && typeof s.started === 'number') state.status = s;
    });
    return state;
  });
  const simT0 = performance.now();
  while (sims.some((s) => (s.status?.bound ?? 0) < SIM_PER_NODE)) {
    const gone = sims.find((s) => s.proc.exitCode !== null);
    if (gone) throw new Error(`simulator exited with ${gone.proc.exitCode}: ${gone.out.stderr()}`);
    if (performance.now() - simT0 > 60_000) throw new Error(`simulated STBs bound: ${sims.map((s) => s.status?.bound ?? 0).join(', ')} of ${SIM_PER_NODE} each after 60 s`);
    await sleep(200);
  }
  const rtOwned = await waitOwned(nodes, (n) => shares[n.k]!.length + SIM_PER_NODE);
  const homedOnA = deviceIds({ prefix: SIM, start: 1, count: SIM_PER_NODE });
  const elsewhere = deviceIds({ prefix: SIM, start: 1 + SIM_PER_NODE, count: SIM_PER_NODE * (NODES - 1) });
  // Two loops side by side, one command at a time each (so each class sees the other's load): STBs homed on A, and elsewhere.
  const commandRun = { port: a.apiPort, host: a.host, token: a.token!, concurrency: 1, pids: { stbd: nodes.map(pidOf), sim: sims.map((s) => s.proc.pid!) } };
  const both = (what: string, total: number, budgetMs: number) =>
    Promise.all([
      roundTrips({ ...commandRun, name: `${what}, STBs homed on ${a.id}`, devices: homedOnA, total, budgetMs }),
      roundTrips({ ...commandRun, name: `${what}, STBs homed on another node`, devices: elsewhere, total, budgetMs }),
    ]);
  const warm = await both('warm-up', COMMAND_WARMUP, COMMAND_BUDGET_MS / 4);
  const [same, cross]: RoundTrips[] = await both('one at a time', COMMANDS / 2, COMMAND_BUDGET_MS);
  log(`    ${describe(same!)}\n    ${describe(cross!)}`);
  const rtOwnedAfter = await Promise.all(nodes.map(owned));
  for (const s of sims) s.proc.stdin!.end();

  // 5. A alone again (the others stopped, giving their leases up): the single-node rate once more, against the order of the runs.
  for (const n of nodes.slice(1)) await stopNode(n);
  const singleAgain = await rates('alone again (the other nodes stopped)', 'reauth');
  await stopNode(a);
  const load1 = loadavg()[0]!;

  // ---- report ----
  const crossLimit = TARGETS.crossP99Factor * same!.p99Ms + TARGETS.crossP99SlackMs;
  const crossPass = cross!.p99Ms <= crossLimit && cross!.notDone === 0 && same!.notDone === 0;
  type Rates = Awaited<ReturnType<typeof rates>>;
  const rate = (r: Rates, name: string): PhaseResult => best(r.runs, name);
  /** The baseline: the better of the single-node runs before and after the cluster's. */
  const baseline = (name: string) => (rate(single, name).rps >= rate(singleAgain, name).rps ? rate(single, name) : rate(singleAgain, name));
  const rateRatio = (name: string) => rate(inCluster, name).rps / baseline(name).rps;
  const singleInc = singleRss - emptyRss;
  const shareLimit = TARGETS.memoryShareSlack / NODES;
  const memory = nodes.map((n, i) => {
    const inc = clusterRss[i]! - emptyRss;
    return { node: n.id, rss: clusterRss[i]!, rawRss: clusterMem[i]!.raw, owned: clusterOwned[i]!, increment: inc, perOwned: inc / clusterOwned[i]!, ratio: clusterRss[i]! / singleRss, incrementRatio: inc / singleInc, pass: inc / singleInc <= shareLimit };
  });
  const verdict = (pass: boolean) => (pass ? 'met' : 'missed');
  const row = (figure: string, value: string, target = '', result = '') => `${figure.padEnd(58)} ${value.padEnd(72)} ${target.padEnd(34)} ${result}`;
  const pct = (p: { p50: number; p99: number }) => `${fix(p.p50, 1)} / ${fix(p.p99, 1)} ms`;
  const rt = (r: RoundTrips) => `${pct({ p50: r.p50Ms, p99: r.p99Ms })} (${r.count} commands${r.cutShort ? `, ${COMMAND_BUDGET_MS / 1000} s budget` : ''})`;
  const rateRow = (what: string, name: string) => {
    const r = rateRatio(name);
    return [
      row(`keepalives/s, ${what}, single node`, `${num(baseline(name).rps)}/s (before ${num(rate(single, name).rps)}, after ${num(rate(singleAgain, name).rps)})`, 'baseline (the better)'),
      row(`keepalives/s, ${what}, ${a.id} of ${NODES}`, `${num(rate(inCluster, name).rps)}/s (${fix(r)}x)`, `>= ${TARGETS.keepaliveRatio}x`, verdict(r >= TARGETS.keepaliveRatio)),
      // What the other load on the machine does not move: the node's CPU per answered keepalive.
      row(`  ${a.id}'s CPU per keepalive, single / in the cluster`, `${fix(usPerRequest(baseline(name)), 1)} / ${fix(usPerRequest(rate(inCluster, name)), 1)} us (${fix(usPerRequest(baseline(name)) / usPerRequest(rate(inCluster, name)))}x by cost)`, '(no target)'),
    ];
  };
  const out = [
    '',
    `stbd cluster benchmark: ${NODES} nodes on one PostgreSQL, ${num(DEVICES)} devices; ${PINNED ? 'nodes and PostgreSQL on core 0; generator, simulators and API client on core 1' : 'NOT pinned (no taskset)'}`,
    `command: ${commandLine}`,
    '',
    row('figure', 'value', 'target'),
    row(`command round trip p50 / p99, STB homed on ${a.id} (asked)`, rt(same!), 'baseline'),
    row('command round trip p50 / p99, STB homed on another node', rt(cross!), `p99 <= ${TARGETS.crossP99Factor}x + ${TARGETS.crossP99SlackMs} ms = ${fix(crossLimit, 1)} ms`, verdict(crossPass)),
    row('  the tasks\' own queued -> done, same / cross node', `${pct(same!.task)} / ${pct(cross!.task)}`, '(no target)'),
    ...rateRow('authenticated', 'auth-max'),
    ...rateRow('trusted', 'trusted-max'),
    row(`RSS, ${a.id} alone holding all`, `${mib(singleRss)} (+${mib(singleInc)} over empty, ${fix(singleInc / singleOwned!, 0)} B per binding), ${num(singleOwned!)} bindings`, 'baseline'),
    ...memory.map((m) =>
      row(`RSS, ${m.node} of ${NODES}`, `${mib(m.rss)} (+${mib(m.increment)}, ${fix(m.perOwned, 0)} B per binding), ${num(m.owned)} bindings, ${fix(m.incrementRatio)}x`, `increment <= ${fix(shareLimit)}x (about 1/${NODES})`, verdict(m.pass)),
    ),
    '',
    `Round trips: POST /v1/devices/ID/tasks?wait=10 getParameterValues through ${a.id}'s API, random STBs (${SIM_PER_NODE} per node), one at a time in each of two loops side by side (homed on ${a.id}, homed elsewhere); after ${warm[0]!.count} + ${warm[1]!.count} warm-up commands.`,
    `  ${describe(same!)}`,
    `  ${describe(cross!)}`,
    `  not done: ${[...warm, same!, cross!].reduce((x, r) => x + r.notDone, 0)}${[same!, cross!].map((r) => r.firstProblem).filter(Boolean).map((p) => `, ${p}`).join('')}; bindings when the simulators were up ${rtOwned.join(' / ')}, after the commands ${rtOwnedAfter.join(' / ')} (expected ${nodes.map((n) => shares[n.k]!.length + SIM_PER_NODE).join(' / ')}: STBs stayed home).`,
    `Keepalive rate: ${num(POOL)} of ${a.id}'s devices from 16 sockets, window ${WINDOW}, best of 2 x ${MAX.durationMs / 1000} s each; in % of a core, authenticated / trusted runs:`,
    ...([['single, before', single], ['in the cluster', inCluster], ['single, after', singleAgain]] as const).map(
      ([what, r]) => `  ${what.padEnd(15)} ${a.id} ${rate(r, 'auth-max').serverCpu}% / ${rate(r, 'trusted-max').serverCpu}%, generator ${rate(r, 'auth-max').generatorCpu}% / ${rate(r, 'trusted-max').generatorCpu}%; meanwhile on core 0: the other nodes ${r.othersCpu}%, the rest (PostgreSQL, other sessions) ${r.restOfCore0}%`,
    ),
    `Memory: RSS after a restart (a node loads what it holds), one signed keepalive from every device it holds and a garbage collection (HeapProfiler.collectGarbage; before it: empty ${mib(emptyRaw)}, ${a.id} alone ${mib(singleRaw)}, the cluster ${clusterMem.map((m) => mib(m.raw)).join(' / ')}); empty node ${mib(emptyRss)}. Start-up: ${a.id} alone ${fix(singleStartupMs / 1000)} s, in the cluster ${clusterStartupMs.map((ms) => fix(ms / 1000)).join(' / ')} s.`,
    `Devices: ${num(DEVICES)} (+${SIM_PER_NODE * NODES} simulated) imported in ${fix(importMs / 1000, 1)} s; load average ${fix(load0)} at the start, ${fix(load1)} at the end (2 cores: above 1 the figures share the machine).`,
  ];
  console.log(out.join('\n'));
  console.log(
    JSON.stringify({
      bench: 'cluster',
      command: commandLine,
      nodes: NODES,
      devices: DEVICES,
      pinned: PINNED,
      roundTrips: { same, cross, warmup: warm, limitMs: crossLimit, pass: crossPass },
      keepalive: { single: { ...single, runs: Object.fromEntries(single.runs) }, cluster: { ...inCluster, runs: Object.fromEntries(inCluster.runs) }, singleAgain: { ...singleAgain, runs: Object.fromEntries(singleAgain.runs) }, ratio: { auth: rateRatio('auth-max'), trusted: rateRatio('trusted-max') } },
      memory: { emptyRss, emptyRaw, single: { rss: singleRss, raw: singleRaw, owned: singleOwned }, nodes: memory },
      startupMs: { single: singleStartupMs, cluster: clusterStartupMs },
      importMs,
      loadavg: [load0, load1],
    }),
  );
} finally {
  agent.destroy();
  killAll();
}
