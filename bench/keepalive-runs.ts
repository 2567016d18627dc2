/**
 * Running bench/load-generator.ts (STUN keepalive load from pre-built datagrams, on core 1) and bin/stbd for
 * it (on core 0), for bench:keepalive and bench:cluster.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { MAGIC_COOKIE } from '../src/stun/index.js';
import { STBD } from '../test/helpers/daemon.js';
import type { GeneratorArgs, Phase, PhaseResult } from './load-generator.js';
import { json, lines, nodeScript, onCore, start, waitForLine } from './processes.js';

export const BINDING_SUCCESS = 0x0101;
/** The generator's sockets: datagram i always leaves from socket i % SOCKETS. */
export const SOCKETS = 16;

/** A transaction id carrying the pool index in its last 4 bytes (the generator matches responses by it). */
export function transactionId(i: number, dialect: 'rfc3489' | 'rfc5389'): Buffer {
  const tid = randomBytes(16);
  if (dialect === 'rfc5389') tid.writeUInt32BE(MAGIC_COOKIE, 0);
  tid.writeUInt32BE(i, 12);
  return tid;
}

/** Writes a pool file for the generator (u16 length + bytes per datagram); returns its path. */
export function writePool(file: string, datagrams: readonly Buffer[]): string {
  const parts: Buffer[] = [];
  for (const d of datagrams) parts.push(Buffer.from([d.length >> 8, d.length & 255]), d);
  writeFileSync(file, Buffer.concat(parts));
  return file;
}

export interface Stbd {
  readonly proc: ChildProcess;
  readonly port: number;
  /** The admin API, host:port (serves /metrics). */
  readonly api: string;
  readonly startupMs: number;
  /** With `untilOpened`: from spawn to "STUN passwords opened" (the background opening of the stored ones). */
  readonly openedMs?: number;
}

/**
 * bin/stbd on `core` (its config's [log] level must let "stbd started" through: info); start-up is from spawn to
 * that line. `untilOpened`: resolves only once the stored STUN passwords are open too (they open in the background
 * after start, seconds at a million, sharing the core with the keepalives meanwhile), so rates measured next are
 * the steady state. BENCH_STBD_NODE_ARGS passes Node flags (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 */
export async function startStbd(config: string, core = 0, timeoutMs = 120_000, extraNodeArgs: readonly string[] = [], untilOpened = false): Promise<Stbd> {
  const t0 = performance.now();
  const nodeArgs = [...(process.env['BENCH_STBD_NODE_ARGS'] ?? '').split(' ').filter(Boolean), ...extraNodeArgs];
  const proc = start(onCore(core, [process.execPath, ...nodeArgs, STBD, '--config', config]));
  const out = lines(proc);
  let started: { api: string; port: number; startupMs: number } | undefined;
  const ready = await waitForLine(proc, out, 'stbd', timeoutMs, (l) => {
    const e = json(l) as { msg?: string; api?: string; stun?: { v4?: { port: number } } } | undefined;
    if (e?.msg === 'stbd started' && e.api && e.stun?.v4) started = { api: e.api, port: e.stun.v4.port, startupMs: performance.now() - t0 };
    if (started && (!untilOpened || e?.msg === 'STUN passwords opened')) return { ...started, ...(untilOpened ? { openedMs: performance.now() - t0 } : {}) };
    return undefined;
  });
  return { proc, ...ready };
}

/** Runs the generator on core 1 against host:port (default 127.0.0.1) through `phases`; resolves with one result per phase. */
export async function generate(port: number, serverPid: number, pools: Record<string, string>, phases: Phase[], host?: string): Promise<Map<string, PhaseResult>> {
  const args: GeneratorArgs = { port, ...(host ? { host } : {}), sockets: SOCKETS, serverPid, pools, phases };
  const proc = start(onCore(1, [...nodeScript('load-generator.ts'), JSON.stringify(args)]));
  const budget = phases.reduce((ms, p) => ms + (p.warmupMs ?? 0) + (p.durationMs ?? 0) + 5_000, 30_000);
  const results = new Map<string, PhaseResult>();
  // A 'once' phase over a large pool takes as long as the server needs: the generator itself gives up when nothing moves.
  const onceBudget = phases.some((p) => p.mode === 'once') ? 30 * 60_000 : 0;
  await waitForLine(proc, lines(proc), 'load generator', budget + onceBudget, (line) => {
    const r = json(line) as PhaseResult | undefined;
    if (!r) return undefined;
    results.set(r.name, r);
    process.stderr.write(`  ${r.name}: ${r.rps.toLocaleString('en')} req/s, loss ${(r.loss * 100).toFixed(3)}%, p99 ${r.p99Ms} ms\n`);
    return results.size === phases.length ? true : undefined;
  });
  return results;
}

/** Throughput runs are repeated (`#1`, `#2`) and the best kept: the machine is shared and noisy. */
export const maxPhases = (name: string, pool: string, o: { window: number; warmupMs: number; durationMs: number }, expectType?: number): Phase[] =>
  [1, 2].map((k) => ({ name: `${name}#${k}`, pool, mode: 'max', window: o.window, warmupMs: k === 1 ? o.warmupMs : 0, durationMs: o.durationMs, ...(expectType ? { expectType } : {}) }));

/** The best of the repeated runs of `name` (or the single run of that name). */
export function best(results: Map<string, PhaseResult>, name: string): PhaseResult {
  const runs = [...results.values()].filter((r) => r.name === name || r.name.startsWith(`${name}#`));
  if (runs.length === 0) throw new Error(`no result for ${name}`);
  return runs.reduce((a, b) => (b.rps > a.rps ? b : a));
}

/** Server CPU time per answered request, in µs: a cost figure that noise on the other core does not move. */
export const usPerRequest = (r: PhaseResult): number => (r.serverCpu === null || r.rps === 0 ? NaN : (r.serverCpu * 1e4) / r.rps);
/** Which side ran out of CPU in a closed-loop run. */
export const boundBy = (r: PhaseResult): string => ((r.serverCpu ?? 0) >= 90 ? 'server' : r.generatorCpu >= 90 ? 'generator' : 'neither (noise?)');
