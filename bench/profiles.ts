/**
 * bench:profiles — profiles applied on Inform, with the real daemon and simulated STBs.
 *
 *   npm run bench:profiles [-- --quick]
 *
 * --quick: 500 STBs, 100,000 devices to select, shorter windows. BENCH_DEVICES=N and BENCH_SELECT=M set the
 * counts (defaults 10,000 and 1,000,000); BENCH_STBD_NODE_ARGS passes Node flags to every daemon (e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/prof"). The daemon is pinned to core 0, the generators and the simulator
 * to core 1. One invocation:
 *   1. reference: bin/stbd with no profiles (the built-in one off) on a store of N imported devices that never
 *      informed: the Inform load (bench/cwmp-load.ts, Basic, one connection per session); not the ratio's baseline;
 *   2. bin/stbd with three profiles and the built-in periodic Inform one: the N simulated STBs boot at once
 *      (Inform "0 BOOTSTRAP"): the time until every device is compliant with all four (GET /v1/profiles);
 *   3. both sides of the ratio on the store that boot storm filled (every device's parameters, statuses and
 *      finished tasks), each on a daemon just started on it and warmed by one session of every device: the Inform
 *      load with the four profiles on the compliant devices, then without profiles (the three removed through the API, which drops their
 *      statuses; the built-in one off) — the ratio, target >= 0.8x;
 *   4. selecting M devices by a selector on each engine (SQLite file; a throwaway PostgreSQL when installed):
 *      DeviceSelection pages through every device, the time and the RSS growth (it streams: bounded memory).
 * Figures on a shared machine are indicative; ratios are taken within this one invocation.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SealedBox } from '../src/ca/sealed-box.js';
import { PgSelectionRepo } from '../src/devices/pg-selection-repo.js';
import { DeviceSelection } from '../src/devices/selection.js';
import { parseSelector } from '../src/devices/selector/parser.js';
import { SqliteSelectionRepo } from '../src/devices/sqlite-selection-repo.js';
import { Simulator, simDeviceCsv } from '../src/sim/index.js';
import { openDatabase } from '../src/store/database.js';
import { openPostgres } from '../src/store/postgres/pg-database.js';
import { STBD, writeTestConfig } from '../test/helpers/daemon.js';
import { findPostgresBin, freshDatabase, startThrowawayPostgres } from '../test/helpers/postgres.js';
import type { CwmpLoadArgs, WindowResult } from './cwmp-load.js';
import { killAll, nodeScript, onCore, scratchDir, sleep, start } from './processes.js';

const QUICK = process.argv.includes('--quick');
const DEVICES = Number(process.env.BENCH_DEVICES ?? (QUICK ? 500 : 10_000));
const SELECT = Number(process.env.BENCH_SELECT ?? (QUICK ? 100_000 : 1_000_000));
const PREFIX = 'sim-';
const SECRET = 'bench-profiles';
const WINDOWS = 3;
const WINDOW_MS = QUICK ? 2_000 : 5_000;
const TARGET_RATIO = 0.8;
const IGD = 'InternetGatewayDevice.';
const PLAYER = `${IGD}X_STBSIM_Player.`;

const PROFILES = [
  `name = "fleet-ntp"\nselector = "productClass = 'STB'"\npriority = 10\n[values]\n"${IGD}Time.NTPServer1" = "ntp.example.net"\n`,
  `name = "pilot"\nselector = "oui = '00D09E' AND softwareVersion >= '1.0'"\npriority = 5\n[values]\n"${PLAYER}Volume" = 30\n"${IGD}Time.NTPServer1" = "loses"\n[notifications]\n"${PLAYER}Channel" = "active"\n`,
  `name = "standby-off"\nselector = "serialNumber LIKE 'sim-*'"\n[values]\n"${PLAYER}Standby" = false\n`,
];

const dir = scratchDir('stbd-bench-profiles-');
const log = (s: string) => process.stderr.write(`${s}\n`);
const freePort = async (): Promise<number> => {
  const { createServer } = await import('node:net');
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
};

async function call(port: number, token: string, method: string, path: string, body?: { type: string; data: string }): Promise<{ status: number; text: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': body.type } : {}) }, ...(body ? { body: body.data } : {}) });
  return { status: r.status, text: await r.text() };
}

interface Stbd {
  readonly proc: ReturnType<typeof start>;
  readonly apiPort: number;
  readonly cwmpPort: number;
  readonly stunPort: number;
  readonly token: string;
}

/** An stbd on core 0 on the store in `sub` (created on first use); `builtin`: the periodic Inform profile on. */
async function daemon(sub: string, builtin: boolean): Promise<Stbd> {
  const [apiPort, cwmpPort, stunPort] = [await freePort(), await freePort(), await freePort()];
  mkdirSync(join(dir, sub), { recursive: true });
  const config = writeTestConfig(join(dir, sub), {
    api: { listen: `127.0.0.1:${apiPort}` },
    stun: { listen: `127.0.0.1:${stunPort}`, keepalive_period: '300s' },
    // Every STB comes from 127.0.0.1: the per-source limits would shed a boot storm that real STBs spread over many addresses.
    cwmp: { listen: `127.0.0.1:${cwmpPort}`, periodic_inform_profile: builtin, session_timeout: '60s', challenges_per_second: 0, auth_failures_per_minute: 0, max_connections_per_source: 100_000 },
    log: { level: 'warn' },
  });
  const nodeArgs = (process.env['BENCH_STBD_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const proc = start(onCore(0, [process.execPath, ...nodeArgs, STBD, '--config', config]));
  proc.stdout!.resume();
  const t0 = performance.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`stbd exited with ${proc.exitCode}`);
    if ((await fetch(`http://127.0.0.1:${apiPort}/health`).catch(() => undefined))?.ok) break;
    if (performance.now() - t0 > 30_000) throw new Error('stbd: no /health within 30 s');
    await sleep(50);
  }
  return { proc, apiPort, cwmpPort, stunPort, token: readFileSync(join(dir, sub, 'api.token'), 'utf8').trim() };
}

async function importDevices(d: Stbd): Promise<void> {
  const imported = await call(d.apiPort, d.token, 'POST', '/v1/devices/import', { type: 'text/csv', data: simDeviceCsv({ prefix: PREFIX, start: 1, count: DEVICES, secret: SECRET }) });
  if (imported.status !== 201) throw new Error(`import: ${imported.status} ${imported.text.slice(0, 200)}`);
}

async function addProfiles(d: Stbd): Promise<void> {
  for (const source of PROFILES) {
    const r = await call(d.apiPort, d.token, 'POST', '/v1/profiles', { type: 'application/json', data: JSON.stringify({ source }) });
    if (r.status !== 201) throw new Error(`profile: ${r.status} ${r.text}`);
  }
}

async function removeProfiles(d: Stbd): Promise<void> {
  for (const source of PROFILES) {
    const name = /^name = "([^"]+)"/.exec(source)![1]!;
    const r = await call(d.apiPort, d.token, 'DELETE', `/v1/profiles/${encodeURIComponent(name)}`);
    if (r.status !== 200) throw new Error(`profile remove ${name}: ${r.status} ${r.text}`);
  }
}

/** Profile names with compliant/pending/fault counts; `all`: every one of them has every device compliant. */
async function compliance(d: Stbd): Promise<{ all: boolean; last: string; count: number }> {
  const { profiles } = JSON.parse((await call(d.apiPort, d.token, 'GET', '/v1/profiles')).text) as { profiles: { name: string; counts: { compliant: number; pending: number; fault: number } }[] };
  const last = profiles.map((p) => `${p.name} ${p.counts.compliant}/${p.counts.pending}/${p.counts.fault}`).join(', ');
  return { all: profiles.every((p) => p.counts.compliant === DEVICES), last, count: profiles.length };
}

/**
 * The best window's sessions/s. `prime`: the warm-up lasts until every device has had a session, so the first
 * write of the load's Inform values (sizes unlike the simulator's: rows grow, pages split) falls outside the windows
 * of whichever side runs first.
 */
async function informLoad(port: number, serverPid: number, prime: boolean): Promise<number> {
  const args: CwmpLoadArgs = { port, serverPid, prefix: PREFIX, start: 1, count: DEVICES, secret: SECRET, concurrency: 32, auth: 'basic', connection: 'session', prime, warmupMs: 1_000, windows: WINDOWS, windowMs: WINDOW_MS };
  const proc = start(onCore(1, [...nodeScript('cwmp-load.ts'), JSON.stringify(args)]));
  const { createInterface } = await import('node:readline');
  const windows: WindowResult[] = [];
  await new Promise<void>((resolve, reject) => {
    proc.once('exit', (code) => (code === 0 || windows.length === WINDOWS ? resolve() : reject(new Error(`Inform load exited with ${code}`))));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        const r = JSON.parse(line) as WindowResult & { done?: boolean };
        if (r.done) resolve();
        else if (typeof r.sessionsPerSec === 'number') {
          windows.push(r);
          const cpuPerSession = r.serverCpu === null || r.sessionsPerSec === 0 ? '?' : ((r.serverCpu * 10_000) / r.sessionsPerSec).toFixed(0);
          log(`    window: ${r.sessionsPerSec.toLocaleString('en')} sessions/s, p99 ${r.p99Ms} ms, stbd CPU ${r.serverCpu}% (${cpuPerSession} µs per session), errors ${r.errors}${r.firstError ? ` (${r.firstError})` : ''}`);
        }
      } catch {
        /* not a figure */
      }
    });
  });
  return Math.max(...windows.map((w) => w.sessionsPerSec));
}

async function stopProc(proc: ReturnType<typeof start>): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

/** Phase 3 on one engine: M devices, half of them STB-4K on 3.x; every match paged through. */
async function selectOn(engine: 'sqlite' | 'postgres', url?: string): Promise<{ ms: number; matched: number; rssGrowthMiB: number }> {
  const sealer = new SealedBox(Buffer.alloc(32, 1));
  const fill = `
    INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at, cr_generated)
      SELECT 'dev-' || n, 's-' || n, 'x', 'c-' || n, 'x', 'w-' || n, 'x', 1, 1, 0 FROM series;
    INSERT INTO cwmp_devices (device_id, manufacturer, oui, product_class, serial_number, data_model, cwmp_version, last_inform_at, last_events, source_address, behind_nat)
      SELECT 'dev-' || n, 'm', '00D09E', CASE WHEN n % 2 = 0 THEN 'STB-4K' ELSE 'STB' END, 'SN' || n, 'Device.', '1.0', 1, '[]', '127.0.0.1', 0 FROM series;
    INSERT INTO device_parameters (device_id, name, value, type, updated_at)
      SELECT 'dev-' || n, 'Device.DeviceInfo.SoftwareVersion', CASE WHEN n % 4 < 2 THEN '3.' || (n % 13) ELSE '2.9' END, 'xsd:string', 1 FROM series;`;
  const condition = parseSelector("productClass = 'STB-4K' AND softwareVersion >= '3.0'");
  const presence = { flush: async () => undefined, seenSince: () => 0, onlineAmong: async () => new Set<string>() };
  let selection: DeviceSelection;
  let close: () => Promise<void>;
  if (engine === 'sqlite') {
    const db = openDatabase(join(dir, `select-${SELECT}.db`), { synchronous: 'normal', busyTimeoutMs: 5000 });
    db.exec(`CREATE TEMP TABLE series AS WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ${SELECT}) SELECT n FROM s; ${fill}`);
    selection = new DeviceSelection(new SqliteSelectionRepo(db, sealer), { now: () => Date.now() }, presence);
    close = async () => void db.close();
  } else {
    const pool = await openPostgres({ url: url!, poolSize: 4, statementTimeoutMs: 600_000 });
    const c = await pool.connect();
    await c.query(`CREATE TEMP TABLE series AS SELECT generate_series(1, ${SELECT}) AS n; ${fill} ANALYZE;`);
    c.release();
    selection = new DeviceSelection(new PgSelectionRepo(pool, sealer), { now: () => Date.now() }, presence);
    close = () => pool.end();
  }
  global.gc?.();
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const t0 = performance.now();
  let matched = 0;
  for await (const page of selection.pages(condition, 1000)) {
    matched += page.length;
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  const ms = performance.now() - t0;
  await close();
  return { ms, matched, rssGrowthMiB: (peak - rss0) / 2 ** 20 };
}

async function main(): Promise<void> {
  log(`bench:profiles: ${DEVICES.toLocaleString('en')} STBs, ${SELECT.toLocaleString('en')} devices to select${QUICK ? ' (--quick)' : ''}`);
  // 1. Reference: a store of devices that never informed (what this bench's baseline was until 2026-12-03).
  log('  reference: stbd without profiles on a store of imported devices only: Inform load');
  const bare = await daemon('bare', false);
  await importDevices(bare);
  const reference = await informLoad(bare.cwmpPort, bare.proc.pid!, false);
  await stopProc(bare.proc);

  // 2. Three profiles and the built-in one; the STBs boot at once.
  log('  stbd with three profiles and the built-in periodic Inform profile: the STBs boot at once');
  const storm = await daemon('stored', true);
  await importDevices(storm);
  await addProfiles(storm);
  const sim = new Simulator({ count: DEVICES, prefix: PREFIX, secret: SECRET, acsUrl: `http://127.0.0.1:${storm.cwmpPort}/`, auth: 'digest', stun: { host: '127.0.0.1', port: storm.stunPort }, keepaliveIntervalS: 300, informIntervalS: 86_400, bind: '127.0.0.1' });
  const t0 = performance.now();
  await sim.start();
  let compliantMs = NaN;
  let last = '';
  for (;;) {
    const c = await compliance(storm);
    last = c.last;
    if (c.count === 4 && c.all) {
      compliantMs = performance.now() - t0;
      break;
    }
    if (performance.now() - t0 > 600_000) break;
    await sleep(250);
  }
  log(`    ${Number.isNaN(compliantMs) ? `not all compliant after 600 s (compliant/pending/fault: ${last})` : `all ${DEVICES.toLocaleString('en')} compliant with all four profiles ${(compliantMs / 1000).toFixed(1)} s after boot`}`);
  await sim.stop();
  await stopProc(storm.proc);

  // 3. Both sides of the ratio on the store the storm filled, each on a daemon just started on it.
  log('  on the store the boot storm filled, stbd restarted: Inform load with the four profiles (devices compliant)');
  const withProfiles = await daemon('stored', true);
  const profiled = await informLoad(withProfiles.cwmpPort, withProfiles.proc.pid!, true);
  const after = await compliance(withProfiles);
  if (!after.all) log(`    not every device compliant after the load (compliant/pending/fault: ${after.last})`);
  await stopProc(withProfiles.proc);
  log('  the same store, stbd restarted without profiles (the three removed, the built-in off): Inform load, the baseline');
  const plain = await daemon('stored', false);
  await removeProfiles(plain);
  const baseline = await informLoad(plain.cwmpPort, plain.proc.pid!, true);
  await stopProc(plain.proc);
  const ratio = profiled / baseline;

  // 4. Selection on both engines.
  log(`  selecting among ${SELECT.toLocaleString('en')} devices ("productClass = 'STB-4K' AND softwareVersion >= '3.0'")`);
  const selections: Record<string, { ms: number; matched: number; rssGrowthMiB: number }> = {};
  selections['sqlite'] = await selectOn('sqlite');
  const bin = findPostgresBin();
  if (bin) {
    const server = startThrowawayPostgres(bin, 5432, { durable: false, wrap: [] });
    try {
      selections['postgres'] = await selectOn('postgres', await freshDatabase(server));
    } finally {
      server.destroy();
    }
  } else log('    PostgreSQL: not installed here, skipped');
  for (const [engine, s] of Object.entries(selections)) log(`    ${engine}: ${s.matched.toLocaleString('en')} matched in ${(s.ms / 1000).toFixed(2)} s, RSS growth ${s.rssGrowthMiB.toFixed(1)} MiB`);

  log('');
  log('Inform sessions/s (best window), on the store the boot storm filled:');
  log(`  with 4 matching profiles, devices compliant: ${profiled.toLocaleString('en')}`);
  log(`  without profiles (baseline):                 ${baseline.toLocaleString('en')}`);
  log(`  ratio ${ratio.toFixed(2)}x (target >= ${TARGET_RATIO}x) ${ratio >= TARGET_RATIO ? 'ok' : 'BELOW TARGET'}`);
  log(`reference, without profiles on a store of devices that never informed: ${reference.toLocaleString('en')} (${(profiled / reference).toFixed(2)}x with profiles)`);
  log(`boot storm: ${DEVICES.toLocaleString('en')} STBs compliant in ${(compliantMs / 1000).toFixed(1)} s`);
  console.log(JSON.stringify({ devices: DEVICES, select: SELECT, baselineSessionsPerSec: baseline, profileSessionsPerSec: profiled, ratio, referenceSessionsPerSec: reference, compliantMs, selections }));
}

main()
  .catch((err: unknown) => {
    log(`bench:profiles failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
  })
  .finally(() => killAll());
