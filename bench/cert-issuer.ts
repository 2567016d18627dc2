/**
 * The issuing clients of bench:certs, run as a child process pinned to the generators' core at the lowest
 * priority: the benchmark's own work must not take the daemon's core, nor the load generator's time.
 *
 *   node --import tsx bench/cert-issuer.ts '<IssuerArgs as JSON>'
 *
 * `concurrency` clients issue one certificate per device through the admin API (`POST /v1/certificates`
 * `{device, id: "media-DEVICE"}`), devices from line `from` of `devicesFile` on, until a line "stop" on
 * stdin (or the end of the devices). One JSON line per answer: {"ok": true, "device", "at" (Unix ms),
 * "ms"} or {"ok": false, "device", "error"}; then {"done": true, "next"} (the first device not asked for).
 */
import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

export interface IssuerArgs {
  readonly api: string;
  readonly token: string;
  readonly devicesFile: string;
  readonly from: number;
  readonly concurrency: number;
}

export type IssuerLine = { ok: true; device: string; at: number; ms: number } | { ok: false; device: string; error: string } | { done: true; next: number };

const args = JSON.parse(process.argv[2] ?? '{}') as IssuerArgs;
try {
  setPriority(19);
} catch {
  // keeps the default priority
}
const devices = readFileSync(args.devicesFile, 'utf8').split('\n').filter(Boolean);
let next = args.from;
let stopped = false;
createInterface({ input: process.stdin }).on('line', (l) => {
  if (l.trim() === 'stop') stopped = true;
});
const say = (line: IssuerLine) => process.stdout.write(`${JSON.stringify(line)}\n`);

const client = async () => {
  while (!stopped && next < devices.length) {
    const device = devices[next++]!;
    const t0 = performance.now();
    try {
      const res = await fetch(`http://${args.api}/v1/certificates`, {
        method: 'POST',
        headers: { authorization: `Bearer ${args.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ device, id: `media-${device}` }),
        signal: AbortSignal.timeout(120_000),
      });
      const text = await res.text();
      if (res.status !== 201) throw new Error(`${res.status} ${text.slice(0, 200)}`);
      say({ ok: true, device, at: Date.now(), ms: performance.now() - t0 });
    } catch (err) {
      say({ ok: false, device, error: (err as Error).message });
    }
  }
};
await Promise.all(Array.from({ length: args.concurrency }, client));
say({ done: true, next });
process.exit(0);
