/**
 * A latency probe of bench:campaign, in a process of its own: signed keepalives of one device every 20 ms,
 * round trips of the answers. It runs at the highest priority where it may (nice -20), so that what it
 * measures is stbd's answer time, not the probe waiting for a core the simulator keeps busy.
 *
 *   node --import tsx bench/keepalive-probe.ts '{"port":3478,"secret":"…","device":"probe-0001"}'
 *
 * Each line on stdin ends a window: it prints {"samples","p50Ms","p99Ms","maxMs","roundTripsMs"} of the round
 * trips since the last one (bench/probe-window.ts). It exits when stdin closes.
 */
import { createSocket } from 'node:dgram';
import { appendFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { credentialsOf } from '../src/sim/credentials.js';
import { MessageType } from '../src/stun/constants.js';
import { encode } from '../src/stun/encode.js';
import { probeWindowOf } from './probe-window.js';

export interface ProbeArgs {
  readonly port: number;
  readonly secret: string;
  readonly device: string;
}

const args = JSON.parse(process.argv[2]!) as ProbeArgs;
const c = credentialsOf(args.secret, args.device);
const socket = createSocket('udp4');
const sent = new Map<string, number>();
let samples: number[] = [];
socket.on('message', (m) => {
  const key = m.subarray(8, 20).toString('hex');
  const at = sent.get(key);
  if (at === undefined) return;
  sent.delete(key);
  samples.push(performance.now() - at);
  // BENCH_PROBE_TRACE=FILE: every round trip as "monotonic µs at its answer (the clock of a --cpu-prof profile's
  // timestamps), ms", to line slow ones up with a profile of stbd.
  if (trace !== undefined) appendFileSync(trace, `${process.hrtime.bigint() / 1000n} ${(performance.now() - at).toFixed(2)}\n`);
});
const trace = process.env['BENCH_PROBE_TRACE'];
socket.bind(0, '127.0.0.1');
let n = 0;
const timer = setInterval(() => {
  const id = Buffer.alloc(16);
  id.writeUInt32BE(n++, 12);
  const bytes = encode({ type: MessageType.BindingRequest, transactionId: id, attributes: [{ kind: 'USERNAME', value: c.stunUsername }], integrity: { key: c.stunPassword, variant: 'rfc3489' } });
  // Unanswered requests older than 10 s are lost, not pending.
  if (sent.size > 500) sent.clear();
  sent.set(bytes.subarray(8, 20).toString('hex'), performance.now());
  socket.send(bytes, args.port, '127.0.0.1');
}, 20);

const lines = createInterface({ input: process.stdin });
lines.on('line', () => {
  const w = probeWindowOf(samples.map((ms) => Number(ms.toFixed(3))));
  samples = [];
  process.stdout.write(`${JSON.stringify(w)}\n`);
});
lines.on('close', () => {
  clearInterval(timer);
  socket.close();
});
