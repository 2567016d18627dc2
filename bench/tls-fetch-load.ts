/**
 * Key-fetch load generator for bench:certs, run as a child process pinned to its own core.
 *
 *   node --import tsx bench/tls-fetch-load.ts '<FetchLoadArgs as JSON>'
 *
 * `connections` keep-alive TLS connections, each with one request in flight at a time, loop over their
 * share of the STBs in `stbsFile` (one JSON array [stbId, secret, certId] a line; connection c takes lines
 * c, c + connections, …) sending `POST /v1/certificate` with a fresh proof each time (timestamp now, a new
 * random nonce, HMAC-SHA256 under the STB's secret, as an STB does). An answer counts when it is 200 with
 * status "valid" and a wrapped key. Requests are written and answers read (by Content-Length) on the TLS
 * socket directly: node:https's client would cost more CPU per request than the minimal server it is
 * compared with. After `warmupMs`, `windows` windows of `windowMs`: one JSON line (FetchWindow) each.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { connect, type TLSSocket } from 'node:tls';
import { stbMac } from '../src/certs/stb-auth.js';
import { procCpuMs, selfCpuMs, sleep } from './processes.js';

export interface FetchLoadArgs {
  readonly port: number;
  readonly serverPid: number;
  readonly stbsFile: string;
  readonly connections: number;
  readonly warmupMs: number;
  readonly windows: number;
  readonly windowMs: number;
}

export interface FetchWindow {
  readonly name: string;
  readonly fetches: number;
  readonly errors: number;
  readonly firstError: string | null;
  readonly perSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU use over the window, in % of one core. */
  readonly generatorCpu: number;
  readonly serverCpu: number | null;
}

const TIMEOUT_MS = 10_000;
const BUCKET_US = 10;
const BUCKETS = 1_000_000;

type Reply = { status: number; body: string };

class TlsConnection {
  #socket: TLSSocket | undefined;
  #buf: Buffer = Buffer.alloc(0);
  #pending: { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;

  constructor(private readonly port: number) {}

  async #open(): Promise<TLSSocket> {
    // The load measures requests on open connections, not the server's certificate.
    const socket = connect({ port: this.port, host: '127.0.0.1', rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', resolve);
      socket.once('error', reject);
    });
    socket.setNoDelay(true);
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

  async post(path: string, body: string): Promise<Reply> {
    const socket = this.#socket ?? (await this.#open());
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        this.#settle(undefined, new Error(`no answer within ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS);
      this.#pending = { resolve, reject, timer };
      socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
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
    const reply = { status: Number(head.slice(9, 12)), body: this.#buf.toString('utf8', headEnd + 4, end) };
    this.#buf = this.#buf.subarray(end);
    this.#settle(reply);
  }

  close(): void {
    this.#socket?.destroy();
  }
}

const cpuTotal = (pid: number): number | null => {
  const c = procCpuMs(pid);
  return c && c.user + c.sys;
};

class Window {
  readonly hist = new Uint32Array(BUCKETS + 1);
  fetches = 0;
  errors = 0;
  firstError: string | null = null;
  readonly t0 = performance.now();
  readonly self0 = selfCpuMs();
  readonly server0: number | null;
  constructor(
    readonly name: string,
    private readonly serverPid: number,
  ) {
    this.server0 = cpuTotal(serverPid);
  }

  record(ms: number, error: string | null): void {
    if (error !== null) {
      this.errors++;
      this.firstError ??= error;
      return;
    }
    this.fetches++;
    this.hist[Math.min(BUCKETS, Math.floor((ms * 1000) / BUCKET_US))]!++;
  }

  result(): FetchWindow {
    const ms = performance.now() - this.t0;
    const server1 = cpuTotal(this.serverPid);
    const pct = (p: number) => {
      const rank = Math.max(1, Math.ceil(p * this.fetches));
      let seen = 0;
      for (let b = 0; b <= BUCKETS; b++) {
        seen += this.hist[b]!;
        if (seen >= rank) return ((b + 0.5) * BUCKET_US) / 1000;
      }
      return NaN;
    };
    return {
      name: this.name,
      fetches: this.fetches,
      errors: this.errors,
      firstError: this.firstError,
      perSec: Math.round((this.fetches * 1000) / ms),
      p50Ms: pct(0.5),
      p99Ms: pct(0.99),
      generatorCpu: Math.round(((selfCpuMs() - this.self0) * 100) / ms),
      serverCpu: this.server0 === null || server1 === null ? null : Math.round(((server1 - this.server0) * 100) / ms),
    };
  }
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as FetchLoadArgs;
  const stbs = readFileSync(args.stbsFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as [string, string, string]);
  if (stbs.length === 0) throw new Error('no STBs to fetch for');
  const budgetMs = args.warmupMs + args.windows * args.windowMs + 60_000;
  setTimeout(() => {
    process.stderr.write(`tls-fetch-load: still running after ${budgetMs} ms; giving up\n`);
    process.exit(2);
  }, budgetMs).unref();

  const conns: TlsConnection[] = [];
  let window: Window | undefined;
  let stopping = false;
  const worker = async (c: number) => {
    // Fewer STBs than connections: some connections share STBs (each request has its own nonce anyway).
    const n = Math.min(args.connections, stbs.length);
    const mine = stbs.filter((_, i) => i % n === c % n);
    const conn = new TlsConnection(args.port);
    conns.push(conn);
    for (let j = 0; !stopping; j++) {
      const [stbId, secret, certId] = mine[j % mine.length]!;
      const p = { stbId, certId, timestamp: Math.floor(Date.now() / 1000), nonce: randomBytes(18).toString('base64url') };
      const body = JSON.stringify({ ...p, mac: stbMac(secret, p) });
      const t0 = performance.now();
      let error: string | null = null;
      try {
        const r = await conn.post('/v1/certificate', body);
        if (r.status !== 200 || !r.body.includes('"status":"valid"') || !r.body.includes('"ciphertext"')) error = `${stbId}: ${r.status} ${r.body.slice(0, 200)}`;
      } catch (err) {
        error = `${stbId}: ${(err as Error).message}`;
      }
      window?.record(performance.now() - t0, error);
    }
  };
  const running = Promise.all(Array.from({ length: args.connections }, (_, c) => worker(c)));
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
  for (const c of conns) c.close();
  process.stdout.write(`${JSON.stringify({ done: true })}\n`);
}

await main();
