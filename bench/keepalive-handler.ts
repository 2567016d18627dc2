/**
 * bench:keepalive-handler — CPU per datagram of the keepalive handler alone (decode, lookup, HMAC, presence,
 * answer), in process: no sockets, so the figure is thread CPU time and barely moves with machine load.
 *
 *   npm run bench:keepalive-handler [-- --quick]
 *
 * BENCH_DEVICES=N registered devices (default 100,000), 20,000 of them sending, each from its own source.
 * The baseline in the same invocation: the same handler answering anonymous Binding Requests (what a plain
 * STUN server does). Prints µs per request (the least of 5 runs) and ratios to the baseline.
 */
import { randomBytes } from 'node:crypto';
import { DeviceTable } from '../src/keepalive/device-table.js';
import { KeepaliveHandler } from '../src/keepalive/keepalive-handler.js';
import { Presence } from '../src/keepalive/presence.js';
import { ReplayMemory } from '../src/keepalive/replay-memory.js';
import { encode, MAGIC_COOKIE, MessageType } from '../src/stun/index.js';
import { cpeRequest } from '../test/helpers/cpe.js';

const QUICK = process.argv.includes('--quick');
const DEVICES = Number(process.env.BENCH_DEVICES ?? 100_000);
const POOL = Math.min(DEVICES, 20_000);
const ROUNDS = QUICK ? 4 : 10;
const RUNS = 5;
if (!Number.isInteger(DEVICES) || DEVICES < 1) throw new Error(`BENCH_DEVICES must be a positive integer, got ${process.env.BENCH_DEVICES}`);

const table = new DeviceTable(DEVICES);
const presence = new Presence(300_000, { online() {}, offline() {}, bindingChanged() {} });
const replays = new ReplayMemory();
presence.ensureCapacity(DEVICES);
replays.ensureCapacity(DEVICES);
const pool: { username: string; password: string }[] = [];
const random = randomBytes(18 * DEVICES);
for (let i = 0; i < DEVICES; i++) {
  const username = `00259E-BenchSTB-${String(i + 1).padStart(8, '0')}`;
  const password = random.toString('base64url', 18 * i, 18 * i + 18);
  table.add({ id: username, stunUsername: username, stunPassword: password });
  if (i % Math.floor(DEVICES / POOL) === 0 && pool.length < POOL) pool.push({ username, password });
}
const unlimited = { peek: () => true, take: () => true };
const handler = new KeepaliveHandler(
  { devices: table, presence, replays, challenges: unlimited, failures: unlimited },
  { integrity: 'binding', reauthAfterMs: 3_600_000, answerAnonymous: true, decoyKey: randomBytes(20) },
);
const from = pool.map((_, i) => ({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 10_000 + (i % 50_000), family: 'IPv4' as const }));
let seq = 0;
/** Distinct transaction ids (a signed one is believed once). */
const tid = (cookie: boolean) => {
  const t = Buffer.alloc(16);
  if (cookie) t.writeUInt32BE(MAGIC_COOKIE, 0);
  t.writeUInt32BE(++seq, 8);
  t.writeUInt32BE((seq * 2654435761) >>> 0, 12);
  return t;
};
const signed = () => pool.map((c) => cpeRequest({ dialect: 'rfc5389', username: c.username, connectionRequestBinding: true, integrity: { password: c.password, variant: 'rfc5389' }, transactionId: tid(true) }));
const trusted = pool.map((c) => cpeRequest({ dialect: 'rfc3489', username: c.username, transactionId: tid(false) }));
const anonymous = pool.map(() => encode({ type: MessageType.BindingRequest, transactionId: tid(true), attributes: [] }));
const now = Date.now();

/** µs of CPU per request over ROUNDS passes through `datagrams(round)`, each answered as `want`. */
function cpuPerRequest(datagrams: (round: number) => readonly Buffer[], want: string): number {
  const t0 = process.cpuUsage();
  for (let r = 0; r < ROUNDS; r++) {
    const batch = datagrams(r);
    for (let i = 0; i < POOL; i++) {
      const outcome = handler.handle(batch[i]!, from[i]!, now).outcome;
      if (outcome !== want) throw new Error(`expected ${want}, got ${outcome}`);
    }
  }
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / (ROUNDS * POOL);
}

const best = { anonymous: Infinity, authenticated: Infinity, trusted: Infinity };
for (let run = 0; run < RUNS; run++) {
  best.anonymous = Math.min(best.anonymous, cpuPerRequest(() => anonymous, 'anonymous'));
  const batches = Array.from({ length: ROUNDS }, signed);
  best.authenticated = Math.min(best.authenticated, cpuPerRequest((r) => batches[r]!, 'answered'));
  best.trusted = Math.min(best.trusted, cpuPerRequest(() => trusted, 'answered'));
}
const line = (name: string, us: number) => `  ${name.padEnd(15)} ${us.toFixed(2).padStart(6)} µs/request  ${(best.anonymous / us).toFixed(2)}× the anonymous rate`;
console.log(`bench:keepalive-handler: ${DEVICES.toLocaleString('en')} devices, ${POOL.toLocaleString('en')} sending; least CPU of ${RUNS} runs`);
console.log(`  ${'anonymous'.padEnd(15)} ${best.anonymous.toFixed(2).padStart(6)} µs/request  (baseline)`);
console.log(line('authenticated', best.authenticated));
console.log(line('trusted', best.trusted));
console.log(JSON.stringify({ devices: DEVICES, senders: POOL, usPerRequest: best }));
