/**
 * A measurement window of the load generators (bench/http-load.ts, bench/cwmp-load.ts): a latency
 * histogram of the operations that succeeded in it (10 µs buckets up to 10 s), the errors, and the CPU
 * use of the generator and of the server over the window.
 */
import { performance } from 'node:perf_hooks';
import { procCpuMs, selfCpuMs } from './processes.js';

const HIST_BUCKET_US = 10;
const HIST_BUCKETS = 1_000_000; // 10 µs buckets up to 10 s

/** User + kernel CPU of a process so far, in ms, or null if it is gone. */
const cpuTotal = (pid: number): number | null => {
  const c = procCpuMs(pid);
  return c && c.user + c.sys;
};

/** What every window reports, whatever its operations are. */
export interface LatencyFigures {
  readonly name: string;
  /** Failed operations (unexpected answers, transport errors) in the window. */
  readonly errors: number;
  /** The first error seen, for the report. */
  readonly firstError: string | null;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** CPU use over the window, in % of one core. */
  readonly generatorCpu: number;
  readonly serverCpu: number | null;
}

/** LatencyFigures in the order the generators print them, with the successful operations and their rate. */
export interface WindowFigures extends LatencyFigures {
  /** Successful operations in the window. */
  readonly ok: number;
  /** Successful operations per second. */
  readonly perSec: number;
}

export class LatencyWindow {
  readonly #hist = new Uint32Array(HIST_BUCKETS + 1);
  ok = 0;
  errors = 0;
  firstError: string | null = null;
  readonly #t0 = performance.now();
  readonly #self0 = selfCpuMs();
  readonly #server0: number | null;

  constructor(
    readonly name: string,
    private readonly serverPid: number,
  ) {
    this.#server0 = cpuTotal(serverPid);
  }

  /** Counts one operation that took `ms`, failed with `error` unless null; true when it succeeded. */
  record(ms: number, error: string | null): boolean {
    if (error !== null) {
      this.errors++;
      this.firstError ??= error;
      return false;
    }
    this.ok++;
    this.#hist[Math.min(HIST_BUCKETS, Math.floor((ms * 1000) / HIST_BUCKET_US))]!++;
    return true;
  }

  /** The figures from the start of the window until now. */
  figures(): WindowFigures {
    const ms = performance.now() - this.#t0;
    const server1 = cpuTotal(this.serverPid);
    const hist = this.#hist;
    const pct = (p: number) => {
      const rank = Math.max(1, Math.ceil(p * this.ok));
      let seen = 0;
      for (let b = 0; b <= HIST_BUCKETS; b++) {
        seen += hist[b]!;
        if (seen >= rank) return ((b + 0.5) * HIST_BUCKET_US) / 1000;
      }
      return NaN;
    };
    let maxB = 0;
    for (let b = HIST_BUCKETS; b > 0 && maxB === 0; b--) if (hist[b]! > 0) maxB = b;
    const server0 = this.#server0;
    return {
      name: this.name,
      ok: this.ok,
      errors: this.errors,
      firstError: this.firstError,
      perSec: Math.round((this.ok * 1000) / ms),
      p50Ms: pct(0.5),
      p99Ms: pct(0.99),
      maxMs: ((maxB + 1) * HIST_BUCKET_US) / 1000,
      generatorCpu: Math.round(((selfCpuMs() - this.#self0) * 100) / ms),
      serverCpu: server0 === null || server1 === null ? null : Math.round(((server1 - server0) * 100) / ms),
    };
  }
}
