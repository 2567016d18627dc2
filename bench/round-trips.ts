/**
 * Command round trips as stbctl sends them, for bench:management and bench:cluster: POST
 * /v1/devices/ID/tasks?wait=N with a getParameterValues of the simulator's DeviceInfo.SoftwareVersion, through
 * the admin API (a keep-alive node:http client), timed from request to answer; the task's own times split
 * each round trip. Also the admin API calls the benchmarks make besides (metrics, health).
 */
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { cpuOf, json, selfCpuMs } from './processes.js';

export const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One admin API request to host:port (default 127.0.0.1) with the bearer `token`; the body as text. */
export function api(port: number, token: string, method: string, path: string, body?: { type: string; data: string }, host = '127.0.0.1'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}` };
    if (body) {
      headers['content-type'] = body.type;
      headers['content-length'] = Buffer.byteLength(body.data);
    }
    const req = httpRequest({ host, port, method, path, headers, agent, timeout: 60_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 60 s`)));
    req.on('error', reject);
    req.end(body?.data);
  });
}

/** stbd's Prometheus metrics, sample (name with labels) to value. */
export async function scrape(port: number, host?: string): Promise<Map<string, number>> {
  const { text } = await api(port, '', 'GET', '/metrics', undefined, host);
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const sp = line.lastIndexOf(' ');
    if (line && !line.startsWith('#') && sp > 0) samples.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return samples;
}

export async function health(port: number, host?: string): Promise<{ registered: number; online: number } | undefined> {
  try {
    const r = await api(port, '', 'GET', '/health', undefined, host);
    return r.status === 200 ? (JSON.parse(r.text) as { devices: { registered: number; online: number } }).devices : undefined;
  } catch {
    return undefined;
  }
}

export interface Percentiles {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN;
export const percentiles = (xs: readonly number[]): Percentiles => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 0.5), p99: percentile(s, 0.99), max: s.at(-1) ?? NaN };
};

export interface RoundTrips {
  readonly name: string;
  readonly count: number;
  readonly concurrency: number;
  readonly ms: number;
  readonly perSec: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly notDone: number;
  readonly firstProblem: string | null;
  /** From the task's own times (ms resolution): queued → sent (the connection request and the device's
   * Inform), sent → finished (the GetParameterValues answered), and the rest (API, long-poll, HTTP). */
  readonly split: { readonly toSent: Percentiles; readonly toFinished: Percentiles; readonly rest: Percentiles };
  /** CPU use over the phase, in % of one core: stbd (every pid given), the simulator(s), this process (the API client). */
  readonly cpu: { readonly stbd: number; readonly sim: number; readonly client: number };
  /** The tasks' own queued → finished times (ms resolution): the round trip without the API's answer. */
  readonly task: Percentiles;
  /** Stopped by `budgetMs` before `total` commands. */
  readonly cutShort: boolean;
}

export interface RoundTripOptions {
  readonly name: string;
  readonly port: number;
  readonly host?: string;
  readonly token: string;
  readonly total: number;
  readonly concurrency: number;
  /** The devices to pick from, at random (never one already busy). */
  readonly devices: readonly string[];
  readonly pids: { readonly stbd: readonly number[]; readonly sim: readonly number[] };
  /** No new command after this long (the commands in flight finish). */
  readonly budgetMs?: number;
}

export const ROUND_TRIP_PARAMETER = 'InternetGatewayDevice.DeviceInfo.SoftwareVersion';
/** What the simulator answers for it. */
const EXPECTED_VALUE = '1.0.0';
export const ROUND_TRIP_WAIT_S = 10;

/** `total` commands, `concurrency` at a time, each for a random device not already busy. Every answer must be "done" with the value. */
export async function roundTrips(o: RoundTripOptions): Promise<RoundTrips> {
  const busy = new Set<number>();
  const latencies: number[] = [];
  const toSent: number[] = [];
  const toFinished: number[] = [];
  const rest: number[] = [];
  let notDone = 0;
  let firstProblem: string | null = null;
  let issued = 0;
  const body = JSON.stringify({ kind: 'getParameterValues', names: [ROUND_TRIP_PARAMETER] });
  const deadline = performance.now() + (o.budgetMs ?? Infinity);
  const worker = async () => {
    while (issued < o.total && performance.now() < deadline) {
      issued++;
      let i: number;
      do i = Math.floor(Math.random() * o.devices.length);
      while (busy.has(i));
      busy.add(i);
      const id = o.devices[i]!;
      const t0 = performance.now();
      let problem: string | null = null;
      try {
        const r = await api(o.port, o.token, 'POST', `/v1/devices/${encodeURIComponent(id)}/tasks?wait=${ROUND_TRIP_WAIT_S}`, { type: 'application/json', data: body }, o.host);
        const total = performance.now() - t0;
        const t = json(r.text) as { status?: string; createdAt?: string; sentAt?: string; finishedAt?: string; result?: { parameters?: { name: string; value: string }[] } } | undefined;
        const value = t?.result?.parameters?.find((p) => p.name === ROUND_TRIP_PARAMETER)?.value;
        if (r.status !== 201 || t?.status !== 'done' || value !== EXPECTED_VALUE) problem = `${id}: HTTP ${r.status} ${r.text.slice(0, 300)}`;
        else {
          const [c, s, f] = [t.createdAt, t.sentAt, t.finishedAt].map((x) => Date.parse(x ?? '')) as [number, number, number];
          toSent.push(s - c);
          toFinished.push(f - s);
          rest.push(total - (f - c));
        }
      } catch (err) {
        problem = `${id}: ${(err as Error).message}`;
      }
      latencies.push(performance.now() - t0);
      busy.delete(i);
      if (problem) {
        notDone++;
        firstProblem ??= problem;
      }
    }
  };
  const sum = (pids: readonly number[]) => pids.reduce((a, p) => a + cpuOf(p), 0);
  const cpu0 = { stbd: sum(o.pids.stbd), sim: sum(o.pids.sim), client: selfCpuMs() };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: o.concurrency }, () => worker()));
  const ms = performance.now() - t0;
  const pct = (x: number) => Math.round((x * 100) / ms);
  const cpu = { stbd: pct(sum(o.pids.stbd) - cpu0.stbd), sim: pct(sum(o.pids.sim) - cpu0.sim), client: pct(selfCpuMs() - cpu0.client) };
  const all = percentiles(latencies);
  const sorted = [...latencies].sort((a, b) => a - b);
  return { name: o.name, count: latencies.length, concurrency: o.concurrency, ms, perSec: (latencies.length * 1000) / ms, p50Ms: all.p50, p90Ms: percentile(sorted, 0.9), p99Ms: all.p99, maxMs: all.max, notDone, firstProblem, split: { toSent: percentiles(toSent), toFinished: percentiles(toFinished), rest: percentiles(rest) }, cpu, task: percentiles(toSent.map((x, i) => x + toFinished[i]!)), cutShort: latencies.length < o.total };
}

/** One line on a round-trip phase: latency, rate, and who spent how much CPU per command. */
export const describe = (r: RoundTrips): string => {
  const perCommand = (pct: number) => ((pct / 100) * r.ms) / r.count;
  return (
    `${r.name}: ${r.count} commands, p50 ${r.p50Ms.toFixed(1)} ms, p90 ${r.p90Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, max ${r.maxMs.toFixed(1)} ms, ` +
    `${Math.round(r.perSec)}/s, not done ${r.notDone}; p50/p99 queued->sent ${r.split.toSent.p50}/${r.split.toSent.p99} ms, sent->done ${r.split.toFinished.p50}/${r.split.toFinished.p99} ms, ` +
    `API and long-poll ${r.split.rest.p50.toFixed(1)}/${r.split.rest.p99.toFixed(1)} ms; CPU stbd ${r.cpu.stbd}% (${perCommand(r.cpu.stbd).toFixed(2)} ms/command), ` +
    `simulator ${r.cpu.sim}% (${perCommand(r.cpu.sim).toFixed(2)} ms), API client ${r.cpu.client}% (${perCommand(r.cpu.client).toFixed(2)} ms)`
  );
};
