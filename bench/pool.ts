/**
 * bench:pool — the recycling pool of the real daemon at scale: start-up and memory with N pool entries
 * (default 1,000,000), recycling throughput with the builtin CAS, and bind/unbind operations per second
 * through the API against the Node ceiling for the job.
 *
 *   npm run bench:pool [-- --quick] [-- --store postgres]
 *
 * --quick: 100,000 entries and shorter runs. BENCH_ENTRIES=N sets the pool size; BENCH_CONCURRENCY the
 * generator's connections (default 64); BENCH_HTTP_CLIENT=node makes the generator use node:http instead
 * of its raw keep-alive client; BENCH_STBD_NODE_ARGS passes Node flags to the daemon (e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof" for a profile of every stbd started).
 *
 * One invocation runs, all on 127.0.0.1, every server pinned to core 0 and the load generator
 * (bench/http-load.ts) to core 1:
 *   1. bin/stbd on an empty database (start-up time and RSS: what every increment is measured over), started twice:
 *      the first start generates the built-in CA's keys, and every start measured is a restart on a copy of
 *      the database it leaves (its CA, its master key);
 *   2. bin/stbd on N registered devices and no pool (what the devices alone cost: the keepalive table);
 *   3. bin/stbd on N devices, each with a pool entry (its recycle_at, no deadline row) (written straight
 *      into SQLite as PoolService.unbind writes them, in one transaction): 1 % overdue, 5 % due 10–60
 *      minutes from now (the sweep timer armed for the first of them), the rest over the next 7 days. Start-up
 *      (spawn to the "stbd started" log line) and RSS; then the overdue entries are recycled through the
 *      builtin CAS (a revocation UPDATE in SQLite; /metrics is polled for stbd_pool_recycled_total and
 *      stbd_pool_recycle_backlog, the daemon's log lines give exact times);
 *   4. bind/unbind through the API: the generator binds pooled devices ("confirmed", no CAS call) and
 *      unbinds them again (back into the pool), over many accounts, first against a minimal hand-written
 *      node:http server (bench/minimal-http.ts: the ceiling), then against the stbd of step 3;
 *   5. with --store postgres: a store of min(N, 100,000) entries built the same way and moved onto a throwaway
 *      PostgreSQL (fsync and synchronous commits on, pinned to core 0 with stbd) by `stbd store copy`, and
 *      the bind/unbind load of step 4 against stbd on it: the ratio to the SQLite figure;
 * and prints the figures against the targets, then one JSON line with everything.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import BetterSqlite3 from 'better-sqlite3';
import { openDatabase } from '../src/store/database.js';
import { devicePasswordSealer } from './sealed-passwords.js';
import { run, STBD, writeTestConfig } from '../test/helpers/daemon.js';
import { findPostgresBin, startThrowawayPostgres } from '../test/helpers/postgres.js';
import { killAll, nodeScript, onCore, PINNED, rssBytes, scratchDir, start } from './processes.js';
import type { HttpLoadArgs, WindowResult } from './http-load.js';

const QUICK = process.argv.includes('--quick');
/** --store postgres: the bind/unbind load also against stbd on PostgreSQL (same machine, server on core 0). */
const ON_POSTGRES = process.argv[process.argv.indexOf('--store') + 1] === 'postgres';
const PG_ENTRIES = Math.min(100_000, Number(process.env.BENCH_ENTRIES ?? (QUICK ? 100_000 : 1_000_000)));
const PG_OPS_TARGET = 3_000;
const ENTRIES = Number(process.env.BENCH_ENTRIES ?? (QUICK ? 100_000 : 1_000_000));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const CLIENT = process.env.BENCH_HTTP_CLIENT === 'node' ? 'node' : 'raw';
/** Devices the generator cycles through (each bound and unbound in turn), spread over the table. */
const LOAD_DEVICES = Math.min(12_800, Math.floor(ENTRIES * 0.9));
const ACCOUNTS_PER_WORKER = 64;
const WARMUP_MS = QUICK ? 1_000 : 2_000;
const WINDOWS = 2;
const WINDOW_MS = QUICK ? 4_000 : 8_000;
const RECYCLE_LIMIT_MS = QUICK ? 60_000 : 180_000;
const POLL_MS = 1_000;
const START_TARGET_MS = 5_000;
const OPS_TARGET = 5_000;
const RECYCLE_AFTER = '7d';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

if (!Number.isInteger(ENTRIES) || ENTRIES < 10_000) throw new Error(`BENCH_ENTRIES must be an integer >= 10000, got ${process.env.BENCH_ENTRIES}`);
if (!Number.isInteger(CONCURRENCY) || CONCURRENCY < 1 || CONCURRENCY > 1024) throw new Error(`BENCH_CONCURRENCY must be 1..1024, got ${process.env.BENCH_CONCURRENCY}`);

const dir = scratchDir('stbd-bench-pool-');

const json = (line: string): Record<string, unknown> | undefined => {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};

/** Every stdout line of `proc` goes to `onLine`; also keeps the pipe drained so a chatty child never blocks. */
function lines(proc: ChildProcess, onLine: (line: string) => void): { stderr(): string } {
  let stderr = '';
  proc.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  createInterface({ input: proc.stdout! }).on('line', onLine);
  return { stderr: () => stderr };
}

/** Resolves when `test` returns a value (checked on every stdout line); rejects on exit or timeout. */
function waitFor<T>(proc: ChildProcess, what: string, timeoutMs: number, stderr: () => string, subscribe: (check: (line: string) => void) => void, test: (line: string) => T | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => finish(undefined, new Error(`${what}: nothing after ${timeoutMs} ms: ${stderr()}`)), timeoutMs);
    const onExit = (code: number | null) => finish(undefined, new Error(`${what} exited with ${code}: ${stderr()}`));
    function finish(v: T | undefined, err?: Error) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      proc.off('exit', onExit);
      if (err) reject(err);
      else resolve(v as T);
    }
    proc.once('exit', onExit);
    subscribe((line) => {
      if (settled) return;
      const v = test(line);
      if (v !== undefined) finish(v);
    });
  });
}


async function stop(proc: ChildProcess): Promise<number> {
  if (proc.exitCode !== null || proc.signalCode !== null) return 0;
  const t0 = performance.now();
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
  return performance.now() - t0;
}

// ---- the database ----

const idOf = (i: number) => `00259E-BenchSTB-${String(i + 1).padStart(8, '0')}`;
/** Entry i's group: 0 overdue (1 %), 1 due 10–60 minutes from now (5 %), 2 due in 1 hour to 7 days. */
const groupOf = (i: number) => (i % 100 === 0 ? 0 : i % 100 <= 5 ? 1 : 2);
/** A plausible certificate and sealed key (sizes of what the builtin CAS stores), for the overdue entries. */
const FAKE_PEM = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(1_000)}\n-----END CERTIFICATE-----\n`;
const FAKE_SEALED = randomBytes(1_750);

interface Built {
  readonly ms: number;
  readonly overdue: number;
  readonly dueSoon: number;
  /** Pool entries the generator binds and unbinds (group 2, spread over the table). */
  readonly loadDevices: string[];
}

/**
 * Writes N devices and, with `pool`, N pool entries, in one transaction with prepared statements. A pool
 * entry is what PoolService.unbind leaves: a pool_entries row (state 'pooled') whose recycle_at says when it
 * is recycled (no deadline row of its own since migration 18). The overdue entries also
 * get the cas_certificates row the builtin CAS revokes when recycling them.
 */
function buildDatabase(path: string, n: number, pool: boolean): Built {
  const t0 = performance.now();
  const db = openDatabase(path, { synchronous: 'normal', busyTimeoutMs: 5000 });
  const sealed = devicePasswordSealer(path);
  const loadDevices: string[] = [];
  let overdue = 0;
  let dueSoon = 0;
  try {
    const device = db.prepare('INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const entry = db.prepare("INSERT INTO pool_entries (device_id, account, certificate_id, pooled_at, recycle_at, state) VALUES (?, ?, ?, ?, ?, 'pooled')");
    const certificate = db.prepare('INSERT INTO cas_certificates (certificate_id, device_id, idempotency_key, serial, cert_pem, key_sealed, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const random = randomBytes(18 * n); // 18 random bytes = 24 base64url characters per password
    const now = Date.now();
    const farCount = n - Math.ceil(n / 100) - 5 * Math.floor(n / 100);
    const stride = Math.max(1, Math.floor(farCount / LOAD_DEVICES));
    let far = 0;
    db.transaction(() => {
      for (let i = 0; i < n; i++) {
        const id = idOf(i);
        const password = random.toString('base64url', 18 * i, 18 * i + 18);
        const [stun, cr, cwmp] = sealed(id, password, password, password);
        device.run(id, id, stun, id, cr, id, cwmp, now - 30 * DAY, now - 30 * DAY);
        if (!pool) continue;
        // Spread deterministically within each group (a multiplicative hash of i, in [0, 1)).
        const u = ((i * 2654435761) % 4294967296) / 4294967296;
        const group = groupOf(i);
        const recycleAt =
          group === 0 ? now - 60_000 - Math.floor(u * HOUR) : group === 1 ? now + 10 * 60_000 + Math.floor(u * 50 * 60_000) : now + HOUR + Math.floor(u * (7 * DAY - HOUR));
        const certificateId = `bench-cert-${String(i + 1).padStart(8, '0')}`;
        entry.run(id, `sub-${Math.floor(i / 3)}`, certificateId, recycleAt - 7 * DAY, recycleAt);
        if (group === 0) {
          overdue++;
          certificate.run(certificateId, id, `register:${id}:bench`, `${i + 1}`, FAKE_PEM, FAKE_SEALED, recycleAt - 7 * DAY);
        } else if (group === 1) dueSoon++;
        else if (far++ % stride === 0 && loadDevices.length < LOAD_DEVICES) loadDevices.push(id);
      }
    })();
  } finally {
    db.close();
  }
  return { ms: performance.now() - t0, overdue, dueSoon, loadDevices };
}

// ---- processes ----

interface Stbd {
  readonly proc: ChildProcess;
  readonly api: string;
  /** Date.now() at spawn. */
  readonly spawnedAt: number;
  /** Spawn to the "stbd started" line read from its stdout. */
  readonly startupMs: number;
  /** Spawn to the time the "stbd started" line carries (when the daemon logged it). */
  readonly loggedStartMs: number;
  /** Spawn to the first answer of GET /health (asked as soon as the line is read). */
  readonly healthMs: number;
  readonly rssAtStart: number;
  readonly stderr: () => string;
  /** Log lines seen after "stbd started" are also handed to this (replaceable). */
  onLine: (line: string) => void;
}

/** bin/stbd on core 0; start-up is from spawn to its "stbd started" log line. */
async function startStbd(config: string, onLine: (line: string) => void = () => {}): Promise<Stbd> {
  const t0 = performance.now();
  const spawnedAt = Date.now();
  // BENCH_STBD_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the daemon.
  const nodeArgs = (process.env.BENCH_STBD_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = start(onCore(0, [process.execPath, ...nodeArgs, STBD, '--config', config]));
  const stbd = { onLine } as Stbd;
  let check: (line: string) => void = () => {};
  const out = lines(proc, (line) => {
    check(line);
    stbd.onLine(line);
  });
  const { api, loggedAt } = await waitFor(proc, 'stbd', 120_000, out.stderr, (c) => (check = c), (l) => {
    if (!l.includes('"stbd started"')) return undefined;
    const e = json(l) as { msg?: string; api?: string } | undefined;
    return e?.msg === 'stbd started' && e.api ? { api: e.api, loggedAt: logTime(l) } : undefined;
  });
  const startupMs = performance.now() - t0;
  const rssAtStart = rssBytes(proc.pid!);
  const health = await fetch(`http://${api}/health`, { signal: AbortSignal.timeout(30_000) });
  if (health.status !== 200) throw new Error(`stbd: GET /health answered ${health.status}`);
  await health.arrayBuffer();
  const healthMs = performance.now() - t0;
  return Object.assign(stbd, { proc, api, spawnedAt, startupMs, loggedStartMs: loggedAt - spawnedAt, healthMs, rssAtStart, stderr: out.stderr });
}

/** stbd's Prometheus metrics, sample (name with labels) to value, and how long the scrape took. */
async function scrape(api: string): Promise<{ samples: Map<string, number>; ms: number }> {
  const t0 = performance.now();
  const text = await (await fetch(`http://${api}/metrics`, { signal: AbortSignal.timeout(30_000) })).text();
  const ms = performance.now() - t0;
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const sp = line.lastIndexOf(' ');
    if (line && !line.startsWith('#') && sp > 0) samples.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return { samples, ms };
}

/** Runs the HTTP generator on core 1 against `port`; resolves with its windows once every worker is done. */
async function generate(port: number, serverPid: number, token: string, devicesFile: string): Promise<WindowResult[]> {
  const args: HttpLoadArgs = { port, token, serverPid, devicesFile, concurrency: CONCURRENCY, accountsPerWorker: ACCOUNTS_PER_WORKER, warmupMs: WARMUP_MS, windows: WINDOWS, windowMs: WINDOW_MS, client: CLIENT };
  const proc = start(onCore(1, [...nodeScript('http-load.ts'), JSON.stringify(args)]));
  const results: WindowResult[] = [];
  let check: (line: string) => void = () => {};
  const out = lines(proc, (l) => check(l));
  await waitFor(proc, 'http load generator', WARMUP_MS + WINDOWS * WINDOW_MS + 60_000, out.stderr, (c) => (check = c), (line) => {
    const r = json(line);
    if (!r) return undefined;
    if (r['done'] === true) return true;
    const w = r as unknown as WindowResult;
    results.push(w);
    log(`    window ${w.name}: ${w.opsPerSec.toLocaleString('en')} ops/s, p50 ${w.p50Ms} ms, p99 ${w.p99Ms} ms, errors ${w.errors}, server CPU ${w.serverCpu}%, generator CPU ${w.generatorCpu}%`);
    return undefined;
  });
  if (results.length !== WINDOWS) throw new Error(`http load generator: ${results.length} windows, expected ${WINDOWS}`);
  return results;
}

/**
 * Step 5: a store built like step 3's (smaller: the load touches a few thousand devices), moved onto a
 * throwaway PostgreSQL by `stbd store copy`, then step 4's load against stbd on it.
 */
async function onPostgres(config: (sub: string, extra?: Record<string, Record<string, string>>) => string): Promise<{ entries: number; copyMs: number; startupMs: number; runs: WindowResult[] }> {
  const bin = findPostgresBin();
  if (!bin) throw new Error('--store postgres: no PostgreSQL server installed here (Debian: apt-get install postgresql)');
  log('  stbd on PostgreSQL');
  const server = startThrowawayPostgres(bin, 5432, { durable: true, wrap: PINNED ? ['taskset', '-c', '0'] : [] });
  try {
    const source = config('pg-source');
    const built = buildDatabase(join(dir, 'pg-source', 'stbd.db'), PG_ENTRIES, true);
    const created = await run(join(bin, 'createdb'), ['-h', server.socketDir, '-p', String(server.port), '-U', server.user, 'stbd_bench']);
    if (created.code !== 0) throw new Error(`createdb: ${created.stderr}`);
    const target = config('pg', { store: { kind: 'postgres', url: server.url('stbd_bench') }, ca: { master_key_file: join(dir, 'pg-source', 'master.key') } });
    const t0 = performance.now();
    const copied = await run(STBD, ['store', 'copy', '--config', source, '--to-config', target]);
    if (copied.code !== 0) throw new Error(`stbd store copy: ${copied.stderr}`);
    const copyMs = performance.now() - t0;
    const stbd = await startStbd(target);
    const devicesFile = join(dir, 'pg-load-devices.txt');
    writeFileSync(devicesFile, `${built.loadDevices.join('\n')}\n`);
    const runs = await generate(Number(stbd.api.split(':').at(-1)), stbd.proc.pid!, readFileSync(join(dir, 'pg', 'bss.token'), 'utf8').trim(), devicesFile);
    await stop(stbd.proc);
    return { entries: PG_ENTRIES, copyMs, startupMs: stbd.startupMs, runs };
  } finally {
    server.destroy();
  }
}

/** Windows are repeated and the best kept: the machine is shared and noisy. */
const best = (runs: readonly WindowResult[]) => runs.reduce((a, b) => (b.opsPerSec > a.opsPerSec ? b : a));
/** Server CPU time per operation, in µs: a cost figure that noise on the other core does not move. */
const usPerOp = (r: WindowResult) => (r.serverCpu === null || r.opsPerSec === 0 ? NaN : (r.serverCpu * 1e4) / r.opsPerSec);
/** Which side ran out of CPU in a closed-loop run. */
const boundBy = (r: WindowResult) => ((r.serverCpu ?? 0) >= 90 ? 'server' : r.generatorCpu >= 90 ? 'generator' : 'neither (noise, or waiting on I/O)');

/** The pino time of a log line, in ms since the epoch. */
const logTime = (line: string) => Date.parse(/"time":"([^"]+)"/.exec(line)?.[1] ?? '');

const log = (s: string) => process.stderr.write(`${s}\n`);

// ---- the run ----

try {
  const commandLine = `npm run bench:pool${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  log(`bench:pool: ${ENTRIES.toLocaleString('en')} pool entries${PINNED ? '' : ' (taskset missing: processes NOT pinned)'}; temp dir ${dir}`);
  const config = (sub: string, extra: Record<string, Record<string, string>> = {}) => {
    mkdirSync(join(dir, sub), { recursive: true });
    return writeTestConfig(join(dir, sub), {
      log: { level: 'info' },
      cas: { kind: 'builtin' },
      pool: { max_bound_per_account: 1000, max_pooled_per_account: 1000, recycle_after: RECYCLE_AFTER },
      ...extra,
    });
  };

  // 1. The empty daemon: what every increment is measured over. Its first start generates the built-in CA's
  // keys (a second or more, and random); the others start from the database it leaves, so every start
  // measured is a restart, as an operator's daemon restarts.
  log('  stbd, empty database');
  const first = await startStbd(config('empty'));
  await stop(first.proc);
  const empty = await startStbd(config('empty'));
  const emptyStopMs = await stop(empty.proc);
  const fromEmpty = (sub: string) => {
    mkdirSync(join(dir, sub), { recursive: true });
    for (const f of ['stbd.db', 'stbd.db-wal', 'master.key']) if (existsSync(join(dir, 'empty', f))) copyFileSync(join(dir, 'empty', f), join(dir, sub, f));
  };

  // 2. The same devices without a pool: what the devices alone cost.
  log('  stbd, devices only');
  fromEmpty('devices');
  const devicesOnlyBuild = buildDatabase(join(dir, 'devices', 'stbd.db'), ENTRIES, false);
  const devicesOnly = await startStbd(config('devices'));
  await stop(devicesOnly.proc);
  rmSync(join(dir, 'devices'), { recursive: true, force: true });

  // 3. Devices and pool entries: start-up, memory, recycling of the overdue entries.
  log('  stbd, devices and pool entries');
  fromEmpty('pool');
  const built = buildDatabase(join(dir, 'pool', 'stbd.db'), ENTRIES, true);
  log(`    database: ${(built.ms / 1000).toFixed(1)} s, ${built.overdue.toLocaleString('en')} overdue, ${built.dueSoon.toLocaleString('en')} due within the hour`);
  const recycleLog = { due: 0, firstDue: NaN, lastDue: NaN, recycled: 0, lastRecycled: NaN, recycledAtLastDue: 0 };
  const watchRecycling = (line: string) => {
    if (line.includes('"pool entry due: CAS deregistration queued"')) {
      if (recycleLog.due++ === 0) recycleLog.firstDue = logTime(line);
      recycleLog.lastDue = logTime(line);
      recycleLog.recycledAtLastDue = recycleLog.recycled;
    } else if (line.includes('"pool entry recycled: CAS deregistration confirmed"')) {
      recycleLog.recycled++;
      recycleLog.lastRecycled = logTime(line);
    }
  };
  const stbd = await startStbd(config('pool'), watchRecycling);
  const { spawnedAt } = stbd;
  const startedAt = spawnedAt + stbd.startupMs;
  log(`    started in ${(stbd.startupMs / 1000).toFixed(2)} s`);

  const polls: { atMs: number; recycled: number; backlog: number; scrapeMs: number }[] = [];
  const pollUntil = performance.now() + RECYCLE_LIMIT_MS;
  for (;;) {
    const { samples, ms } = await scrape(stbd.api);
    const poll = { atMs: Date.now() - startedAt, recycled: samples.get('stbd_pool_recycled_total') ?? NaN, backlog: samples.get('stbd_pool_recycle_backlog') ?? NaN, scrapeMs: ms };
    polls.push(poll);
    if ((poll.recycled >= built.overdue && poll.backlog === 0) || performance.now() > pollUntil) break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const lastPoll = polls.at(-1)!;
  const recycleDone = lastPoll.recycled >= built.overdue && lastPoll.backlog === 0;
  // The exact times come from the log lines, which may reach this process after /metrics counted them: wait for them.
  for (const until = performance.now() + 10_000; recycleLog.recycled < lastPoll.recycled && performance.now() < until; ) await new Promise((r) => setTimeout(r, 50));
  // Exact span from the log: the first due entry queued to the last confirmed recycle.
  const recycleSpanMs = recycleLog.lastRecycled - recycleLog.firstDue;
  const recycleRate = recycleDone ? (recycleLog.recycled * 1000) / recycleSpanMs : (lastPoll.recycled * 1000) / lastPoll.atMs;
  // Once the last overdue entry is queued, what remains is the outbox draining through the CAS.
  const drainRate = ((recycleLog.recycled - recycleLog.recycledAtLastDue) * 1000) / (recycleLog.lastRecycled - recycleLog.lastDue);
  const rssAfterRecycle = rssBytes(stbd.proc.pid!);
  log(`    recycled ${lastPoll.recycled.toLocaleString('en')} of ${built.overdue.toLocaleString('en')} (${recycleDone ? 'done' : 'NOT done'}); ${Math.round(recycleRate).toLocaleString('en')}/s`);
  stbd.onLine = () => {};

  // 4. Bind/unbind: the minimal server (the ceiling), then stbd.
  const devicesFile = join(dir, 'load-devices.txt');
  writeFileSync(devicesFile, `${built.loadDevices.join('\n')}\n`);
  log('  minimal node:http server');
  const minimal = start(onCore(0, [...nodeScript('minimal-http.ts'), 'minimal-token']));
  let checkMinimal: (line: string) => void = () => {};
  const minimalOut = lines(minimal, (l) => checkMinimal(l));
  const minimalPort = await waitFor(minimal, 'minimal server', 20_000, minimalOut.stderr, (c) => (checkMinimal = c), (l) => json(l)?.['port'] as number | undefined);
  const baseRuns = await generate(minimalPort, minimal.pid!, 'minimal-token', devicesFile);
  await stop(minimal);

  log('  stbd bind/unbind');
  const bss = readFileSync(join(dir, 'pool', 'bss.token'), 'utf8').trim();
  const before = await scrape(stbd.api);
  const stbdRuns = await generate(Number(stbd.api.split(':').at(-1)), stbd.proc.pid!, bss, devicesFile);
  const after = await scrape(stbd.api);
  const rssAfterLoad = rssBytes(stbd.proc.pid!);
  const delta = (k: string) => (after.samples.get(k) ?? 0) - (before.samples.get(k) ?? 0);
  const counted = {
    confirmed: delta('stbd_pool_binds_total{result="confirmed"}'),
    unbound: delta('stbd_pool_unbinds_total{result="unbound"}'),
    recycledDuringLoad: delta('stbd_pool_recycled_total'),
    poolEntries: after.samples.get('stbd_pool_entries') ?? NaN,
  };
  const stopMs = await stop(stbd.proc);

  // 5. The same load with the store on PostgreSQL.
  const pg = ON_POSTGRES ? await onPostgres(config) : undefined;

  // Cross-check in the database: every overdue certificate revoked, every load device back in the pool.
  const check = new BetterSqlite3(join(dir, 'pool', 'stbd.db'), { readonly: true });
  const revoked = (check.prepare('SELECT count(*) AS n FROM cas_certificates WHERE revoked_at IS NOT NULL').get() as { n: number }).n;
  const bindingsLeft = (check.prepare('SELECT count(*) AS n FROM bindings').get() as { n: number }).n;
  const auditRows = (check.prepare('SELECT count(*) AS n FROM pool_audit').get() as { n: number }).n;
  check.close();

  // ---- report ----
  const base = best(baseRuns);
  const ours = best(stbdRuns);
  const perEntry = (stbd.rssAtStart - empty.rssAtStart) / ENTRIES;
  const poolPerEntry = (stbd.rssAtStart - devicesOnly.rssAtStart) / ENTRIES;
  const pgBest = pg ? best(pg.runs) : undefined;
  const targets = [
    { what: `start-up with ${ENTRIES.toLocaleString('en')} entries`, value: stbd.startupMs / 1000, shown: `${(stbd.startupMs / 1000).toFixed(2)} s`, limit: '<= 5 s', pass: stbd.startupMs <= START_TARGET_MS },
    { what: 'bind/unbind through the API', value: ours.opsPerSec, shown: `${ours.opsPerSec.toLocaleString('en')}/s`, limit: '>= 5,000/s', pass: ours.opsPerSec >= OPS_TARGET },
    ...(pgBest ? [{ what: 'bind/unbind, store on PostgreSQL', value: pgBest.opsPerSec, shown: `${pgBest.opsPerSec.toLocaleString('en')}/s`, limit: '>= 3,000/s', pass: pgBest.opsPerSec >= PG_OPS_TARGET }] : []),
  ];
  const num = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en') : '-');
  const fix = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const cols = (label: string, ...c: string[]) => `${label.padEnd(34)}${c.map((x, i) => x.padStart([9, 8, 8, 8, 7, 8, 6, 7][i] ?? 8)).join(' ')}`;
  const row = (label: string, r: WindowResult) => cols(label, num(r.opsPerSec), fix(r.p50Ms), fix(r.p99Ms), fix(r.maxMs, 1), String(r.errors), r.serverCpu === null ? '-' : `${r.serverCpu}%`, `${r.generatorCpu}%`, fix(usPerOp(r), 1));
  const scrapeMs = polls.map((p) => p.scrapeMs);
  const out = [
    '',
    `stbd pool benchmark: ${num(ENTRIES)} pool entries (and devices), builtin CAS, ${PINNED ? 'servers on core 0, generator on core 1' : 'NOT pinned (no taskset)'}`,
    `command: ${commandLine}`,
    '',
    `${'start-up and memory'.padEnd(34)}${'start'.padStart(9)} ${'RSS'.padStart(10)}`,
    `  empty database                  ${s(empty.startupMs).padStart(9)} ${mb(empty.rssAtStart).padStart(10)}   (stop ${s(emptyStopMs)}; its first start, the CA's keys generated: ${s(first.startupMs)})`,
    `  ${num(ENTRIES)} devices, no pool       ${s(devicesOnly.startupMs).padStart(9)} ${mb(devicesOnly.rssAtStart).padStart(10)}   (DB build ${s(devicesOnlyBuild.ms)})`,
    `  ${num(ENTRIES)} devices + pool entries ${s(stbd.startupMs).padStart(9)} ${mb(stbd.rssAtStart).padStart(10)}   (DB build ${s(built.ms)}; stop ${s(stopMs)})`,
    `  RSS per entry over empty: ${fix(perEntry, 0)} B (devices ${fix((devicesOnly.rssAtStart - empty.rssAtStart) / ENTRIES, 0)} B + pool ${fix(poolPerEntry, 0)} B); after recycling ${mb(rssAfterRecycle)}, after the load ${mb(rssAfterLoad)}`,
    `  "stbd started" logged ${s(stbd.loggedStartMs)} after spawn, line read ${s(stbd.startupMs)}, first /health answer ${s(stbd.healthMs)} (empty: ${s(empty.loggedStartMs)}, ${s(empty.startupMs)}, ${s(empty.healthMs)})`,
    `  start-up increment over empty: devices ${s(devicesOnly.startupMs - empty.startupMs)}, pool ${s(stbd.startupMs - devicesOnly.startupMs)} (recycling: one sweep timer reading recycle_at)`,
    '',
    `recycling (builtin CAS): ${num(recycleLog.recycled)} of ${num(built.overdue)} overdue entries recycled${recycleDone ? '' : ` (NOT done within ${RECYCLE_LIMIT_MS / 1000} s: rate over the measured window)`}`,
    `  ${num(recycleRate)} recycles/s from the first due entry queued to the last recycle (${s(recycleSpanMs)}); once all were queued, the outbox alone: ${num(drainRate)}/s`,
    `  from spawn: first due entry queued ${fix((recycleLog.firstDue - spawnedAt) / 1000)} s, all queued ${fix((recycleLog.lastDue - spawnedAt) / 1000)} s, last recycled ${fix((recycleLog.lastRecycled - spawnedAt) / 1000)} s`,
    `  /metrics polled ${polls.length}x every ${POLL_MS / 1000} s: scrape ${fix(Math.min(...scrapeMs), 0)}–${fix(Math.max(...scrapeMs), 0)} ms (counts pool_entries with SQL); certificates revoked in the DB: ${num(revoked)}`,
    '',
    cols('bind/unbind (best of windows)', 'ops/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'srv', 'gen', 'us/op'),
    row('  minimal node:http server', base),
    row('  stbd', ours),
    ...(pg && pgBest ? [row('  stbd on PostgreSQL', pgBest), `  PostgreSQL: ${num(pg.entries)} entries moved by stbd store copy in ${s(pg.copyMs)}; stbd started on it in ${s(pg.startupMs)}; PostgreSQL / SQLite: ${fix(pgBest.opsPerSec / ours.opsPerSec)}x by rate (srv: stbd's CPU only, PostgreSQL's own is on the same core)`] : []),
    `  ${CONCURRENCY} keep-alive connections (${CLIENT} client), ${num(built.loadDevices.length)} devices over ${num(CONCURRENCY * ACCOUNTS_PER_WORKER)} accounts; ${WINDOWS} windows of ${WINDOW_MS / 1000} s after ${WARMUP_MS / 1000} s warm-up`,
    `  srv/gen: server/generator CPU in % of one core; us/op: server CPU per operation. Bound by: minimal ${boundBy(base)}, stbd ${boundBy(ours)}`,
    `  stbd / minimal: ${fix(ours.opsPerSec / base.opsPerSec)}x by rate, ${fix(usPerOp(base) / usPerOp(ours))}x by CPU per op`,
    `  stbd counted: ${num(counted.confirmed)} binds confirmed from the pool, ${num(counted.unbound)} unbinds, ${num(counted.recycledDuringLoad)} recycled meanwhile; bindings left ${bindingsLeft}, pool entries ${num(counted.poolEntries)}, audit rows ${num(auditRows)}`,
    ...(ours.firstError ? [`  first stbd error: ${ours.firstError}`] : []),
    '',
    ...targets.map((x) => `${x.what.padEnd(34)}${x.shown.padStart(11)}  target ${x.limit.padEnd(11)} ${x.pass ? 'PASS' : 'MISS'}`),
  ];
  console.log(out.join('\n'));
  console.log(
    JSON.stringify({
      command: commandLine,
      entries: ENTRIES,
      pinned: PINNED,
      concurrency: CONCURRENCY,
      client: CLIENT,
      startupMs: { firstStart: Math.round(first.startupMs), empty: Math.round(empty.startupMs), devicesOnly: Math.round(devicesOnly.startupMs), pool: Math.round(stbd.startupMs) },
      startupLoggedMs: { empty: Math.round(empty.loggedStartMs), devicesOnly: Math.round(devicesOnly.loggedStartMs), pool: Math.round(stbd.loggedStartMs) },
      firstHealthMs: { empty: Math.round(empty.healthMs), devicesOnly: Math.round(devicesOnly.healthMs), pool: Math.round(stbd.healthMs) },
      rss: { empty: empty.rssAtStart, devicesOnly: devicesOnly.rssAtStart, pool: stbd.rssAtStart, afterRecycle: rssAfterRecycle, afterLoad: rssAfterLoad },
      rssPerEntry: { overEmpty: perEntry, overDevicesOnly: poolPerEntry },
      dbBuildMs: { devicesOnly: Math.round(devicesOnlyBuild.ms), pool: Math.round(built.ms) },
      stopMs: Math.round(stopMs),
      recycle: { overdue: built.overdue, dueSoon: built.dueSoon, recycled: recycleLog.recycled, done: recycleDone, perSec: recycleRate, spanMs: recycleSpanMs, recycledBeforeAllQueued: recycleLog.recycledAtLastDue, drainPerSec: drainRate, firstDueMs: recycleLog.firstDue - spawnedAt, lastDueMs: recycleLog.lastDue - spawnedAt, lastRecycledMs: recycleLog.lastRecycled - spawnedAt, revoked, polls },
      bindUnbind: { minimal: baseRuns, stbd: stbdRuns, best: { minimal: base.name, stbd: ours.name }, usPerOp: { minimal: usPerOp(base), stbd: usPerOp(ours) }, ratio: ours.opsPerSec / base.opsPerSec, counted, bindingsLeft, auditRows },
      ...(pg ? { postgres: { entries: pg.entries, copyMs: Math.round(pg.copyMs), startupMs: Math.round(pg.startupMs), runs: pg.runs, ratioToSqlite: best(pg.runs).opsPerSec / ours.opsPerSec } } : {}),
      targets: Object.fromEntries(targets.map((x) => [x.what, { value: x.value, target: x.limit, pass: x.pass }])),
    }),
  );
} finally {
  killAll();
  rmSync(dir, { recursive: true, force: true });
}
