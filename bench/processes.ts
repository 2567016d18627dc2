/**
 * What the benchmarks share: child processes pinned to cores (and never outliving the benchmark),
 * a scratch directory removed at exit, and readings from /proc.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { ROOT } from '../test/helpers/daemon.js';

export const PINNED = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/** argv prefixed with taskset when available; unpinned otherwise (the reports say which). */
export const onCore = (core: number, argv: string[]): string[] => (PINNED ? ['taskset', '-c', String(core), ...argv] : argv);

/**
 * The `wrap` of spawnDaemon for a daemon on core 0, with the Node flags of BENCH_STBD_NODE_ARGS (e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof" profiles it).
 */
export function daemonOnCore0(): { wrap: string[] } {
  const nodeArgs = (process.env['BENCH_STBD_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  return { wrap: [...(PINNED ? ['taskset', '-c', '0'] : []), ...(nodeArgs.length > 0 ? [process.execPath, ...nodeArgs] : [])] };
}

/**
 * Where a pinned server's threads other than its main one (the event loop) run: V8's compiler and
 * garbage-collector helpers, the libuv pool, workers. `core0` (BENCH_STBD_THREADS=core0): beside the event
 * loop, the whole process on one core; `core1` (the default): on the load's core, as on a machine that gives
 * the server more than one core, so they do not take turns with the event loop.
 */
export const HELPER_THREADS: 'core0' | 'core1' = process.env['BENCH_STBD_THREADS'] === 'core0' ? 'core0' : 'core1';

/**
 * Moves every thread of `pid` but its main one to `core`, now and each second after (the libuv pool starts
 * on first use). Returns what stops it. Nothing without taskset.
 */
export function helperThreadsOnCore(pid: number, core: number): () => void {
  if (!PINNED) return () => {};
  const moved = new Set<string>();
  const move = () => {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      return; // exited
    }
    for (const tid of tids) {
      if (tid === String(pid) || moved.has(tid)) continue;
      moved.add(tid);
      spawnSync('taskset', ['-p', '-c', String(core), tid], { stdio: 'ignore' });
    }
  };
  move();
  const timer = setInterval(move, 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/** The command line that runs a TypeScript file of bench/ with Node. */
export const nodeScript = (file: string): string[] => [process.execPath, '--import', 'tsx', join(ROOT, 'bench', file)];

const children = new Set<ChildProcess>();

/** Starts a child (test runners' loaders and STBD_* variables left out); it is killed when the benchmark exits. */
export function start(argv: string[]): ChildProcess {
  const env = { ...process.env };
  for (const k of ['NODE_OPTIONS', 'STBD_API', 'STBD_TOKEN']) delete env[k];
  const proc = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}

export function killAll(): void {
  for (const c of children) c.kill('SIGKILL');
}

/** A scratch directory, removed (with every child killed) when the process exits, Ctrl-C included. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.once('exit', () => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
  return dir;
}

export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? NaN) * 1024;
}

/** User and kernel CPU time of a process so far, in ms (10 ms resolution), or null if it is gone. */
export function procCpuMs(pid: number): { user: number; sys: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) * 10, sys: Number(fields[12]) * 10 };
  } catch {
    return null;
  }
}

export const selfCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A JSON line as an object, or undefined when it is not one (a child's other output). */
export const json = (line: string): Record<string, unknown> | undefined => {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};

/** Every stdout line of `proc` goes to the current listener; keeps the pipes drained. */
export function lines(proc: ChildProcess): { stderr(): string; on(listener: (line: string) => void): void } {
  let stderr = '';
  let listener: (line: string) => void = () => {};
  proc.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  createInterface({ input: proc.stdout! }).on('line', (l) => listener(l));
  return { stderr: () => stderr, on: (l) => (listener = l) };
}

/** Resolves when `test` returns a value for a stdout line; rejects on exit or timeout. */
export function waitForLine<T>(proc: ChildProcess, out: ReturnType<typeof lines>, what: string, timeoutMs: number, test: (line: string) => T | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => finish(undefined, new Error(`${what}: nothing after ${timeoutMs} ms: ${out.stderr()}`)), timeoutMs);
    const onExit = (code: number | null) => finish(undefined, new Error(`${what} exited with ${code}: ${out.stderr()}`));
    function finish(v: T | undefined, err?: Error) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      proc.off('exit', onExit);
      out.on(() => {});
      if (err) reject(err);
      else resolve(v as T);
    }
    proc.once('exit', onExit);
    out.on((line) => {
      const v = test(line);
      if (v !== undefined) finish(v);
    });
  });
}

/** SIGTERM, then SIGKILL after 15 s; resolves once the process is gone. */
export async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

export async function freeTcpPort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, host, resolve));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** User + kernel CPU of a process so far, in ms (NaN once it is gone). */
export const cpuOf = (pid: number): number => {
  const c = procCpuMs(pid);
  return c ? c.user + c.sys : NaN;
};

/** Busy time of each core so far (user, nice, system: what processes ran), in ms, from /proc/stat. */
function coreBusyMs(): number[] {
  const out: number[] = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^cpu(\d+) (\d+) (\d+) (\d+)/.exec(line);
    if (m) out[Number(m[1])] = (Number(m[2]) + Number(m[3]) + Number(m[4])) * 10;
  }
  return out;
}

/**
 * What ran on core `core` besides `pids` over a phase, in % of the core: the machine is shared, and a
 * phase in which something else took the server's core measures that, not stbd.
 */
export function otherLoad(core: number, pids: () => number[]): () => number {
  const t0 = performance.now();
  const busy0 = coreBusyMs()[core] ?? NaN;
  const ours0 = pids().reduce((a, p) => a + cpuOf(p), 0);
  return () => {
    const ms = performance.now() - t0;
    const busy = (coreBusyMs()[core] ?? NaN) - busy0;
    const ours = pids().reduce((a, p) => a + cpuOf(p), 0) - ours0;
    return Math.max(0, Math.round(((busy - ours) * 100) / ms));
  };
}
