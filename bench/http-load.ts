/**
 * HTTP load generator for bench:pool, run as a child process (pinned to its own core) so that it does not
 * share a core with the server it measures.
 *
 *   node --import tsx bench/http-load.ts '<HttpLoadArgs as JSON>'
 *
 * `concurrency` workers, each with its own keep-alive connection and one request in flight at a time,
 * loop over their share of the devices listed in `devicesFile` (one id a line; worker w takes lines
 * w, w + concurrency, …): `PUT /v1/accounts/A/devices/D` (bind: a pooled device is confirmed), then
 * `DELETE` the same (unbind: back into the pool), then the next device. Device j of worker w is bound to
 * account `bss-w-(j mod accountsPerWorker)`, so each account holds only a few devices. Every request
 * counts as one operation. After `warmupMs`, `windows` measurement windows of `windowMs` follow; one
 * JSON line (WindowResult) is printed per window, then {"done": true} once every worker has finished its
 * last unbind (no device is left bound).
 *
 * Client `raw` (the default) writes pre-built HTTP/1.1 requests on net sockets and reads responses by
 * Content-Length: about 4× less CPU per request than node:http's client, so the generator outruns the
 * minimal server it is compared with. Client `node` uses node:http with a keep-alive Agent (a
 * cross-check that the raw client measures the same thing).
 */
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { procCpuMs, selfCpuMs, sleep } from './processes.js';

export interface HttpLoadArgs {
  readonly port: number;
  readonly token: string;
  /** The server's pid, to report its CPU use over each window. */
  readonly serverPid: number;
  readonly devicesFile: string;
  readonly concurrency: number;
  readonly accountsPerWorker: number;
  readonly warmupMs: number;
  readonly windows: number;
  readonly windowMs: number;
  readonly client: 'raw' | 'node';
}

export interface WindowResult {
  readonly name: string;
  /** Answered requests whose answer arrived in the window. */
  readonly ops: number;
  readonly binds: number;
  readonly unbinds: number;
  /** Answers other than 200 (and transport errors), in the window. */
  readonly errors: number;
  /** The first error seen, for the report. */
  readonly firstError: string | null;
  /** Successful operations per second. */
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** CPU use over the window, in % of one core. */
  readonly generatorCpu: number;
  readonly serverCpu: number | null;
}

type Reply = { status: number; body: string };
type Send = (method: 'PUT' | 'DELETE', path: string) => Promise<Reply>;

const REQUEST_TIMEOUT_MS = 10_000;
const HIST_BUCKET_US = 10;
const HIST_BUCKETS = 1_000_000; // 10 µs buckets up to 10 s

/** One keep-alive connection with one request in flight; responses are read by Content-Length. */
class RawConnection {
  #socket: Socket | undefined;
  #buf: Buffer = Buffer.alloc(0);
  #pending: { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;

  constructor(
    private readonly port: number,
    private readonly headers: string,
  ) {}

  async #open(): Promise<Socket> {
    const socket = connect({ port: this.port, host: '127.0.0.1', noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    const fail = (err: Error) => {
      if (this.#socket === socket) this.#socket = undefined;
      this.#settle(undefined, err);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed by the server')));
    this.#buf = Buffer.alloc(0);
    return (this.#socket = socket);
  }

  async send(method: string, path: string): Promise<Reply> {
    const socket = this.#socket ?? (await this.#open());
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        this.#settle(undefined, new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.#pending = { resolve, reject, timer };
      socket.write(`${method} ${path} HTTP/1.1\r\n${this.headers}\r\n`);
    });
  }

  #settle(reply: Reply | undefined, err?: Error): void {
    const p = this.#pending;
    if (!p) return;
    this.#pending = undefined;
    clearTimeout(p.timer);
    if (reply) p.resolve(reply);
    else p.reject(err ?? new Error('no answer'));
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const headEnd = this.#buf.indexOf('\r\n\r\n');
    if (headEnd < 0) return;
    const head = this.#buf.toString('latin1', 0, headEnd);
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!m) {
      this.#socket?.destroy();
      return this.#settle(undefined, new Error(`answer without Content-Length: ${head.slice(0, 200)}`));
    }
    const end = headEnd + 4 + Number(m[1]);
    if (this.#buf.length < end) return;
    const status = Number(head.slice(9, 12));
    const body = this.#buf.toString('utf8', headEnd + 4, end);
    this.#buf = this.#buf.subarray(end);
    this.#settle({ status, body });
  }

  close(): void {
    this.#socket?.destroy();
  }
}

function nodeClient(port: number, token: string, concurrency: number): { send: Send; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const send: Send = (method, path) =>
    new Promise<Reply>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method, path, agent, headers: { authorization: `Bearer ${token}` }, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.on('error', reject);
      req.end();
    });
  return { send, close: () => agent.destroy() };
}

/** User + kernel CPU of a process so far, in ms, or null if it is gone. */
const cpuTotal = (pid: number): number | null => {
  const c = procCpuMs(pid);
  return c && c.user + c.sys;
};

class Window {
  readonly hist = new Uint32Array(HIST_BUCKETS + 1);
  ops = 0;
  binds = 0;
  unbinds = 0;
  errors = 0;
  firstError: string | null = null;
  readonly t0 = performance.now();
  readonly self0 = selfCpuMs();
  constructor(
    readonly name: string,
    private readonly serverPid: number,
    readonly server0 = cpuTotal(serverPid),
  ) {}

  record(method: string, ms: number, error: string | null): void {
    if (error !== null) {
      this.errors++;
      this.firstError ??= error;
      return;
    }
    this.ops++;
    if (method === 'PUT') this.binds++;
    else this.unbinds++;
    this.hist[Math.min(HIST_BUCKETS, Math.floor((ms * 1000) / HIST_BUCKET_US))]!++;
  }

  result(): WindowResult {
    const ms = performance.now() - this.t0;
    const server1 = cpuTotal(this.serverPid);
    const pct = (p: number) => {
      const rank = Math.max(1, Math.ceil(p * this.ops));
      let seen = 0;
      for (let b = 0; b <= HIST_BUCKETS; b++) {
        seen += this.hist[b]!;
        if (seen >= rank) return ((b + 0.5) * HIST_BUCKET_US) / 1000;
      }
      return NaN;
    };
    let maxB = 0;
    for (let b = HIST_BUCKETS; b > 0 && maxB === 0; b--) if (this.hist[b]! > 0) maxB = b;
    return {
      name: this.name,
      ops: this.ops,
      binds: this.binds,
      unbinds: this.unbinds,
      errors: this.errors,
      firstError: this.firstError,
      opsPerSec: Math.round((this.ops * 1000) / ms),
      p50Ms: pct(0.5),
      p99Ms: pct(0.99),
      maxMs: ((maxB + 1) * HIST_BUCKET_US) / 1000,
      generatorCpu: Math.round(((selfCpuMs() - this.self0) * 100) / ms),
      serverCpu: this.server0 === null || server1 === null ? null : Math.round(((server1 - this.server0) * 100) / ms),
    };
  }
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as HttpLoadArgs;
  const devices = readFileSync(args.devicesFile, 'utf8').split('\n').filter(Boolean);
  if (devices.length < args.concurrency) throw new Error(`need at least ${args.concurrency} devices, got ${devices.length}`);
  // A hard stop, whatever happens: every loop below is also bounded by `stopping`.
  const budgetMs = args.warmupMs + args.windows * args.windowMs + 60_000;
  setTimeout(() => {
    process.stderr.write(`http-load: still running after ${budgetMs} ms; giving up\n`);
    process.exit(2);
  }, budgetMs).unref();

  const raws: RawConnection[] = [];
  const node = args.client === 'node' ? nodeClient(args.port, args.token, args.concurrency) : undefined;
  const headers = `Host: 127.0.0.1:${args.port}\r\nAuthorization: Bearer ${args.token}\r\n`;
  let window: Window | undefined;
  let stopping = false;

  const worker = async (w: number) => {
    const mine = devices.filter((_, i) => i % args.concurrency === w);
    let send: Send;
    if (node) send = node.send;
    else {
      const conn = new RawConnection(args.port, headers);
      raws.push(conn);
      send = (method, path) => conn.send(method, path);
    }
    const call = async (method: 'PUT' | 'DELETE', path: string) => {
      const t0 = performance.now();
      let error: string | null = null;
      try {
        const r = await send(method, path);
        if (r.status !== 200) error = `${method} ${path}: ${r.status} ${r.body.slice(0, 200)}`;
      } catch (err) {
        error = `${method} ${path}: ${(err as Error).message}`;
      }
      window?.record(method, performance.now() - t0, error);
    };
    for (let j = 0; !stopping; j++) {
      const device = mine[j % mine.length]!;
      const path = `/v1/accounts/bss-${w}-${j % args.accountsPerWorker}/devices/${encodeURIComponent(device)}`;
      await call('PUT', path);
      // Always unbind what was bound, even when stopping, so no device is left bound.
      await call('DELETE', path);
    }
  };

  const running = Promise.all(Array.from({ length: args.concurrency }, (_, w) => worker(w)));
  await sleep(args.warmupMs);
  for (let k = 1; k <= args.windows; k++) {
    window = new Window(`#${k}`, args.serverPid);
    await sleep(args.windowMs);
    const result = window.result();
    window = undefined;
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  stopping = true;
  await running;
  for (const c of raws) c.close();
  node?.close();
  process.stdout.write(`${JSON.stringify({ done: true })}\n`);
}

await main();
