/**
 * The simulated STBs of bench:management, in a process of their own (pinned to the generator's core):
 * `count` devices of the STB simulator (src/sim), with STUN pre-provisioned to the daemon (each keeps a
 * binding with keepalives every `keepaliveIntervalS`), no boot Inform (sessions only on connection
 * requests) and periodic Informs far away. Devices are started in `groups` simulators, `staggerMs`
 * apart, so that their keepalives are spread over the period as a real population's are, instead of
 * every device sending in the same millisecond.
 *
 *   node --import tsx bench/sim-process.ts '<SimArgs as JSON>'
 *
 * Prints one JSON line (SimStatus) every `statusMs` and once all groups are started; exits when its stdin
 * closes (the benchmark that started it went away), after stopping every device.
 */
import { performance } from 'node:perf_hooks';
import { Simulator, type SimStats, type SimulatorOptions } from '../src/sim/index.js';
import { rssBytes, sleep } from './processes.js';

export interface SimArgs {
  readonly count: number;
  /** The first device's index (default 1): devices prefix + start … prefix + start + count - 1. */
  readonly start?: number;
  readonly prefix: string;
  readonly secret: string;
  readonly acsUrl: string;
  readonly stun: { readonly host: string; readonly port: number };
  readonly keepaliveIntervalS: number;
  readonly informIntervalS: number;
  readonly groups: number;
  readonly staggerMs: number;
  readonly statusMs: number;
  /** Further simulator options (bench:campaign: the download and reboot timings). */
  readonly options?: Partial<SimulatorOptions>;
}

export interface SimStatus {
  readonly atMs: number;
  /** Devices whose simulators have started (sockets bound, first keepalive sent). */
  readonly started: number;
  /** Devices that have had a STUN success response (a binding). */
  readonly bound: number;
  /** The stats of every simulator, summed. */
  readonly stats: Omit<SimStats, 'rpcs' | 'crRejected'> & { rpcs: Record<string, number>; crRejected: number };
  readonly startMs: number | null;
  readonly rss: number;
  /** Worst event-loop lag over the last status period, and since start; ticks late by more than 20 ms. */
  readonly eventLoopLagMs: number;
  readonly maxEventLoopLagMs: number;
  readonly lateTicks: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as SimArgs;
const t0 = performance.now();
const sims: Simulator[] = [];
const bound = new Set<string>();
let started = 0;
let startMs: number | null = null;
let lagMs = 0;
let maxLagMs = 0;
let lateTicks = 0;

const per = Math.ceil(args.count / args.groups);
for (let first = 0; first < args.count; first += per) {
  const sim = new Simulator({
    count: Math.min(per, args.count - first),
    start: (args.start ?? 1) + first,
    prefix: args.prefix,
    secret: args.secret,
    acsUrl: args.acsUrl,
    auth: 'digest',
    stun: args.stun,
    keepaliveIntervalS: args.keepaliveIntervalS,
    informIntervalS: args.informIntervalS,
    bootInform: false,
    bind: '127.0.0.1',
    ...args.options,
  });
  sim.on('stun-binding', (e) => bound.add(e.device));
  sims.push(sim);
}

function summed() {
  const out = { rpcs: {} as Record<string, number>, crRejected: 0 } as SimStatus['stats'];
  const o = out as unknown as Record<string, number>;
  for (const sim of sims) {
    for (const [k, v] of Object.entries(sim.stats)) {
      if (k === 'rpcs') for (const [m, n] of Object.entries(v as Record<string, number>)) out.rpcs[m] = (out.rpcs[m] ?? 0) + n;
      else if (k === 'crRejected') out.crRejected += Object.values(v as Record<string, number>).reduce((a, b) => a + b, 0);
      else o[k] = (o[k] ?? 0) + (v as number);
    }
  }
  return out;
}

const status = () => {
  const s: SimStatus = { atMs: Math.round(performance.now() - t0), started, bound: bound.size, stats: summed(), startMs, rss: rssBytes(process.pid), eventLoopLagMs: Math.round(lagMs), maxEventLoopLagMs: Math.round(maxLagMs), lateTicks };
  process.stdout.write(`${JSON.stringify(s)}\n`);
};

// Event-loop lag (checked every 100 ms): a loaded simulator answers late, which shows in latency.
let expected = performance.now() + 100;
setInterval(() => {
  const now = performance.now();
  const lag = now - expected;
  lagMs = Math.max(lagMs, lag);
  maxLagMs = Math.max(maxLagMs, lag);
  if (lag > 20) lateTicks++;
  expected = now + 100;
}, 100);
setInterval(() => {
  status();
  lagMs = 0;
}, args.statusMs);

let stopping = false;
process.stdin.on('end', () => {
  stopping = true;
  void Promise.all(sims.map((s) => s.stop())).finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 5_000).unref();
});
process.stdin.resume();

for (let g = 0; g < sims.length && !stopping; g++) {
  const due = t0 + g * args.staggerMs;
  const wait = due - performance.now();
  if (wait > 0) await sleep(wait);
  await sims[g]!.start();
  started += sims[g]!.options.count;
}
startMs = Math.round(performance.now() - t0);
status();
