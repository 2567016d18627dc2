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
import { performance } from 'node:perf_hooks';
import { type LatencyFigures, LatencyWindow } from './latency-window.js';
import { sleep } from './processes.js';
import { RawConnection, REQUEST_TIMEOUT_MS } from './raw-connection.js';

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

export interface WindowResult extends LatencyFigures {
  /** Answered requests whose answer arrived in the window. */
  readonly ops: number;
  readonly binds: number;
  readonly unbinds: number;
  /** Successful operations per second. */
  readonly opsPerSec: number;
}

type Reply = { status: number; body: string };
type Send = (method: 'PUT' | 'DELETE', path: string) => Promise<Reply>;

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

/** A window that also counts binds (PUT) and unbinds (DELETE). */
class Window extends LatencyWindow {
  binds = 0;
  unbinds = 0;

  recordCall(method: string, ms: number, error: string | null): void {
    if (!this.record(ms, error)) return;
    if (method === 'PUT') this.binds++;
    else this.unbinds++;
  }

  result(): WindowResult {
    const { name, ok, errors, firstError, perSec, ...latency } = this.figures();
    return { name, ops: ok, binds: this.binds, unbinds: this.unbinds, errors, firstError, opsPerSec: perSec, ...latency };
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
      const conn = new RawConnection(args.port);
      raws.push(conn);
      send = (method, path) => {
        const request = `${method} ${path} HTTP/1.1\r\n${headers}\r\n`;
        return conn.open ? conn.send(request) : conn.connect().then(() => conn.send(request));
      };
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
      window?.recordCall(method, performance.now() - t0, error);
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
