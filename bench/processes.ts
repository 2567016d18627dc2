/**
 * What the benchmarks share: child processes pinned to cores (and never outliving the benchmark),
 * a scratch directory removed at exit, and readings from /proc.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
