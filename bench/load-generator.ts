/**
 * UDP load generator for bench:keepalive, run as a child process (pinned to its own core) so that it
 * does not share a core with the server it measures.
 *
 *   node --import tsx bench/load-generator.ts '<GeneratorArgs as JSON>'
 *
 * Sends pre-built request datagrams from a pool file over `sockets` connected UDP
 * sockets; datagram i always leaves from socket i % sockets, so a device keeps its source port (stbd
 * trusts a binding per device, address and port). Bytes 16..20 of every datagram (the end of the
 * transaction id) hold its pool index, which the response echoes: responses are matched without a Map.
 * Prints one JSON line (PhaseResult) per phase.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { procCpuMs, selfCpuMs, sleep } from './processes.js';

export interface Phase {
  readonly name: string;
  readonly pool: string;
  /** max: closed loop, `window` requests outstanding. rate: open loop at `rate`/s. once: every datagram once (with retries). */
  readonly mode: 'max' | 'rate' | 'once';
  readonly window?: number;
  readonly rate?: number;
  readonly warmupMs?: number;
  readonly durationMs?: number;
  /** Expected response type (0x0101); other types count as errors. Omitted: any response is fine (echo). */
  readonly expectType?: number;
}

export interface GeneratorArgs {
  readonly port: number;
  /** The server's address (default 127.0.0.1; bench:cluster's nodes are on 127.0.0.N). */
  readonly host?: string;
  readonly sockets: number;
  /** The server's pid, to report its CPU use over the measured window. */
  readonly serverPid?: number;
  readonly pools: Record<string, string>;
  readonly phases: readonly Phase[];
}

export interface PhaseResult {
  readonly name: string;
  readonly sent: number;
  readonly received: number;
  readonly errors: number;
  readonly loss: number;
  /** Successful responses per second that arrived within the measured window. */
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** CPU use over the measured window, in % of one core (sys: the kernel part, mostly UDP send and receive). */
  readonly generatorCpu: number;
  readonly serverCpu: number | null;
  readonly serverSysCpu: number | null;
}

/** Pool file (written by keepalive.ts): u16 length + bytes, per datagram; index i is in bytes 16..20 of datagram i. */
function readPool(file: string): Buffer[] {
  const bytes = readFileSync(file);
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const len = bytes.readUInt16BE(at);
    out.push(bytes.subarray(at + 2, at + 2 + len));
    at += 2 + len;
  }
  return out;
}

/** Lets the event loop poll I/O, then continues (keeps the sending loop responsive to responses). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

const HIST_US = 1_000_000; // 1 µs buckets up to 1 s
const TIMEOUT_MS = 500; // an unanswered request older than this is lost
const DRAIN_MS = 300; // after the window: wait this long for the last responses

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as GeneratorArgs;
  const pools = new Map(Object.entries(args.pools).map(([name, file]) => [name, readPool(file)]));
  const sockets: Socket[] = [];
  let onResponse: (msg: Buffer) => void = () => {};
  for (let i = 0; i < args.sockets; i++) {
    const s = createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
    // Connected: sends skip address handling, and only the server's datagrams come in.
    await new Promise<void>((resolve) => s.connect(args.port, args.host ?? '127.0.0.1', () => resolve()));
    try {
      s.setRecvBufferSize(4 * 1024 * 1024);
    } catch {
      // capped by net.core.rmem_max
    }
    s.on('message', (msg) => onResponse(msg));
    // A connected socket reports ICMP port-unreachable as an error: the server is gone, nothing to measure.
    s.on('error', (err) => {
      process.stderr.write(`load generator: ${err.message}\n`);
      process.exit(1);
    });
    sockets.push(s);
  }

  for (const phase of args.phases) {
    const pool = pools.get(phase.pool);
    if (!pool || pool.length === 0) throw new Error(`no pool ${phase.pool}`);
    const n = pool.length;
    const sentAt = new Float64Array(n); // 0: not outstanding
    const hist = new Uint32Array(HIST_US + 1);
    let next = 0;
    let inFlight = 0;
    let measuring = false;
    let measureStart = Infinity;
    let measureEnd = Infinity;
    let sent = 0;
    let received = 0;
    let errors = 0;
    let okInWindow = 0;
    let stop = false;
    const answered = phase.mode === 'once' ? new Uint8Array(n) : undefined;
    let lastAnswer = performance.now();

    const send = (i: number) => {
      const now = performance.now();
      if (sentAt[i] !== 0) inFlight--; // its previous request was lost (counted as loss at the end)
      sentAt[i] = now;
      inFlight++;
      if (measuring) sent++;
      sockets[i % sockets.length]!.send(pool[i]!);
    };
    const sendNext = () => {
      send(next);
      next = next + 1 === n ? 0 : next + 1;
    };

    onResponse = (msg) => {
      if (msg.length < 20) return;
      const i = msg.readUInt32BE(16);
      const t0 = sentAt[i];
      if (t0 === undefined || t0 === 0) return; // stray, or a late answer to a request already given up
      const now = performance.now();
      sentAt[i] = 0;
      inFlight--;
      const ok = phase.expectType === undefined || msg.readUInt16BE(0) === phase.expectType;
      if (answered && ok) answered[i] = 1;
      lastAnswer = now;
      if (t0 >= measureStart && t0 < measureEnd) {
        received++;
        if (!ok) errors++;
        hist[Math.min(HIST_US, Math.round((now - t0) * 1000))]!++;
      }
      if (ok && now >= measureStart && now < measureEnd) okInWindow++;
      if (phase.mode === 'max' && !stop) sendNext();
    };

    // Gives up on requests unanswered for TIMEOUT_MS, so the closed loop keeps its window.
    const reap = () => {
      const old = performance.now() - TIMEOUT_MS;
      for (let i = 0; i < n; i++) {
        if (sentAt[i] !== 0 && sentAt[i]! < old) {
          sentAt[i] = 0;
          inFlight--;
        }
      }
    };

    const cpu0 = { self: 0, server: null as { user: number; sys: number } | null };
    const startWindow = () => {
      measuring = true;
      measureStart = performance.now();
      cpu0.self = selfCpuMs();
      cpu0.server = args.serverPid ? procCpuMs(args.serverPid) : null;
    };

    const t0 = performance.now();
    const warmupMs = phase.warmupMs ?? 0;
    const durationMs = phase.durationMs ?? 5000;
    if (warmupMs === 0) startWindow();

    if (phase.mode === 'once') {
      // Every datagram once, `window` at a time; then up to 3 retries of the unanswered.
      for (let round = 0; round < 4; round++) {
        for (let i = 0; i < n; i++) {
          if (answered![i]) continue;
          while (inFlight >= (phase.window ?? 128)) {
            await turn();
            // A large pool takes as long as the server needs; a server that stopped answering is given up on.
            if (performance.now() - Math.max(t0, lastAnswer) > 30_000) throw new Error('once: no answer for 30 s');
          }
          send(i);
        }
        const until = performance.now() + TIMEOUT_MS;
        while (inFlight > 0 && performance.now() < until) await turn();
        reap();
        if (answered!.every((a) => a === 1)) break;
      }
    } else if (phase.mode === 'max') {
      const timer = setInterval(() => {
        reap();
        while (inFlight < (phase.window ?? 128) && !stop) sendNext();
      }, 50);
      for (let k = 0; k < (phase.window ?? 128); k++) sendNext();
      await sleep(warmupMs);
      if (!measuring) startWindow();
      await sleep(durationMs);
      clearInterval(timer);
    } else {
      // Open loop: a spinning setImmediate loop paces sends to within a few µs (the core is ours).
      const rate = phase.rate ?? 10_000;
      const end = t0 + warmupMs + durationMs;
      let due = 0;
      for (let now = performance.now(); now < end; now = performance.now()) {
        if (!measuring && now - t0 >= warmupMs) startWindow();
        const target = Math.floor(((now - t0) * rate) / 1000);
        for (let k = 0; due < target && k < 64; k++, due++) sendNext();
        await turn();
      }
    }
    measureEnd = performance.now();
    const self = selfCpuMs() - cpu0.self;
    const server1 = args.serverPid ? procCpuMs(args.serverPid) : null;
    const server = cpu0.server && server1 ? { user: server1.user - cpu0.server.user, sys: server1.sys - cpu0.server.sys } : null;
    stop = true;
    // The last responses of the window, then forget what is still outstanding.
    const drainUntil = performance.now() + DRAIN_MS;
    while (inFlight > 0 && performance.now() < drainUntil) await turn();
    reap();

    const windowMs = measureEnd - measureStart;
    const pct = (p: number) => {
      const rank = Math.ceil(p * received);
      let seen = 0;
      for (let us = 0; us <= HIST_US; us++) {
        seen += hist[us]!;
        if (seen >= rank && seen > 0) return us / 1000;
      }
      return NaN;
    };
    let maxUs = 0;
    for (let us = HIST_US; us > 0 && maxUs === 0; us--) if (hist[us]! > 0) maxUs = us;
    const result: PhaseResult = {
      name: phase.name,
      sent: phase.mode === 'once' ? n : sent,
      received: phase.mode === 'once' ? answered!.reduce((a, b) => a + b, 0) : received,
      errors,
      loss: phase.mode === 'once' ? 1 - answered!.reduce((a, b) => a + b, 0) / n : sent === 0 ? 0 : (sent - received) / sent,
      rps: Math.round((okInWindow * 1000) / windowMs),
      p50Ms: pct(0.5),
      p99Ms: pct(0.99),
      maxMs: maxUs / 1000,
      generatorCpu: Math.round((self * 100) / windowMs),
      serverCpu: server && Math.round(((server.user + server.sys) * 100) / windowMs),
      serverSysCpu: server && Math.round((server.sys * 100) / windowMs),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  for (const s of sockets) s.close();
}

await main();
