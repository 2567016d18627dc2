/**
 * bench:hmac — HMAC-SHA1 for MESSAGE-INTEGRITY: stbd's HmacSha1 (src/stun/hmac-sha1.ts) against
 * node:crypto's createHmac, in one process, on the 84 bytes a keepalive hashes.
 *
 *   npm run bench:hmac [-- --quick] [--check N]
 *
 * Prints ns per HMAC and the ratio to createHmac for: createHmac; node:crypto Hash.copy() of keyed
 * inner/outer states kept per key; HmacSha1 with the key set for every message (another device each
 * time); HmacSha1 with the key already set; and per keepalive (verify + sign with one device's password).
 * Also the memory of keeping keyed Hash objects per device (the reason HmacSha1 keeps none).
 * --check N compares HmacSha1 with createHmac on N random keys and messages (millions take a minute).
 */
import { createHash, createHmac, type Hash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { HmacSha1 } from '../src/stun/hmac-sha1.js';
import { sameAsNodeCrypto } from '../test/helpers/hmac-check.js';

const QUICK = process.argv.includes('--quick');
const checkAt = process.argv.indexOf('--check');
const CHECK = checkAt > 0 ? Number(process.argv[checkAt + 1]) : QUICK ? 100_000 : 1_000_000;
if (!Number.isInteger(CHECK) || CHECK < 0) throw new Error(`--check needs a number of cases, got ${process.argv[checkAt + 1]}`);
const ITERATIONS = QUICK ? 100_000 : 500_000;
const ROUNDS = 3;
const KEYS = 1024;

const keys = Array.from({ length: KEYS }, () => randomBytes(18).toString('base64url')).map((k) => Buffer.from(k));
/** A signed TR-111 keepalive's hashed part (header, USERNAME, CONNECTION-REQUEST-BINDING): 84 bytes with a 24-byte username. */
const message = randomBytes(84);
const out = Buffer.alloc(20);

/** Keyed inner and outer SHA-1 states, as one would keep them per device with node:crypto. */
function keyedStates(key: Buffer): [Hash, Hash] {
  const block = Buffer.alloc(64);
  key.copy(block);
  const ipad = Buffer.from(block.map((b) => b ^ 0x36));
  const opad = Buffer.from(block.map((b) => b ^ 0x5c));
  return [createHash('sha1').update(ipad), createHash('sha1').update(opad)];
}
const states = keys.map(keyedStates);
const hmac = new HmacSha1();

const candidates: Record<string, (i: number) => void> = {
  'node:crypto createHmac': (i) => void createHmac('sha1', keys[i % KEYS]!).update(message).digest(),
  'node:crypto Hash.copy() of keyed states': (i) => {
    const [inner, outer] = states[i % KEYS]!;
    void outer.copy().update(inner.copy().update(message).digest()).digest();
  },
  'HmacSha1, key set per message': (i) => hmac.setKey(keys[i % KEYS]!).macInto(message, 84, -1, 0, out, 0),
  'HmacSha1, key already set': () => hmac.macInto(message, 84, -1, 0, out, 0),
};
const perKeepalive: Record<string, (i: number) => void> = {
  'createHmac x 2 (verify, sign)': (i) => {
    const key = keys[i % KEYS]!;
    void createHmac('sha1', key).update(message).digest();
    void createHmac('sha1', key).update(message).digest();
  },
  'HmacSha1 setKey + verify + sign': (i) => {
    hmac.setKey(keys[i % KEYS]!);
    hmac.matches(message, 84, -1, 0, out, 0);
    hmac.macInto(message, 84, -1, 0, out, 0);
  },
};

/** Best of ROUNDS, candidates interleaved round by round (the machine is shared). */
function time(set: Record<string, (i: number) => void>): Map<string, number> {
  const best = new Map<string, number>();
  for (let r = 0; r < ROUNDS; r++) {
    for (const [name, fn] of Object.entries(set)) {
      for (let i = 0; i < 10_000; i++) fn(i);
      const t0 = performance.now();
      for (let i = 0; i < ITERATIONS; i++) fn(i);
      const ns = ((performance.now() - t0) * 1e6) / ITERATIONS;
      best.set(name, Math.min(best.get(name) ?? Infinity, ns));
    }
  }
  return best;
}

function report(title: string, figures: Map<string, number>): void {
  const base = figures.values().next().value as number;
  console.log(title);
  for (const [name, ns] of figures) console.log(`  ${name.padEnd(42)} ${ns.toFixed(0).padStart(6)} ns  ${(base / ns).toFixed(2).padStart(5)} x the speed of the first`);
}

/** RSS per device of keeping keyed Hash objects for `n` devices. */
function hashObjectBytes(n: number): number {
  globalThis.gc?.();
  const before = process.memoryUsage().rss;
  const kept: [Hash, Hash][] = [];
  for (let i = 0; i < n; i++) kept.push(keyedStates(keys[i % KEYS]!));
  globalThis.gc?.();
  const bytes = (process.memoryUsage().rss - before) / n;
  kept.length = 0;
  return bytes;
}

console.log(`bench:hmac: Node ${process.version}, ${ITERATIONS.toLocaleString('en')} calls per candidate, best of ${ROUNDS}, ${KEYS} keys, 84-byte message`);
report('per HMAC-SHA1:', time(candidates));
report('per authenticated keepalive:', time(perKeepalive));
console.log(`memory: keyed node:crypto Hash objects (inner + outer) cost ${hashObjectBytes(QUICK ? 20_000 : 100_000).toFixed(0)} B RSS per device; HmacSha1 keeps nothing per device`);
const t0 = performance.now();
const mismatch = sameAsNodeCrypto(CHECK);
console.log(`check: ${CHECK.toLocaleString('en')} random keys and messages against createHmac in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${mismatch ?? 'all equal'}`);
if (mismatch) process.exitCode = 1;
