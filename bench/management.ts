/**
 * bench:management — the CWMP management channel of the real daemon with N simulated online STBs
 * (default 10,000): command round trips through the API, and Inform-only CWMP sessions per second on one
 * core beside a minimal Node HTTP server parsing the same Inform bodies (the baseline).
 *
 *   npm run bench:management [-- --quick] [-- --store postgres]
 *
 * --quick: 1,000 devices and shorter runs. BENCH_DEVICES=N sets the device count; BENCH_CONCURRENCY the
 * Inform load's CPE clients (default 32); BENCH_CWMP_CONNECTION=reuse keeps one connection per client
 * across sessions (default: a connection per session, as CPEs do); BENCH_STBD_NODE_ARGS passes Node flags
 * to the daemon (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 *
 * One invocation, all on 127.0.0.1, every server pinned to core 0, the generators, the simulator and this
 * process to core 1:
 *   1. the Inform load (bench/cwmp-load.ts) against bench/minimal-cwmp.ts: the baseline;
 *   2. bin/stbd (log level warn) on an empty database; the N devices imported through the API's CSV
 *      import, with the simulator's deterministic credentials;
 *   3. the simulator (bench/sim-process.ts: src/sim's Simulator) with the N devices: STUN pre-provisioned
 *      to stbd, keepalives every N/500 s (500 keepalives/s in all, spread over the period), no boot Inform;
 *      wait until stbd counts them all online (GET /health);
 *   4. the Inform load against stbd, Digest (warm-up until every device has had a session), then Basic;
 *   5. command round trips as stbctl sends them: POST /v1/devices/ID/tasks?wait=10, a getParameterValues of
 *      DeviceInfo.SoftwareVersion for a random device: the API → a UDP connection request from the STUN
 *      socket → the simulated device's CWMP session (Inform "6 CONNECTION REQUEST" with Digest) → the
 *      GetParameterValues → the answer. One at a time, then 20 at a time (never two on one device).
 *      Every answer must be status "done" with the device's value;
 *   6. with --store postgres: phases 2–5 again, with the store on a throwaway PostgreSQL (fsync and
 *      synchronous commits on) pinned to core 0 with stbd: the ratios to the SQLite figures; and the Digest
 *      Inform load once more with PostgreSQL moved to core 1 (its own CPU, as on a database server, shared
 *      there with the generators): the target's figure, stbd's own work on each engine;
 * and prints the figures against the targets, then one JSON line with everything.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { deviceIds, simDeviceCsv } from '../src/sim/index.js';
import { STBD, writeTestConfig } from '../test/helpers/daemon.js';
import { findPostgresBin, startThrowawayPostgres, type ThrowawayPostgres } from '../test/helpers/postgres.js';
import type { CwmpLoadArgs, WindowResult } from './cwmp-load.js';
import { cpuOf, freeTcpPort, freeUdpPort, json, killAll, lines, nodeScript, onCore, otherLoad, PINNED, rssBytes, scratchDir, sleep, start, stop, waitForLine } from './processes.js';
import { agent, api, describe, health, ROUND_TRIP_PARAMETER, ROUND_TRIP_WAIT_S, type RoundTrips, roundTrips, scrape } from './round-trips.js';
import type { SimArgs, SimStatus } from './sim-process.js';

const QUICK = process.argv.includes('--quick');
/** --store postgres: phases 2–5 again with the store on PostgreSQL, beside the SQLite figures. */
const ON_POSTGRES = process.argv[process.argv.indexOf('--store') + 1] === 'postgres';
const DEVICES = Number(process.env.BENCH_DEVICES ?? (QUICK ? 1_000 : 10_000));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const CONNECTION = process.env.BENCH_CWMP_CONNECTION === 'reuse' ? 'reuse' : 'session';
const PREFIX = 'sim-';
const SECRET = 'bench-management';
/** 500 keepalives/s in all, whatever the device count (at least 1 s apart per device). */
const KEEPALIVE_S = Math.max(1, Math.round(DEVICES / 500));
const SIM_GROUPS = Math.min(100, Math.max(1, Math.floor(DEVICES / 10)));
const WARMUP_MS = QUICK ? 1_000 : 2_000;
const WINDOWS = 2;
const WINDOW_MS = QUICK ? 2_000 : 5_000;
const SEQUENTIAL = QUICK ? 100 : 500;
const PARALLEL = 20;
const PARALLEL_TOTAL = QUICK ? 400 : 2_000;
const ROUND_TRIP_WARMUP = 50;
const TARGET = { p99Ms: 50, sessionsPerSec: 2_000, ratio: 0.8 };
/** Other processes taking more than this much of the servers' core make a phase suspect. */
const NOISY_PCT = 5;

if (!Number.isInteger(DEVICES) || DEVICES < 100) throw new Error(`BENCH_DEVICES must be an integer >= 100, got ${process.env.BENCH_DEVICES}`);
if (!Number.isInteger(CONCURRENCY) || CONCURRENCY < 1 || CONCURRENCY > DEVICES) throw new Error(`BENCH_CONCURRENCY must be 1..${DEVICES}, got ${process.env.BENCH_CONCURRENCY}`);

const dir = scratchDir('stbd-bench-management-');
const log = (s: string) => process.stderr.write(`${s}\n`);

// ---- child processes ----

// ---- the admin API, as stbctl calls it ----

// ---- the phases ----

/** Runs the Inform load on core 1 against `port`; resolves with its windows. */
async function informLoad(name: string, port: number, serverPid: number, auth: 'digest' | 'basic', prime: boolean): Promise<WindowResult[]> {
  log(`  Inform sessions: ${name}`);
  const args: CwmpLoadArgs = { port, serverPid, prefix: PREFIX, start: 1, count: DEVICES, secret: SECRET, concurrency: CONCURRENCY, auth, connection: CONNECTION, prime, warmupMs: WARMUP_MS, windows: WINDOWS, windowMs: WINDOW_MS };
  const proc = start(onCore(1, [...nodeScript('cwmp-load.ts'), JSON.stringify(args)]));
  const out = lines(proc);
  const results: WindowResult[] = [];
  await waitForLine(proc, out, `Inform load (${name})`, 90_000 + WARMUP_MS + WINDOWS * WINDOW_MS + 30_000, (line) => {
    const r = json(line);
    if (!r) return undefined;
    if (r['done'] === true) return true;
    const w = r as unknown as WindowResult;
    results.push(w);
    log(`    window ${w.name}: ${w.sessionsPerSec.toLocaleString('en')} sessions/s, p50 ${w.p50Ms} ms, p99 ${w.p99Ms} ms, errors ${w.errors}, server CPU ${w.serverCpu}%, generator CPU ${w.generatorCpu}% (warm-up ${(w.warmupMs / 1000).toFixed(1)} s${w.primed ? ', every device primed' : ''})${w.firstError ? `; first error: ${w.firstError}` : ''}`);
    return undefined;
  });
  if (results.length !== WINDOWS) throw new Error(`Inform load (${name}): ${results.length} windows, expected ${WINDOWS}`);
  return results;
}

/** Runs `phases` against a fresh database on a throwaway PostgreSQL server, removed afterwards. */
async function onPostgres<T>(phases: (store: Record<string, string>, server: ThrowawayPostgres) => Promise<T>): Promise<T> {
  const bin = findPostgresBin();
  if (!bin) throw new Error('--store postgres: no PostgreSQL server installed here (Debian: apt-get install postgresql)');
  const server = startThrowawayPostgres(bin, 5432, { durable: true, wrap: PINNED ? ['taskset', '-c', '0'] : [] });
  try {
    const created = spawnSync(join(bin, 'createdb'), ['-h', server.socketDir, '-p', String(server.port), '-U', server.user, 'stbd_bench'], { encoding: 'utf8' });
    if (created.status !== 0) throw new Error(`createdb: ${created.stderr}`);
    return await phases({ kind: 'postgres', url: server.url('stbd_bench') }, server);
  } finally {
    server.destroy();
  }
}

/** Moves every process of the server (the postmaster, whose children inherit it, and the running ones) to `core`. */
function pinPostgres(server: ThrowawayPostgres, core: number): void {
  for (const pid of server.pids()) spawnSync('taskset', ['-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
}

/**
 * Phases 2–5 against one stbd: `store` undefined for the embedded SQLite, or a [store] section (PostgreSQL).
 * `key` prefixes the noise figures it records. `server`: the PostgreSQL server, moved to core 1 and back for
 * one more Digest load.
 */
async function stbdPhases(name: string, sub: string, store: Record<string, string> | undefined, noise: Record<string, number>, key = '', server?: ThrowawayPostgres) {
  // 2. stbd and the devices.
  log(`  ${name}`);
  const [apiPort, cwmpPort, stunPort] = [await freeTcpPort(), await freeTcpPort(), await freeUdpPort()];
  mkdirSync(join(dir, sub));
  const config = writeTestConfig(join(dir, sub), {
    ...(store ? { store } : {}),
    api: { listen: `127.0.0.1:${apiPort}` },
    // Every device's first keepalive is challenged (401) from that one address: 10,000 devices coming online
    // pass the per-source 100 challenges/s (burst 1,000), and the devices past it would never come online.
    stun: { listen: `127.0.0.1:${stunPort}`, keepalive_period: `${KEEPALIVE_S}s`, challenges_per_second: 0 },
    // The built-in periodic Inform profile off: the bench measures the sessions it always measured.
    // The 1,000s of simulated STBs all come from 127.0.0.1: one source address, as behind a carrier-grade NAT.
    // Each command's session begins with a 401 challenge; 20 in flight pass the default 20 challenges/s per
    // source, and the shed sessions (503) came back only with the connection request's next resend (3 s).
    // A real fleet has an address per STB (or a raised limit behind CGNAT): no per-source limit here.
    cwmp: { listen: `127.0.0.1:${cwmpPort}`, periodic_inform_profile: false, challenges_per_second: 0 },
    log: { level: 'warn' },
  });
  const nodeArgs = (process.env.BENCH_STBD_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const stbdStarted = performance.now();
  const stbd = start(onCore(0, [process.execPath, ...nodeArgs, STBD, '--config', config]));
  const stbdOut = lines(stbd);
  const stbdWarnings: string[] = [];
  stbdOut.on((l) => {
    if (stbdWarnings.length < 20) stbdWarnings.push(l);
  });
  for (;;) {
    if (stbd.exitCode !== null) throw new Error(`stbd exited with ${stbd.exitCode}: ${stbdOut.stderr()}`);
    if (await health(apiPort)) break;
    if (performance.now() - stbdStarted > 30_000) throw new Error(`stbd: no /health answer within 30 s: ${stbdOut.stderr()}`);
    await sleep(50);
  }
  const token = readFileSync(join(dir, sub, 'api.token'), 'utf8').trim();
  const importT0 = performance.now();
  const imported = await api(apiPort, token, 'POST', '/v1/devices/import', { type: 'text/csv', data: simDeviceCsv({ prefix: PREFIX, start: 1, count: DEVICES, secret: SECRET }) });
  if (imported.status !== 201) throw new Error(`import: HTTP ${imported.status} ${imported.text.slice(0, 300)}`);
  const importMs = performance.now() - importT0;
  log(`    ${(JSON.parse(imported.text) as { imported: number }).imported.toLocaleString('en')} devices imported in ${(importMs / 1000).toFixed(2)} s`);

  // 3. The simulated devices, online.
  const staggerMs = (KEEPALIVE_S * 1000) / SIM_GROUPS;
  log(`  simulator: ${DEVICES.toLocaleString('en')} devices in ${SIM_GROUPS} groups started ${Math.round(staggerMs)} ms apart, keepalive every ${KEEPALIVE_S} s`);
  const simArgs: SimArgs = {
    count: DEVICES,
    prefix: PREFIX,
    secret: SECRET,
    acsUrl: `http://127.0.0.1:${cwmpPort}/`,
    stun: { host: '127.0.0.1', port: stunPort },
    keepaliveIntervalS: KEEPALIVE_S,
    informIntervalS: 86_400,
    groups: SIM_GROUPS,
    staggerMs,
    statusMs: 1_000,
  };
  const sim = start(onCore(1, [...nodeScript('sim-process.ts'), JSON.stringify(simArgs)]));
  const simOut = lines(sim);
  let simStatus: SimStatus | undefined;
  const watchSim = (l: string) => {
    const s = json(l) as SimStatus | undefined;
    if (s && typeof s.started === 'number') simStatus = s;
  };
  simOut.on(watchSim);
  const simT0 = performance.now();
  const onlineLimitMs = KEEPALIVE_S * 1000 + 60_000;
  let online = 0;
  for (;;) {
    if (sim.exitCode !== null) throw new Error(`simulator exited with ${sim.exitCode}: ${simOut.stderr()}`);
    online = (await health(apiPort))?.online ?? 0;
    if (online >= DEVICES) break;
    if (performance.now() - simT0 > onlineLimitMs) break;
    await sleep(250);
  }
  const onlineMs = performance.now() - simT0;
  const s0 = simStatus;
  log(`    ${online.toLocaleString('en')} of ${DEVICES.toLocaleString('en')} online after ${(onlineMs / 1000).toFixed(1)} s${s0 ? ` (simulator: ${s0.started} started, ${s0.bound} bound, ${s0.stats.stunSent} STUN sent, ${s0.stats.stun401} 401, ${s0.stats.stunTimeouts} timeouts, RSS ${(s0.rss / 2 ** 20).toFixed(0)} MiB)` : ''}`);
  if (online < DEVICES) throw new Error(`only ${online} of ${DEVICES} devices online after ${Math.round(onlineMs / 1000)} s: ${simOut.stderr()}`);
  const rssOnline = { stbd: rssBytes(stbd.pid!), sim: rssBytes(sim.pid!) };

  // 4. Inform sessions through stbd.
  const m0 = await scrape(apiPort);
  // PostgreSQL on core 0 with stbd is part of what is measured, not other load.
  const servers = () => [stbd.pid!, ...(server?.pids() ?? [])];
  const otherDigest = otherLoad(0, servers);
  const digestRuns = await informLoad('stbd, Digest', cwmpPort, stbd.pid!, 'digest', true);
  noise[`${key}digest`] = otherDigest();
  const otherBasic = otherLoad(0, servers);
  const basicRuns = await informLoad('stbd, Basic (preemptive)', cwmpPort, stbd.pid!, 'basic', false);
  noise[`${key}basic`] = otherBasic();
  let ownCoreRuns: WindowResult[] | undefined;
  if (server && PINNED) {
    pinPostgres(server, 1);
    const otherOwn = otherLoad(0, () => [stbd.pid!]);
    ownCoreRuns = await informLoad('stbd, Digest, PostgreSQL on core 1', cwmpPort, stbd.pid!, 'digest', true);
    noise[`${key}digest, PostgreSQL on core 1`] = otherOwn();
    pinPostgres(server, 0);
  }
  const m1 = await scrape(apiPort);
  const stillOnline = (await health(apiPort))?.online ?? 0;

  // 5. Command round trips.
  log(`  command round trips (${online.toLocaleString('en')} online)`);
  const pids = { stbd: [stbd.pid!], sim: [sim.pid!] };
  const commandRun = { port: apiPort, token, devices: deviceIds({ prefix: PREFIX, start: 1, count: DEVICES }), pids };
  // What the online devices cost with no command running (keepalives, the simulator's timers), once the
  // Inform load's after-effects (GC, flushes) have settled.
  await sleep(1_000);
  const idle0 = { stbd: cpuOf(stbd.pid!), sim: cpuOf(sim.pid!), t: performance.now() };
  await sleep(QUICK ? 1_000 : 3_000);
  const idleMs = performance.now() - idle0.t;
  const background = { stbd: Math.round(((cpuOf(stbd.pid!) - idle0.stbd) * 100) / idleMs), sim: Math.round(((cpuOf(sim.pid!) - idle0.sim) * 100) / idleMs) };
  log(`    background with no commands: stbd ${background.stbd}%, simulator ${background.sim}% of a core`);
  const simBefore = simStatus;
  const otherRoundTrips = otherLoad(0, servers);
  const otherRoundTripsCore1 = otherLoad(1, () => [sim.pid!, process.pid]);
  const warm = await roundTrips({ ...commandRun, name: 'warm-up', total: ROUND_TRIP_WARMUP, concurrency: 1 });
  const sequential = await roundTrips({ ...commandRun, name: 'one at a time', total: SEQUENTIAL, concurrency: 1 });
  log(`    ${describe(sequential)}`);
  const parallel = await roundTrips({ ...commandRun, name: `${PARALLEL} at a time`, total: PARALLEL_TOTAL, concurrency: PARALLEL });
  log(`    ${describe(parallel)}`);
  noise[`${key}roundTrips`] = otherRoundTrips();
  noise[`${key}roundTrips, core 1`] = otherRoundTripsCore1();
  await sleep(1_200); // one more simulator status line
  const simAfter = simStatus;
  const m2 = await scrape(apiPort);
  const onlineAfter = (await health(apiPort))?.online ?? 0;
  const rssAfter = { stbd: rssBytes(stbd.pid!), sim: rssBytes(sim.pid!) };
  sim.stdin!.end();
  await stop(stbd);
  await stop(sim);

  return { digestRuns, basicRuns, ownCoreRuns, warm, sequential, parallel, m0, m1, m2, background, simBefore, simAfter, stillOnline, onlineAfter, rssOnline, rssAfter, importMs, onlineMs, stbdWarnings };
}

// ---- the run ----

const best = (runs: readonly WindowResult[]) => runs.reduce((a, b) => (b.sessionsPerSec > a.sessionsPerSec ? b : a));
/** Server CPU time per session, in µs: a cost figure that noise on the other core does not move. */
const usPerSession = (r: WindowResult) => (r.serverCpu === null || r.sessionsPerSec === 0 ? NaN : (r.serverCpu * 1e4) / r.sessionsPerSec);

try {
  const commandLine = `npm run bench:management${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  // This process issues the commands: it belongs with the generators on core 1, all its threads included.
  if (PINNED) spawnSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  log(`bench:management: ${DEVICES.toLocaleString('en')} simulated devices${PINNED ? '' : ' (taskset missing: processes NOT pinned)'}; temp dir ${dir}`);

  // 1. The baseline.
  log('  minimal node:http CWMP server (baseline)');
  const minimal = start(onCore(0, nodeScript('minimal-cwmp.ts')));
  const minimalOut = lines(minimal);
  const minimalPort = await waitForLine(minimal, minimalOut, 'minimal server', 20_000, (l) => json(l)?.['port'] as number | undefined);
  const otherBase = otherLoad(0, () => [minimal.pid!]);
  const baseRuns = await informLoad('baseline, Digest header (not checked)', minimalPort, minimal.pid!, 'digest', true);
  const noise: Record<string, number> = { baseline: otherBase() };
  await stop(minimal);

  const ours = await stbdPhases('stbd', 'stbd', undefined, noise);
  const { digestRuns, basicRuns, warm, sequential, parallel, m0, m1, m2, background, simBefore, simAfter, stillOnline, onlineAfter, rssOnline, rssAfter, importMs, onlineMs, stbdWarnings } = ours;
  // 6. With --store postgres: phases 2–5 again, the store on a throwaway PostgreSQL pinned to the servers' core.
  const pg = ON_POSTGRES ? await onPostgres((store, server) => stbdPhases('stbd on PostgreSQL', 'stbd-pg', store, noise, 'postgres ', server)) : undefined;

  // ---- report ----
  const delta = (a: Map<string, number>, b: Map<string, number>, k: string) => (b.get(k) ?? 0) - (a.get(k) ?? 0);
  const base = best(baseRuns);
  const digest = best(digestRuns);
  const basic = best(basicRuns);
  const num = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en') : '-');
  const fix = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const commands = warm.count + sequential.count + parallel.count;
  const simDelta = (k: 'crAccepted' | 'sessionsOk' | 'sessionsFailed' | 'stunTimeouts' | 'crRejected' | 'crDropped') => (simAfter && simBefore ? simAfter.stats[k] - simBefore.stats[k] : NaN);
  const checks = {
    sessionsCompleted: delta(m0, m1, 'stbd_cwmp_sessions_total{result="completed"}'),
    sessionsLost: delta(m0, m1, 'stbd_cwmp_sessions_total{result="lost"}'),
    sessionsRefused: delta(m0, m1, 'stbd_cwmp_sessions_total{result="refused"}'),
    commands,
    tasksDone: delta(m1, m2, 'stbd_tasks_finished_total{status="done"}'),
    udpConnectionRequests: delta(m1, m2, 'stbd_connection_requests_total{via="udp",result="sent"}'),
    simCrAccepted: simDelta('crAccepted'),
    simSessionsOk: simDelta('sessionsOk'),
    simSessionsFailed: simDelta('sessionsFailed'),
    simCrRejected: simDelta('crRejected'),
    simStunTimeouts: simDelta('stunTimeouts'),
    onlineDuringInformLoad: stillOnline,
    onlineAfter,
  };
  const ratio = digest.sessionsPerSec / base.sessionsPerSec;
  const pgDigest = pg ? best(pg.digestRuns) : undefined;
  // The target's figure: PostgreSQL on a CPU of its own (where the bench can move it), so that the ratio is stbd's work per
  // session on each engine; with both on one core it is mostly PostgreSQL's CPU (printed beside it).
  const pgOwn = pg?.ownCoreRuns ? best(pg.ownCoreRuns) : undefined;
  const pgTarget = pgOwn ?? pgDigest;
  const pgSessPass = pgTarget !== undefined && pgTarget.sessionsPerSec >= 0.8 * digest.sessionsPerSec && pgTarget.errors === 0;
  const rtPass = (r: RoundTrips) => r.p99Ms <= TARGET.p99Ms && r.notDone === 0;
  const sessPass = (r: WindowResult) => r.sessionsPerSec >= TARGET.sessionsPerSec && r.sessionsPerSec / base.sessionsPerSec >= TARGET.ratio && r.errors === 0;
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  const row = (figure: string, stbdV: string, baseV: string, ratioV: string, target: string, result = '') =>
    `${figure.padEnd(44)}${stbdV.padStart(18)}${baseV.padStart(12)}${ratioV.padStart(8)}  ${target.padEnd(22)}${result}`;
  const rt = (r: RoundTrips) => `${fix(r.p50Ms, 1)} / ${fix(r.p99Ms, 1)} ms`;
  const sessions = (r: WindowResult) => `${num(r.sessionsPerSec)}/s`;
  const connectionWords = CONNECTION === 'session' ? 'a TCP connection per session' : 'one keep-alive connection per client';
  const out = [
    '',
    `stbd management benchmark: ${num(DEVICES)} simulated online devices, ${PINNED ? 'servers on core 0; generators, simulator and API client on core 1' : 'NOT pinned (no taskset)'}`,
    `command: ${commandLine}`,
    '',
    row('figure', 'stbd', 'baseline', 'ratio', 'target'),
    row('Inform sessions/s, Digest (1 core)', sessions(digest), sessions(base), `${fix(ratio)}x`, `>= 2,000/s, >= ${TARGET.ratio}x`, verdict(sessPass(digest))),
    row('Inform sessions/s, Basic (preemptive)', sessions(basic), sessions(base), `${fix(basic.sessionsPerSec / base.sessionsPerSec)}x`, '(Digest cost)'),
    row('  server CPU per session, Digest / Basic', `${fix(usPerSession(digest), 0)} / ${fix(usPerSession(basic), 0)} us`, `${fix(usPerSession(base), 0)} us`, `${fix(usPerSession(base) / usPerSession(digest))}x`, '(by CPU)'),
    row(`  session p50 / p99, Digest (${CONCURRENCY} clients)`, `${fix(digest.p50Ms, 1)} / ${fix(digest.p99Ms, 1)} ms`, `${fix(base.p50Ms, 1)} / ${fix(base.p99Ms, 1)}`, '', ''),
    row('command round trip p50 / p99, one at a time', rt(sequential), '-', '', '<= 50 ms p99', verdict(rtPass(sequential))),
    row(`command round trip p50 / p99, ${PARALLEL} at a time`, rt(parallel), '-', '', '<= 50 ms p99', verdict(rtPass(parallel))),
    ...(pg && pgDigest
      ? [
          row('store on PostgreSQL', 'stbd on PG', 'on SQLite', 'ratio', 'target'),
          ...(pgOwn
            ? [
                row('  Inform sessions/s, Digest, PG on core 1', sessions(pgOwn), sessions(digest), `${fix(pgOwn.sessionsPerSec / digest.sessionsPerSec)}x`, '>= 0.8x SQLite', verdict(pgSessPass)),
                row('    stbd CPU per session', `${fix(usPerSession(pgOwn), 0)} us`, `${fix(usPerSession(digest), 0)} us`, `${fix(usPerSession(digest) / usPerSession(pgOwn))}x`, '(by CPU)'),
                row("  Inform sessions/s, Digest, PG on stbd's core", sessions(pgDigest), sessions(digest), `${fix(pgDigest.sessionsPerSec / digest.sessionsPerSec)}x`, '(both on one core)'),
              ]
            : [row('  Inform sessions/s, Digest', sessions(pgDigest), sessions(digest), `${fix(pgDigest.sessionsPerSec / digest.sessionsPerSec)}x`, '>= 0.8x SQLite', verdict(pgSessPass))]),
          row('  command round trip p50 / p99, one at a time', rt(pg.sequential), rt(sequential), '', '<= 50 ms p99', verdict(rtPass(pg.sequential))),
          row(`  command round trip p50 / p99, ${PARALLEL} at a time`, rt(pg.parallel), rt(parallel), '', '(no target)'),
          `  (stbd's CPU only in its figures; PostgreSQL runs on stbd's core but for the row that says otherwise, where it shares core 1 with the generators; ${num(DEVICES)} devices imported in ${fix(pg.importMs / 1000)} s, errors ${pgDigest.errors}, not done ${pg.sequential.notDone + pg.parallel.notDone})`,
        ]
      : []),
    '',
    `Inform sessions: ${CONCURRENCY} CPE clients, ${connectionWords}; Inform (8 parameters, "2 PERIODIC") with Authorization, then the empty POST with the cookie -> 204;`,
    `  best of ${WINDOWS} windows of ${WINDOW_MS / 1000} s after a warm-up in which every device had a session (stbd Digest ${fix(digest.warmupMs / 1000, 1)} s).`,
    `  server/generator CPU in % of one core: baseline ${base.serverCpu}%/${base.generatorCpu}%, stbd Digest ${digest.serverCpu}%/${digest.generatorCpu}%, Basic ${basic.serverCpu}%/${basic.generatorCpu}%.`,
    `  stbd meanwhile answers the simulator's ${num(DEVICES / KEEPALIVE_S)} keepalives/s (${background.stbd}% of its core with nothing else to do); the baseline has no such work.`,
    `  errors: baseline ${base.errors}, Digest ${digest.errors}, Basic ${basic.errors}; stbd counted ${num(checks.sessionsCompleted)} sessions completed, ${checks.sessionsLost} lost, ${checks.sessionsRefused} refused; ${num(stillOnline)} devices still online after.`,
    ...[digest, basic, base].filter((r) => r.firstError).map((r) => `  first error: ${r.firstError}`),
    `Round trips: POST /v1/devices/ID/tasks?wait=${ROUND_TRIP_WAIT_S} getParameterValues ${ROUND_TRIP_PARAMETER}, random devices, after ${warm.count} warm-up commands;`,
    `  background with ${num(DEVICES)} online and no commands: stbd ${background.stbd}%, simulator ${background.sim}% of a core; simulator event-loop lag: worst ${simAfter?.maxEventLoopLagMs ?? '-'} ms, ${simAfter && simBefore ? simAfter.lateTicks - simBefore.lateTicks : '-'} ticks > 20 ms late during the round trips`,
    `  ${describe(sequential)}`,
    `  ${describe(parallel)}`,
    `  not done: ${sequential.notDone + parallel.notDone + warm.notDone}; stbd: ${num(checks.tasksDone)} tasks done, ${num(checks.udpConnectionRequests)} UDP connection requests for ${num(commands)} commands; simulator: ${num(checks.simCrAccepted)} accepted, ${checks.simCrRejected} rejected, ${num(checks.simSessionsOk)} sessions ok, ${checks.simSessionsFailed} failed.`,
    ...[warm, sequential, parallel].filter((r) => r.firstProblem).map((r) => `  first problem (${r.name}): ${r.firstProblem}`),
    `Devices: ${num(DEVICES)} imported in ${fix(importMs / 1000)} s; all online ${fix(onlineMs / 1000, 1)} s after the simulator started (${SIM_GROUPS} groups over ${KEEPALIVE_S} s, keepalive every ${KEEPALIVE_S} s = ${num(DEVICES / KEEPALIVE_S)}/s);`,
    `  RSS with all online: stbd ${mb(rssOnline.stbd)}, simulator ${mb(rssOnline.sim)}; at the end: stbd ${mb(rssAfter.stbd)}, simulator ${mb(rssAfter.sim)}; ${num(onlineAfter)} online at the end, simulator STUN timeouts during the round trips ${checks.simStunTimeouts}.`,
    `Other processes on core 0 (the servers'; for round trips also core 1: the simulator's and API client's), in % of the core (the machine is shared): ${Object.entries(noise).map(([k, v]) => `${k} ${v}%`).join(', ')}${Object.values(noise).some((v) => v > NOISY_PCT) ? ` -- over ${NOISY_PCT}%: figures disturbed, run again` : ''}.`,
    ...(stbdWarnings.length > 0 ? [`stbd logged ${stbdWarnings.length}${stbdWarnings.length === 20 ? '+' : ''} warnings, first: ${stbdWarnings[0]!.slice(0, 300)}`] : []),
  ];
  console.log(out.join('\n'));
  console.log(
    JSON.stringify({
      command: commandLine,
      devices: DEVICES,
      pinned: PINNED,
      concurrency: CONCURRENCY,
      connection: CONNECTION,
      informSessions: { baseline: baseRuns, digest: digestRuns, basic: basicRuns, ratio, usPerSession: { baseline: usPerSession(base), digest: usPerSession(digest), basic: usPerSession(basic) } },
      roundTrips: { sequential, parallel, warmup: warm, background },
      checks,
      otherLoad: noise,
      importMs,
      onlineMs,
      rss: { online: rssOnline, end: rssAfter },
      ...(pg && pgDigest ? { postgres: { informSessions: pg.digestRuns, informSessionsPostgresOnCore1: pg.ownCoreRuns ?? null, roundTrips: { sequential: pg.sequential, parallel: pg.parallel }, importMs: pg.importMs, ratioToSqlite: pgTarget!.sessionsPerSec / digest.sessionsPerSec, ratioToSqliteOneCore: pgDigest.sessionsPerSec / digest.sessionsPerSec } } : {}),
      targets: {
        ...(pg && pgDigest ? { postgresInformSessions: { value: pgTarget!.sessionsPerSec, target: '>= 0.8x SQLite', pass: pgSessPass }, postgresRoundTripSequentialP99: { value: pg.sequential.p99Ms, target: '<= 50 ms', pass: rtPass(pg.sequential) } } : {}),
        informSessions: { value: digest.sessionsPerSec, ratio, target: `>= 2000/s and >= ${TARGET.ratio}x`, pass: sessPass(digest) },
        roundTripSequentialP99: { value: sequential.p99Ms, target: '<= 50 ms', pass: rtPass(sequential) },
        roundTripParallelP99: { value: parallel.p99Ms, target: '<= 50 ms', pass: rtPass(parallel) },
      },
    }),
  );
} finally {
  agent.destroy();
  killAll();
}
