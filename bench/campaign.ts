/**
 * bench:campaign — a firmware campaign over simulated STBs, in one run:
 *
 *   npm run bench:campaign [-- --quick]        (10,000 STBs; --quick: 1,000)
 *
 * bin/stbd pinned to core 0; the simulator (bench/sim-process.ts, stbsim's real Download: every box fetches
 * the image with its own URL and reboots into it) and the load generators on core 1. stbd's threads other
 * than the event loop (V8's compiler and garbage-collector helpers, the libuv pool) run on core 1 too, as on
 * a machine with more than one core for stbd: on the event loop's core they take turns with it, and a
 * keepalive waits for their time slice (BENCH_STBD_THREADS=core0 keeps them there, for that figure).
 *   1. keepalive p99 idle: a probe device (bench/keepalive-probe.ts, at nice -20 where it may) sends
 *      signed keepalives every 20 ms while the fleet idles, 20 s (--quick: 10 s) before the campaign and as
 *      long after it, pooled: about 2,000 round trips, so that the p99 is not one of a few unlucky ones;
 *   2. the campaign: a 4 MiB image added through POST /v1/files, `--where "id LIKE 'bench-*'"` at
 *      concurrency 500, one wave; until every box is verified on the new version: devices upgraded per
 *      minute, stbd CPU per upgraded device, keepalive p99 meanwhile;
 *   3. file serving: bench/file-load.ts against stbd's file server (device URLs) and against a minimal Node
 *      static file server in the same run.
 * Targets: file serving ≥ 0.8× the minimal server; keepalive p99 during the campaign ≤ 2× idle.
 * Every box comes from 127.0.0.1, so the CWMP limits per source address are lifted (they would pace the
 * fleet as one home); a box starts its fetch 10 s after the Download and reboots 5 s after it.
 * Prints the figures, failed devices by reason, then one JSON line with everything. BENCH_STBD_NODE_ARGS
 * passes Node flags to the daemon (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"); BENCH_CAMPAIGN_SIZE the
 * image's size in bytes; BENCH_PROBE_TRACE=FILE writes every probe round trip with a timestamp on the
 * clock of a --cpu-prof profile, to line slow keepalives up with what stbd was doing.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { simDeviceCsv } from '../src/sim/credentials.js';
import { firmwareImage } from '../src/sim/firmware-image.js';
import { spawnDaemon, writeTestConfig } from '../test/helpers/daemon.js';
import { fileLoad, minimalFileServing } from './file-serving.js';
import type { ProbeArgs } from './keepalive-probe.js';
import { figuresOf, type ProbeWindow, probeWindowOf } from './probe-window.js';
import { daemonOnCore0, HELPER_THREADS, helperThreadsOnCore, nodeScript, onCore, PINNED, procCpuMs, rssBytes, scratchDir, sleep, start } from './processes.js';
import type { SimArgs, SimStatus } from './sim-process.js';

const QUICK = process.argv.includes('--quick');
const DEVICES = QUICK ? 1_000 : 10_000;
const CONCURRENCY = 500;
const SIZE = Number(process.env["BENCH_CAMPAIGN_SIZE"] ?? 4 * 1024 ** 2);
const SECRET = 'bench-campaign';
const PROBE = 'probe-0001';
const IDLE_MS = QUICK ? 10_000 : 20_000;
const FILE_CLIENTS = 50;
const FILE_MS = QUICK ? 3_000 : 10_000;
const TARGETS = { fileRatio: 0.8, keepaliveP99Ratio: 2 };
const BOX = { downloadDelayMs: 10_000, rebootDelayMs: 5_000 };

const dir = scratchDir('stbd-bench-campaign-');
const imagePath = join(dir, 'fw.bin');
writeFileSync(imagePath, firmwareImage('2.0.0', SIZE));

const config = writeTestConfig(dir, {
  // info: the bench waits for the "stbd started" line.
  log: { level: 'info' },
  api: { body_timeout: '5m' },
  campaigns: { tick: '1s' },
  stun: { offline_after: '1h' },
  // Every box of the fleet comes from 127.0.0.1 here: the limits per source address would pace 1,000 real
  // homes' sessions as if they were one (the campaign would measure [cwmp] challenges_per_second).
  cwmp: { challenges_per_second: 0, auth_failures_per_minute: 0, max_connections_per_source: 100_000 },
});
const daemon = await spawnDaemon(config, daemonOnCore0());
const pid = daemon.proc.pid!;
if (HELPER_THREADS === 'core1') helperThreadsOnCore(pid, 1);
const token = readFileSync(join(dir, 'api.token'), 'utf8').trim();
async function api(method: string, path: string, body?: { type: string; data: string | Buffer } | object): Promise<any> {
  const raw = body !== undefined && 'data' in body ? (body as { type: string; data: string | Buffer }) : undefined;
  const res = await fetch(`${daemon.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': raw ? raw.type : 'application/json' }) },
    ...(body === undefined ? {} : { body: raw ? raw.data : JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}
const cpuMs = () => {
  const c = procCpuMs(pid);
  return c ? c.user + c.sys : 0;
};

// The fleet and the probe.
await api('POST', '/v1/devices/import', { type: 'text/csv', data: simDeviceCsv({ prefix: 'bench-', start: 1, count: DEVICES, secret: SECRET }) });
await api('POST', '/v1/devices/import', { type: 'text/csv', data: simDeviceCsv({ prefix: 'probe-', start: 1, count: 1, secret: SECRET }) });
const simArgs: SimArgs = {
  count: DEVICES,
  prefix: 'bench-',
  secret: SECRET,
  acsUrl: `http://127.0.0.1:${daemon.cwmpPort}/`,
  stun: { host: '127.0.0.1', port: daemon.stunPort },
  keepaliveIntervalS: 20,
  informIntervalS: 86_400,
  groups: Math.ceil(DEVICES / 500),
  staggerMs: 50,
  statusMs: 1000,
  // A box takes its time as real ones do (if far less than their minutes): it starts fetching 10 s after the
  // Download and reboots 5 s after the image is in. Instant boxes only measure how fast stbd is overrun.
  options: { downloadDelayMs: BOX.downloadDelayMs, rebootDelayMs: BOX.rebootDelayMs },
};
const sim = start(onCore(1, [...nodeScript('sim-process.ts'), JSON.stringify(simArgs)]));
let simStatus: SimStatus | undefined;
createInterface({ input: sim.stdout! }).on('line', (l) => {
  if (l.startsWith('{')) simStatus = JSON.parse(l) as SimStatus;
});
while ((simStatus?.bound ?? 0) < DEVICES) await sleep(200);

// The probe on core 1 at the highest priority (nice -20, where root may), so the simulator's load does not
// delay it. Not a real-time class: Node's threads of one FIFO process on one core can starve each other.
const FIRST = spawnSync('nice', ['-n', '-20', 'true']).status === 0;
const probeArgs: ProbeArgs = { port: daemon.stunPort, secret: SECRET, device: PROBE };
const probe = start(onCore(1, [...(FIRST ? ['nice', '-n', '-20'] : []), ...nodeScript('keepalive-probe.ts'), JSON.stringify(probeArgs)]));
const probeLines = createInterface({ input: probe.stdout! })[Symbol.asyncIterator]();
const probeWindow = async (): Promise<ProbeWindow> => {
  probe.stdin!.write('\n');
  return JSON.parse((await probeLines.next()).value as string) as ProbeWindow;
};
await sleep(1000);
await probeWindow();
await sleep(IDLE_MS);
const idleBefore = await probeWindow();

// The campaign.
const rssBefore = rssBytes(pid);
const file = await api('POST', '/v1/files?type=firmware&version=2.0.0', { type: 'application/octet-stream', data: readFileSync(imagePath) });
const cpu0 = cpuMs();
const t0 = performance.now();
await api('POST', '/v1/campaigns', { name: 'bench', where: "id LIKE 'bench-*'", firmware: file.id, concurrency: CONCURRENCY, stopFailureRate: '100%', start: true });
let show: any;
let maxInProgress = 0;
for (;;) {
  show = await api('GET', '/v1/campaigns/bench');
  maxInProgress = Math.max(maxInProgress, show.counts['in-progress']);
  if (show.state !== 'running') break;
  await sleep(500);
}
const campaignMs = performance.now() - t0;
const campaignCpuMs = cpuMs() - cpu0;
const rssAfter = rssBytes(pid);
const during = await probeWindow();
// The fleet idles again (every box on its new version): the second half of the idle baseline.
await sleep(IDLE_MS);
const idleAfter = await probeWindow();
probe.stdin!.end();
const idle = probeWindowOf([...idleBefore.roundTripsMs, ...idleAfter.roundTripsMs]);
const upgraded = show.counts.succeeded as number;

// File serving, stbd against the minimal server.
const urls: string[] = [];
for (let i = 1; i <= FILE_CLIENTS; i++) urls.push((await api('GET', `/v1/files/${file.id}/url?device=bench-${String(i).padStart(4, '0')}`)).url);
sim.stdin!.end();
await once(sim, 'exit');
const stbdFiles = await fileLoad(urls, FILE_CLIENTS, FILE_MS);
await daemon.stop();
const baselineFiles = await minimalFileServing(imagePath, FILE_CLIENTS, FILE_MS, HELPER_THREADS);

const fileRatio = stbdFiles.mibPerSec / baselineFiles.mibPerSec;
const p99Ratio = during.p99Ms / idle.p99Ms;
const perMinute = upgraded / (campaignMs / 60_000);
/** Failed devices by reason (numbers in a reason folded), most frequent first: a failure is a finding, not noise. */
function failureReasons(failures: { reason: string }[]): string[] {
  const by = new Map<string, number>();
  for (const f of failures) {
    const r = f.reason.replace(/\d{5,}/g, 'N');
    by.set(r, (by.get(r) ?? 0) + 1);
  }
  return [...by].sort((a, b) => b[1] - a[1]).map(([r, n]) => `  failed ${String(n).padStart(5)}: ${r}`);
}
const mib = (bytes: number) => (bytes / 1024 ** 2).toFixed(0);
const line = (what: string, value: string, target: string, pass?: boolean) => `${what.padEnd(48)} ${value.padStart(16)}  ${target.padEnd(12)} ${pass === undefined ? '' : pass ? 'PASS' : 'MISS'}`;
process.stdout.write(
  [
    `bench:campaign — ${DEVICES.toLocaleString('en')} simulated STBs (fetch ${BOX.downloadDelayMs / 1000} s after the Download, reboot ${BOX.rebootDelayMs / 1000} s after it), a ${SIZE / 1024 ** 2} MiB image, concurrency ${CONCURRENCY}${PINNED ? `; stbd on core 0 (its helper threads on core ${HELPER_THREADS === 'core1' ? '1' : '0'}), simulator and load on core 1` : ' (not pinned: taskset missing)'}`,
    `command: ${HELPER_THREADS === 'core0' ? 'BENCH_STBD_THREADS=core0 ' : ''}npm run bench:campaign${QUICK ? ' -- --quick' : ''}`,
    '',
    line('campaign', `${show.state}, ${(campaignMs / 1000).toFixed(1)} s`, ''),
    line('  devices upgraded (verified on 2.0.0)', `${upgraded} of ${show.total}`, ''),
    line('  devices upgraded per minute', perMinute.toFixed(0), ''),
    line('  stbd CPU per upgraded device', `${(campaignCpuMs / Math.max(1, upgraded)).toFixed(2)} ms`, ''),
    line('  stbd RSS before / after', `${mib(rssBefore)} / ${mib(rssAfter)} MiB`, ''),
    line('  most devices in progress at once', String(maxInProgress), `<= ${CONCURRENCY}`, maxInProgress <= CONCURRENCY),
    line('keepalive p99 idle / during the campaign', `${idle.p99Ms} / ${during.p99Ms} ms`, `<= ${TARGETS.keepaliveP99Ratio}x`, p99Ratio <= TARGETS.keepaliveP99Ratio),
    line('file serving, stbd / minimal Node server', `${stbdFiles.mibPerSec.toFixed(0)} / ${baselineFiles.mibPerSec.toFixed(0)} MiB/s`, `>= ${TARGETS.fileRatio}x`, fileRatio >= TARGETS.fileRatio),
    `  ratios: keepalive p99 ${p99Ratio.toFixed(2)}x, file serving ${fileRatio.toFixed(2)}x; probe samples idle ${idle.samples} (p99 before / after the campaign ${idleBefore.p99Ms} / ${idleAfter.p99Ms} ms), during ${during.samples}; failed ${show.counts.failed}`,
    ...failureReasons(show.failures as { reason: string }[]),
    JSON.stringify({ bench: 'campaign', devices: DEVICES, concurrency: CONCURRENCY, sizeBytes: SIZE, pinned: PINNED, helperThreads: HELPER_THREADS, campaign: { ms: Math.round(campaignMs), cpuMs: campaignCpuMs, rssBefore, rssAfter, upgraded, perMinute, maxInProgress, counts: show.counts, state: show.state }, keepalive: { idle: figuresOf(idle), idleBefore: figuresOf(idleBefore), idleAfter: figuresOf(idleAfter), during: figuresOf(during), ratio: p99Ratio }, files: { stbd: stbdFiles, baseline: baselineFiles, ratio: fileRatio } }),
  ].join('\n') + '\n',
);
process.exit(0);
