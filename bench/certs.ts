/**
 * bench:certs — the certificate proxy of the real daemon: issuance per second, key fetches per second, and
 * STUN keepalive latency while certificates are being issued (signing must not stall the event loop).
 *
 *   npm run bench:certs [-- --quick]
 *
 * --quick: 1,000 devices and shorter windows. BENCH_DEVICES=N sets the registered devices (default 10,000),
 * BENCH_ISSUE_CONCURRENCY the issuing API clients (default 4), BENCH_STBD_NODE_ARGS passes Node flags to
 * the daemon (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 *
 * One invocation runs, all on 127.0.0.1, with every server pinned to core 0 and every load generator to
 * core 1:
 *   1. the issuance floor (bench/cert-baseline.ts): RSA-2048 key pair + node-forge certificate in a plain
 *      loop on one thread, no daemon;
 *   2. bin/stbd (its signing pool then has one worker: the process may use one core; its log goes to a
 *      file) with N devices imported through the API (CSV); certificates issued through
 *      `POST /v1/certificates` by concurrent clients (bench/cert-issuer.ts, on core 1 at nice 19; every
 *      device at most one, `media-ID`);
 *   3. key fetches (`POST /v1/certificate` on the STB endpoint, fresh proofs, keep-alive TLS,
 *      bench/tls-fetch-load.ts) for the devices that have a certificate, first against a minimal node:https
 *      server doing the same cryptography (bench/minimal-https.ts: the ceiling), then against stbd;
 *   4. STUN keepalives (bench/load-generator.ts) at a fixed rate from every device (authenticated once,
 *      then trusted-binding keepalives): latency with nothing else going on, then while the clients of
 *      step 2 issue certificates as fast as stbd signs them, then idle again (the target compares the p99
 *      while issuing with the mean of the two idle p99s);
 * and prints the figures against the targets, then one JSON line with everything.
 *
 * RSA-2048 key generation dominates issuance (OpenSSL: 50–600 ms a key on this kind of machine, about
 * 200 ms on average), so on one core a run issues a few hundred certificates, not N: the latency window
 * covers as many as stbd can sign in it. The report says how many, and how long N would take.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { buildCertificate, newKeyPairSync, newSerial } from '../src/ca/x509.js';
import { unwrapKey } from '../src/certs/key-wrap.js';
import { MAGIC_COOKIE } from '../src/stun/index.js';
import { TestStb } from '../test/helpers/certs.js';
import { cpeRequest } from '../test/helpers/cpe.js';
import { ROOT, STBD, writeTestConfig } from '../test/helpers/daemon.js';
import type { BaselineResult } from './cert-baseline.js';
import type { IssuerArgs, IssuerLine } from './cert-issuer.js';
import type { GeneratorArgs, Phase, PhaseResult } from './load-generator.js';
import { killAll, nodeScript, onCore, PINNED, procCpuMs, scratchDir, sleep, start, stop } from './processes.js';
import type { FetchLoadArgs, FetchWindow } from './tls-fetch-load.js';

const QUICK = process.argv.includes('--quick');
const DEVICES = Number(process.env.BENCH_DEVICES ?? (QUICK ? 1_000 : 10_000));
const ISSUE_CONCURRENCY = Number(process.env.BENCH_ISSUE_CONCURRENCY ?? 4);
const ISSUE_MS = QUICK ? 8_000 : 20_000;
const FETCH_CONNECTIONS = 16;
const FETCH_WARMUP_MS = 1_000;
const FETCH_MS = QUICK ? 3_000 : 5_000;
const RATE = 10_000;
const SOCKETS = 16;
const IDLE_MS = QUICK ? 5_000 : 10_000;
const DURING_WARMUP_MS = 2_000;
const DURING_MS = QUICK ? 10_000 : 30_000;
const IDLE_AFTER_WARMUP_MS = 3_000;
const LATENCY_FACTOR = 2;
const BINDING_SUCCESS = 0x0101;

if (!Number.isInteger(DEVICES) || DEVICES < 600) throw new Error(`BENCH_DEVICES must be an integer >= 600, got ${process.env.BENCH_DEVICES}`);
if (!Number.isInteger(ISSUE_CONCURRENCY) || ISSUE_CONCURRENCY < 1 || ISSUE_CONCURRENCY > 256) throw new Error(`BENCH_ISSUE_CONCURRENCY must be 1..256, got ${process.env.BENCH_ISSUE_CONCURRENCY}`);

const dir = scratchDir('stbd-bench-certs-');
const log = (s: string) => process.stderr.write(`${s}\n`);

// ---- child processes ----

const json = (line: string): Record<string, unknown> | undefined => {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};

/** Every stdout line of `proc` to `onLine` (the pipe is always drained); rejects `done` if it exits first. */
function follow(proc: ChildProcess, what: string): { stderr(): string; on(fn: (line: string) => void): void; exited: Promise<never> } {
  let stderr = '';
  const listeners: ((line: string) => void)[] = [];
  proc.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    for (const fn of listeners) fn(line);
  });
  const exited = new Promise<never>((_, reject) => proc.once('exit', (code, signal) => reject(new Error(`${what} exited (${code ?? signal}): ${stderr}`))));
  exited.catch(() => {});
  return { stderr: () => stderr, on: (fn) => listeners.push(fn), exited };
}

/** The first stdout line for which `pick` returns a value. */
function firstLine<T>(f: ReturnType<typeof follow>, what: string, timeoutMs: number, pick: (line: string) => T | undefined): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const found = new Promise<T>((resolve) => {
    let done = false;
    f.on((line) => {
      if (done) return;
      const v = pick(line);
      if (v !== undefined) {
        done = true;
        resolve(v);
      }
    });
  });
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing after ${timeoutMs} ms: ${f.stderr()}`)), timeoutMs)));
  return Promise.race([found, f.exited, timeout]).finally(() => clearTimeout(timer));
}

interface Stbd {
  readonly proc: ChildProcess;
  readonly api: string;
  readonly stunPort: number;
  readonly certsPort: number;
  /** Its log lines at warn or above, read from its log file at the end, for the report. */
  problems(): string[];
}

/**
 * bin/stbd on core 0, its log (stdout, stderr) going to a file, not to a pipe: a pipe write wakes the
 * reading process on the writer's core (a synchronous wake-up), so this benchmark's own process would run on
 * the daemon's core at every log line and show up in the daemon's latency.
 */
async function startStbd(config: string): Promise<Stbd> {
  const nodeArgs = (process.env.BENCH_STBD_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const logFile = join(dir, 'stbd.log');
  const fd = openSync(logFile, 'a');
  const argv = onCore(0, [process.execPath, ...nodeArgs, STBD, '--config', config]);
  const env = { ...process.env };
  for (const k of ['NODE_OPTIONS', 'STBD_API', 'STBD_TOKEN']) delete env[k];
  const proc = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  process.once('exit', () => proc.kill('SIGKILL'));
  const lines = () => readFileSync(logFile, 'utf8').split('\n');
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`stbd exited (${proc.exitCode ?? proc.signalCode}): ${lines().slice(-5).join('\n')}`);
    if (Date.now() > deadline) throw new Error(`stbd: no "stbd started" within 60 s: ${lines().slice(-5).join('\n')}`);
    for (const l of lines()) {
      const e = json(l) as { msg?: string; api?: string; certs?: string; stun?: { v4?: { port: number } } } | undefined;
      if (e?.msg === 'stbd started' && e.api && e.certs && e.stun?.v4) {
        const problems = () => lines().filter((x) => Number(json(x)?.level) >= 40).map((x) => x.slice(0, 300));
        return { proc, api: e.api, stunPort: e.stun.v4.port, certsPort: Number(e.certs.split(':').at(-1)), problems };
      }
    }
    await sleep(100);
  }
}

/** stbd's Prometheus samples (a scrape also resets the event-loop delay histogram behind the lag gauges). */
async function scrape(api: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${api}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const sp = line.lastIndexOf(' ');
    if (line && !line.startsWith('#') && sp > 0) samples.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return samples;
}
const loopLag = (m: Map<string, number>) => ({ p99Ms: (m.get('stbd_nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000, maxMs: (m.get('stbd_nodejs_eventloop_lag_max_seconds') ?? NaN) * 1000 });

/**
 * CPU time so far (ms) of stbd's threads in three groups: the main thread (the event loop), the signing
 * workers (the threads running below the default priority: they renice themselves), and the rest (V8's
 * platform threads: GC and compilation helpers; libuv's pool).
 */
function threadCpu(pid: number): { main: number; signing: number; other: number } {
  const out = { main: 0, signing: 0, other: 0 };
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      let stat: string;
      try {
        stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      } catch {
        continue; // the thread ended
      }
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ms = (Number(f[11]) + Number(f[12])) * 10;
      if (Number(tid) === pid) out.main += ms;
      else if (Number(f[16]) > 0) out.signing += ms;
      else out.other += ms;
    }
  } catch {
    // the process is gone
  }
  return out;
}
const threadDelta = (a: ReturnType<typeof threadCpu>, b: ReturnType<typeof threadCpu>) => ({ main: b.main - a.main, signing: b.signing - a.signing, other: b.other - a.other });

const cpuOf = (pid: number) => {
  const c = procCpuMs(pid);
  return c ? c.user + c.sys : NaN;
};

// ---- devices ----

interface Device {
  readonly id: string;
  readonly stunPassword: string;
  readonly cwmpPassword: string;
}
const devices: Device[] = Array.from({ length: DEVICES }, (_, i) => ({
  id: `00259E-CertSTB-${String(i + 1).padStart(7, '0')}`,
  stunPassword: randomBytes(18).toString('base64url'),
  cwmpPassword: randomBytes(18).toString('base64url'),
}));
const certIdOf = (d: Device) => `media-${d.id}`;
const devicesFile = join(dir, 'devices.txt');
writeFileSync(devicesFile, `${devices.map((d) => d.id).join('\n')}\n`);

async function importDevices(api: string, token: string): Promise<number> {
  const csv = `id,stun_password,cwmp_password\n${devices.map((d) => `${d.id},${d.stunPassword},${d.cwmpPassword}`).join('\n')}\n`;
  const t0 = performance.now();
  const res = await fetch(`http://${api}/v1/devices/import`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv' }, body: csv });
  if (res.status !== 201) throw new Error(`import: ${res.status} ${await res.text()}`);
  return performance.now() - t0;
}

// ---- issuance through the API (bench/cert-issuer.ts) ----

interface Issuance {
  /** Completion times (Unix ms) and latencies of the certificates issued. */
  readonly done: { at: number; ms: number }[];
  readonly errors: string[];
  /** Devices with a certificate. */
  readonly issued: Set<string>;
}

/**
 * Starts the issuing clients (a child on core 1, at the lowest priority) from device `cursor.next` on, with
 * `concurrency` requests in flight. `stop()` lets the requests in flight finish and moves the cursor.
 */
function issue(api: string, token: string, cursor: { next: number }, concurrency: number, into: Issuance): { stop(): Promise<void> } {
  const args: IssuerArgs = { api, token, devicesFile, from: cursor.next, concurrency };
  const proc = start(onCore(1, [...nodeScript('cert-issuer.ts'), JSON.stringify(args)]));
  const f = follow(proc, 'cert-issuer');
  f.on((l) => {
    const line = json(l) as IssuerLine | undefined;
    if (!line) return;
    if ('done' in line) cursor.next = line.next;
    else if (line.ok) {
      into.done.push({ at: line.at, ms: line.ms });
      into.issued.add(line.device);
    } else into.errors.push(`${line.device}: ${line.error}`);
  });
  const finished = firstLine(f, 'cert-issuer', 24 * 3_600_000, (l) => (json(l)?.done === true ? true : undefined));
  return {
    async stop() {
      proc.stdin!.write('stop\n');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('cert-issuer did not stop')), 120_000)));
      await Promise.race([finished, late]).finally(() => clearTimeout(timer));
    },
  };
}

const inWindow = (i: Issuance, from: number, to: number) => i.done.filter((x) => x.at >= from && x.at < to);
const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
};

// ---- key fetches ----

async function fetchLoad(port: number, serverPid: number, stbsFile: string): Promise<FetchWindow> {
  const args: FetchLoadArgs = { port, serverPid, stbsFile, connections: FETCH_CONNECTIONS, warmupMs: FETCH_WARMUP_MS, windows: 2, windowMs: FETCH_MS };
  const proc = start(onCore(1, [...nodeScript('tls-fetch-load.ts'), JSON.stringify(args)]));
  const f = follow(proc, 'tls-fetch-load');
  const windows: FetchWindow[] = [];
  f.on((line) => {
    const w = json(line) as FetchWindow | undefined;
    if (w && typeof w.perSec === 'number') {
      windows.push(w);
      log(`    ${w.name}: ${w.perSec.toLocaleString('en')} fetches/s, p99 ${w.p99Ms.toFixed(2)} ms, errors ${w.errors}${w.firstError ? ` (${w.firstError})` : ''}, server CPU ${w.serverCpu}%, generator ${w.generatorCpu}%`);
    }
  });
  await firstLine(f, 'tls-fetch-load', FETCH_WARMUP_MS + 2 * FETCH_MS + 60_000, (l) => (json(l)?.done === true ? true : undefined));
  // The machine is shared and noisy: the better window counts.
  return windows.reduce((a, b) => (b.perSec > a.perSec ? b : a));
}

// ---- keepalive datagrams (as bench:keepalive builds them) ----

/** A transaction id carrying the pool index in its last 4 bytes (the generator matches responses by it). */
function transactionId(i: number, dialect: 'rfc3489' | 'rfc5389'): Buffer {
  const tid = randomBytes(16);
  if (dialect === 'rfc5389') tid.writeUInt32BE(MAGIC_COOKIE, 0);
  tid.writeUInt32BE(i, 12);
  return tid;
}

function writePool(file: string, datagrams: readonly Buffer[]): string {
  const parts: Buffer[] = [];
  for (const d of datagrams) parts.push(Buffer.from([d.length >> 8, d.length & 255]), d);
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

// ---- the run ----

try {
  const t00 = performance.now();
  log(`bench:certs: ${DEVICES.toLocaleString('en')} devices${PINNED ? '' : ' (taskset missing: processes NOT pinned)'}; temp dir ${dir}`);

  // 1. The floor: the same signing work in a plain loop, on the core stbd gets.
  log(`  issuance floor: key pair + node-forge certificate in a loop, ${ISSUE_MS / 1000} s`);
  const baselineProc = start(onCore(0, [...nodeScript('cert-baseline.ts'), String(ISSUE_MS)]));
  const baseline = await firstLine(follow(baselineProc, 'cert-baseline'), 'cert-baseline', ISSUE_MS + 60_000, (l) => {
    const r = json(l) as BaselineResult | undefined;
    return r && typeof r.perSec === 'number' ? r : undefined;
  });
  log(`    ${baseline.issued} certificates, ${baseline.perSec.toFixed(2)}/s (key pair ${baseline.keygenMs.toFixed(0)} ms + signing ${baseline.signMs.toFixed(1)} ms each)`);

  // 2. stbd, the devices, issuance alone.
  log('  stbd');
  // The key-fetch load asks for the same few hundred STBs' keys as fast as it can: lift their allowance.
  const config = writeTestConfig(dir, { log: { level: 'info' }, certs: { device_requests_per_minute: 60_000, device_request_burst: 10_000 } });
  const stbd = await startStbd(config);
  const token = readFileSync(join(dir, 'api.token'), 'utf8').trim();
  const importMs = await importDevices(stbd.api, token);
  log(`    ${DEVICES.toLocaleString('en')} devices imported in ${(importMs / 1000).toFixed(2)} s`);

  const cursor = { next: 0 };
  const alone: Issuance = { done: [], errors: [], issued: new Set() };
  // Warm-up: the first two, one after the other (the worker is running already: it made the endpoint's certificate).
  const warm = issue(stbd.api, token, cursor, 1, alone);
  while (alone.done.length + alone.errors.length < 2) await sleep(50);
  await warm.stop();
  log(`  issuance through the API, ${ISSUE_CONCURRENCY} clients, ${ISSUE_MS / 1000} s`);
  const cpu0 = cpuOf(stbd.proc.pid!);
  const threads0 = threadCpu(stbd.proc.pid!);
  await scrape(stbd.api); // resets the event-loop delay histogram
  const a0 = Date.now();
  const issuing = issue(stbd.api, token, cursor, ISSUE_CONCURRENCY, alone);
  await sleep(ISSUE_MS);
  const a1 = Date.now();
  const cpu1 = cpuOf(stbd.proc.pid!);
  const aloneThreads = threadDelta(threads0, threadCpu(stbd.proc.pid!));
  const aloneLag = loopLag(await scrape(stbd.api));
  await issuing.stop();
  const aloneDone = inWindow(alone, a0, a1);
  const issuedPerSec = (aloneDone.length * 1000) / (a1 - a0);
  const stbdCpuPerCert = (cpu1 - cpu0) / Math.max(1, aloneDone.length);
  log(`    ${aloneDone.length} certificates in the window, ${issuedPerSec.toFixed(2)}/s, API p50 ${percentile(aloneDone.map((x) => x.ms), 0.5).toFixed(0)} ms; errors ${alone.errors.length}${alone.errors[0] ? ` (${alone.errors[0]})` : ''}`);

  // 3. Key fetches, for the devices that have a certificate.
  const withCert = devices.filter((d) => alone.issued.has(d.id));
  if (withCert.length === 0) throw new Error(`no certificate issued: ${alone.errors[0] ?? ''} ${stbd.problems().join('\n')}`);
  const stbsFile = join(dir, 'stbs.jsonl');
  writeFileSync(stbsFile, withCert.map((d) => JSON.stringify([d.id, d.cwmpPassword, certIdOf(d)])).join('\n') + '\n');
  // One fetch by hand first: the key unwraps and is the certificate's.
  const probe = withCert[0]!;
  const stb = new TestStb(stbd.certsPort, probe.id, probe.cwmpPassword, () => Date.now());
  const served = await stb.request(certIdOf(probe));
  if (served.status !== 200 || served.body?.status !== 'valid') throw new Error(`key fetch: ${served.status} ${served.text}`);
  const info = unwrapKey(probe.cwmpPassword, { stbId: probe.id, certId: certIdOf(probe), version: served.body.version, nonce: served.nonce }, served.body.key);
  if (!new X509Certificate(info.certificatePem).checkPrivateKey(createPrivateKey(info.privateKeyPem))) throw new Error('the fetched key is not the certificate’s');
  writeFileSync(join(dir, 'payload.json'), JSON.stringify(info));
  const serverKeys = newKeyPairSync();
  const now = new Date();
  writeFileSync(join(dir, 'minimal.crt'), buildCertificate({ commonName: 'minimal', publicKeyPem: serverKeys.publicKeyPem, serial: newSerial(), notBefore: now, notAfter: new Date(now.getTime() + 86_400_000), isCa: false, server: { dnsNames: ['localhost'], ips: ['127.0.0.1'] } }, { privateKeyPem: serverKeys.privateKeyPem }));
  writeFileSync(join(dir, 'minimal.key'), serverKeys.privateKeyPem);

  log(`  key fetches, ${FETCH_CONNECTIONS} keep-alive TLS connections over ${withCert.length} STBs: minimal node:https server`);
  const minimal = start(onCore(0, [...nodeScript('minimal-https.ts'), join(dir, 'minimal.crt'), join(dir, 'minimal.key'), stbsFile, join(dir, 'payload.json')]));
  const minimalPort = await firstLine(follow(minimal, 'minimal-https'), 'minimal-https', 20_000, (l) => json(l)?.port as number | undefined);
  const fetchMinimal = await fetchLoad(minimalPort, minimal.pid!, stbsFile);
  await stop(minimal);
  log('  key fetches: stbd');
  const fetchStbd = await fetchLoad(stbd.certsPort, stbd.proc.pid!, stbsFile);

  // 4. Keepalive latency, idle and while issuing.
  log(`  keepalives at ${RATE.toLocaleString('en')}/s from ${DEVICES.toLocaleString('en')} devices: ${IDLE_MS / 1000} s idle, then ${DURING_MS / 1000} s while ${ISSUE_CONCURRENCY} clients issue certificates`);
  const pools = {
    auth: writePool(join(dir, 'auth.pool'), devices.map((d, i) => cpeRequest({ dialect: 'rfc5389', username: d.id, connectionRequestBinding: true, integrity: { password: d.stunPassword, variant: 'rfc5389' }, transactionId: transactionId(i, 'rfc5389') }))),
    keepalive: writePool(join(dir, 'keepalive.pool'), devices.map((d, i) => cpeRequest({ dialect: 'rfc3489', username: d.id, transactionId: transactionId(i, 'rfc3489') }))),
  };
  const phases: Phase[] = [
    { name: 'prime', pool: 'auth', mode: 'once', window: 128, expectType: BINDING_SUCCESS },
    { name: 'idle', pool: 'keepalive', mode: 'rate', rate: RATE, warmupMs: 1_000, durationMs: IDLE_MS, expectType: BINDING_SUCCESS },
    { name: 'during', pool: 'keepalive', mode: 'rate', rate: RATE, warmupMs: DURING_WARMUP_MS, durationMs: DURING_MS, expectType: BINDING_SUCCESS },
    // Idle again once the last certificates in flight are done: idle p99 moves from run to run (CPU idle
    // states, the shared machine), so the target compares with the mean of the two idle windows.
    { name: 'idle-after', pool: 'keepalive', mode: 'rate', rate: RATE, warmupMs: IDLE_AFTER_WARMUP_MS, durationMs: IDLE_MS, expectType: BINDING_SUCCESS },
  ];
  const genArgs: GeneratorArgs = { port: stbd.stunPort, sockets: SOCKETS, serverPid: stbd.proc.pid!, pools, phases };
  const generator = start(onCore(1, [...nodeScript('load-generator.ts'), JSON.stringify(genArgs)]));
  const gen = follow(generator, 'load generator');
  const results = new Map<string, PhaseResult>();
  const during: Issuance = { done: [], errors: [], issued: new Set() };
  let issuingDuring: { stop(): Promise<void> } | undefined;
  let duringFrom = 0;
  let duringTo = 0;
  let duringLag: { p99Ms: number; maxMs: number } = { p99Ms: NaN, maxMs: NaN };
  let idleLag: { p99Ms: number; maxMs: number } = { p99Ms: NaN, maxMs: NaN };
  let lagAtStart: Promise<unknown> = Promise.resolve();
  const cpuDuring = { from: NaN, to: NaN };
  const threadsDuring = { from: threadCpu(stbd.proc.pid!), to: threadCpu(stbd.proc.pid!) };
  gen.on((line) => {
    const r = json(line) as PhaseResult | undefined;
    if (!r || typeof r.p99Ms !== 'number') return;
    results.set(r.name, r);
    log(`    ${r.name}: ${r.rps.toLocaleString('en')} req/s, loss ${(r.loss * 100).toFixed(3)}%, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, max ${r.maxMs} ms, stbd CPU ${r.serverCpu}%`);
    if (r.name === 'prime') lagAtStart = scrape(stbd.api); // resets the event-loop histogram for the idle run
    if (r.name === 'idle') {
      // The next phase has begun: issue through its warm-up and its window.
      void lagAtStart.then(() => scrape(stbd.api)).then((m) => (idleLag = loopLag(m)));
      duringFrom = Date.now() + DURING_WARMUP_MS;
      issuingDuring = issue(stbd.api, token, cursor, ISSUE_CONCURRENCY, during);
      setTimeout(() => {
        cpuDuring.from = cpuOf(stbd.proc.pid!);
        threadsDuring.from = threadCpu(stbd.proc.pid!);
        void scrape(stbd.api);
      }, DURING_WARMUP_MS);
    }
    if (r.name === 'during') {
      // The generator prints after draining the last answers (up to 300 ms past its window).
      duringTo = Date.now() - 300;
      cpuDuring.to = cpuOf(stbd.proc.pid!);
      threadsDuring.to = threadCpu(stbd.proc.pid!);
      void issuingDuring?.stop();
    }
  });
  await firstLine(gen, 'load generator', IDLE_MS + DURING_MS + DURING_WARMUP_MS + 120_000, (l) => (json(l)?.name === 'during' ? true : undefined));
  duringLag = loopLag(await scrape(stbd.api));
  await issuingDuring?.stop();
  await firstLine(gen, 'load generator', IDLE_AFTER_WARMUP_MS + IDLE_MS + 60_000, (l) => (json(l)?.name === 'idle-after' ? true : undefined));
  const duringDone = inWindow(during, duringFrom, duringTo);
  const duringPerSec = (duringDone.length * 1000) / (duringTo - duringFrom);
  const problems = stbd.problems();
  await stop(stbd.proc);

  // ---- report ----
  const idle = results.get('idle')!;
  const busy = results.get('during')!;
  const idleAfter = results.get('idle-after')!;
  const prime = results.get('prime')!;
  const idleP99 = (idle.p99Ms + idleAfter.p99Ms) / 2;
  const latencyRatio = busy.p99Ms / idleP99;
  const duringThreads = threadDelta(threadsDuring.from, threadsDuring.to);
  const issuedTotal = alone.issued.size + during.issued.size;
  const fix = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  const num = (x: number) => Math.round(x).toLocaleString('en');
  const row = (c: string[]) => `${c[0]!.padEnd(44)}${c[1]!.padStart(15)}${c[2]!.padStart(22)}${c[3]!.padStart(8)}   ${c[4]}`;
  const pass = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  const out = [
    '',
    `stbd certificate benchmark: ${num(DEVICES)} devices, ${PINNED ? 'servers on core 0 (stbd: 1 signing worker), generators on core 1' : 'NOT pinned (no taskset)'}`,
    row(['figure', 'stbd', 'baseline', 'ratio', 'target']),
    row([`issuance, API, ${ISSUE_CONCURRENCY} clients`, `${fix(issuedPerSec)}/s`, `${fix(baseline.perSec)}/s (raw loop)`, fix(issuedPerSec / baseline.perSec), '-']),
    row([`key fetches, ${FETCH_CONNECTIONS} TLS keep-alive conns`, `${num(fetchStbd.perSec)}/s`, `${num(fetchMinimal.perSec)}/s (minimal)`, fix(fetchStbd.perSec / fetchMinimal.perSec), '-']),
    row([`keepalive p99 at ${num(RATE)}/s, idle (before, after)`, `${fix(idleP99, 3)} ms`, `${fix(idle.p99Ms, 3)}, ${fix(idleAfter.p99Ms, 3)} ms`, '', '']),
    row([`keepalive p99 at ${num(RATE)}/s, while issuing`, `${fix(busy.p99Ms, 3)} ms`, `${fix(idleP99, 3)} ms (idle)`, fix(latencyRatio), `<= ${LATENCY_FACTOR} x idle ${pass(latencyRatio <= LATENCY_FACTOR)}`]),
    '',
    `issuance: ${aloneDone.length} certificates in ${fix((a1 - a0) / 1000, 1)} s (API p50 ${num(percentile(aloneDone.map((x) => x.ms), 0.5))} ms, p99 ${num(percentile(aloneDone.map((x) => x.ms), 0.99))} ms with ${ISSUE_CONCURRENCY} in flight); stbd CPU ${fix(stbdCpuPerCert, 0)} ms a certificate vs ${fix(baseline.cpuMsPerCert, 0)} ms raw (key pair ${fix(baseline.keygenMs, 0)} ms + forge signing ${fix(baseline.signMs, 1)} ms)`,
    `while issuing: ${duringDone.length} certificates in the ${fix((duringTo - duringFrom) / 1000, 1)} s latency window (${fix(duringPerSec)}/s), ${issuedTotal} in the run, errors ${alone.errors.length + during.errors.length}${alone.errors[0] ?? during.errors[0] ? ` (${alone.errors[0] ?? during.errors[0]})` : ''}; stbd CPU ${fix(((cpuDuring.to - cpuDuring.from) * 100) / (duringTo - duringFrom), 0)}% of its core`,
    `stbd threads, CPU ms a certificate issuing alone: event loop ${fix(aloneThreads.main / Math.max(1, aloneDone.length), 1)}, signing worker ${fix(aloneThreads.signing / Math.max(1, aloneDone.length), 0)}, other ${fix(aloneThreads.other / Math.max(1, aloneDone.length), 1)}; while issuing with keepalives, % of the core: event loop ${fix((duringThreads.main * 100) / (duringTo - duringFrom), 0)}, signing worker ${fix((duringThreads.signing * 100) / (duringTo - duringFrom), 0)}, other ${fix((duringThreads.other * 100) / (duringTo - duringFrom), 0)}`,
    `${num(DEVICES)} certificates at ${fix(issuedPerSec)}/s would take ${fix(DEVICES / issuedPerSec / 60, 1)} min on this core (RSA-2048 key generation is ${fix((baseline.keygenMs / baseline.cpuMsPerCert) * 100, 0)}% of the raw cost)`,
    `keepalives: prime ${num(prime.received)}/${num(DEVICES)} authenticated; idle loss ${fix(idle.loss * 100, 3)}% / ${fix(idleAfter.loss * 100, 3)}%, p50 ${fix(idle.p50Ms, 3)} ms, max ${fix(Math.max(idle.maxMs, idleAfter.maxMs), 1)} ms; while issuing loss ${fix(busy.loss * 100, 3)}%, p50 ${fix(busy.p50Ms, 3)} ms, max ${fix(busy.maxMs, 1)} ms`,
    `stbd event-loop delay (prom-client's monitor: a 10 ms timer, so 10 ms is no delay): idle p99 ${fix(idleLag.p99Ms, 1)} ms, max ${fix(idleLag.maxMs, 1)} ms; issuing alone p99 ${fix(aloneLag.p99Ms, 1)} ms, max ${fix(aloneLag.maxMs, 1)} ms; issuing with keepalives p99 ${fix(duringLag.p99Ms, 1)} ms, max ${fix(duringLag.maxMs, 1)} ms`,
    `key fetches: stbd p50 ${fix(fetchStbd.p50Ms)} ms, p99 ${fix(fetchStbd.p99Ms)} ms, CPU ${fetchStbd.serverCpu}% (generator ${fetchStbd.generatorCpu}%); minimal p50 ${fix(fetchMinimal.p50Ms)} ms, p99 ${fix(fetchMinimal.p99Ms)} ms, CPU ${fetchMinimal.serverCpu}% (generator ${fetchMinimal.generatorCpu}%); errors ${fetchStbd.errors + fetchMinimal.errors}`,
    `devices imported in ${fix(importMs / 1000)} s; whole run ${fix((performance.now() - t00) / 1000, 0)} s${problems.length ? `; stbd warnings: ${problems.length} (first: ${problems[0]})` : ''}`,
  ];
  console.log(out.join('\n'));
  console.log(
    JSON.stringify({
      devices: DEVICES,
      pinned: PINNED,
      issuance: { perSec: issuedPerSec, window: aloneDone.length, stbdCpuMsPerCert: stbdCpuPerCert, baseline, errors: alone.errors.length + during.errors.length },
      fetches: { stbd: fetchStbd, minimal: fetchMinimal },
      keepalive: { rate: RATE, idle, during: busy, idleAfter, idleP99, issuedInWindow: duringDone.length, issuedPerSec: duringPerSec, ratio: latencyRatio, pass: latencyRatio <= LATENCY_FACTOR },
      eventLoop: { idle: idleLag, issuing: aloneLag, issuingWithKeepalives: duringLag },
      threadCpuMs: { issuing: aloneThreads, issuingWithKeepalives: duringThreads },
    }),
  );
} finally {
  killAll();
}
