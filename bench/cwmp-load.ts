/**
 * Inform-only CWMP session load for bench:management, run as a child process (pinned to its own core)
 * so that it does not share a core with the server it measures.
 *
 *   node --import tsx bench/cwmp-load.ts '<CwmpLoadArgs as JSON>'
 *
 * `concurrency` CPE clients, each with one session at a time, loop over their share of the devices
 * (client c takes devices c, c + concurrency, …). One session, as a CPE runs it:
 *   1. POST the device's periodic Inform (bench/cwmp-bodies.ts) with its Authorization: Basic
 *      (preemptive), or Digest answering the nonce the client got once from a 401 at start (the daemon's
 *      nonces are valid 5 minutes, each nonce count once), `response` computed per request with digestResponse
 *      (src/http-digest.ts), nc counting up; → 200 with the InformResponse and a session cookie;
 *   2. POST an empty body with the cookie → 204;
 * on a connection of its own (connection `session`, as CPEs do: connect, two POSTs, close) or on one
 * keep-alive connection per client (`reuse`). Requests are pre-built strings written on net sockets;
 * responses are read by Content-Length (none for 204).
 *
 * With `prime`, the warm-up lasts until every device has had a session (its CWMP state exists, as for
 * devices in service) and at least `warmupMs`. Then `windows` measurement windows of `windowMs`; one JSON
 * line (WindowResult) per window, then {"done": true}.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { digestResponse, parseAuthParams } from '../src/http-digest.js';
import { credentialsOf, deviceIdOf } from '../src/sim/index.js';
import { periodicInform } from './cwmp-bodies.js';
import { type LatencyFigures, LatencyWindow } from './latency-window.js';
import { sleep } from './processes.js';
import { header, RawConnection } from './raw-connection.js';

export interface CwmpLoadArgs {
  readonly port: number;
  /** The server's pid, to report its CPU use over each window. */
  readonly serverPid: number;
  /** The devices: the simulator's ids and credentials (prefix + index, passwords derived from secret). */
  readonly prefix: string;
  readonly start: number;
  readonly count: number;
  readonly secret: string;
  readonly concurrency: number;
  readonly auth: 'digest' | 'basic';
  readonly connection: 'session' | 'reuse';
  readonly prime: boolean;
  readonly warmupMs: number;
  readonly windows: number;
  readonly windowMs: number;
}

/** Session latency (p50Ms, p99Ms, maxMs): connect (or first byte written) to the 204. */
export interface WindowResult extends LatencyFigures {
  /** Sessions completed (Inform 200, empty POST 204) in the window. */
  readonly sessions: number;
  readonly sessionsPerSec: number;
  /** Warm-up: how long it took, and whether every device had a session in it. */
  readonly warmupMs: number;
  readonly primed: boolean;
}

const PATH = '/';
const PRIME_LIMIT_MS = 90_000;

/** A window's figures, with the warm-up before the windows. */
const windowResult = (window: LatencyWindow, warmupMs: number, primed: boolean): WindowResult => {
  const { name, ok, errors, firstError, perSec, ...latency } = window.figures();
  return { name, sessions: ok, errors, firstError, sessionsPerSec: perSec, ...latency, warmupMs: Math.round(warmupMs), primed };
};

interface Device {
  readonly serial: string;
  readonly username: string;
  readonly password: string;
  readonly crPort: number;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2] ?? '{}') as CwmpLoadArgs;
  if (args.count < args.concurrency) throw new Error(`need at least ${args.concurrency} devices, got ${args.count}`);
  const budgetMs = PRIME_LIMIT_MS + args.warmupMs + args.windows * args.windowMs + 30_000;
  setTimeout(() => {
    process.stderr.write(`cwmp-load: still running after ${budgetMs} ms; giving up\n`);
    process.exit(2);
  }, budgetMs).unref();

  const devices: Device[] = Array.from({ length: args.count }, (_, i) => {
    const id = deviceIdOf(args.prefix, args.start + i);
    const c = credentialsOf(args.secret, id);
    return { serial: id, username: c.cwmpUsername, password: c.cwmpPassword, crPort: 20_000 + (i % 40_000) };
  });
  const hostLine = `Host: 127.0.0.1:${args.port}\r\n`;
  let window: LatencyWindow | undefined;
  let stopping = false;
  let informId = 0;
  let primedWorkers = 0;
  // CurrentTime, as a CPE's clock gives it (second resolution, refreshed once a second).
  let now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const clock = setInterval(() => (now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')), 1000);

  const post = (body: string, extra: string) =>
    `POST ${PATH} HTTP/1.1\r\n${hostLine}Content-Type: text/xml; charset="utf-8"\r\nSOAPAction: ""\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
  const emptyPost = (cookie: string) => `POST ${PATH} HTTP/1.1\r\n${hostLine}Content-Length: 0\r\nCookie: ${cookie}\r\n\r\n`;

  const worker = async (w: number) => {
    const mine = devices.filter((_, i) => i % args.concurrency === w);
    const conn = new RawConnection(args.port);
    // Digest: one challenge per client, answered on every Inform with a fresh nc.
    let challenge: Record<string, string> = {};
    const cnonce = randomBytes(8).toString('hex');
    let nc = 0;
    if (args.auth === 'digest') {
      await conn.connect();
      const r = await conn.send(post(periodicInform(mine[0]!, ++informId, now), ''));
      conn.close();
      const www = header(r.head, 'www-authenticate');
      if (r.status !== 401 || !www?.toLowerCase().startsWith('digest ')) throw new Error(`expected a Digest challenge, got ${r.status} ${r.head.slice(0, 200)}`);
      challenge = parseAuthParams(www.slice(7));
    }
    const authorization = (d: Device): string => {
      if (args.auth === 'basic') return `Authorization: Basic ${Buffer.from(`${d.username}:${d.password}`).toString('base64')}\r\n`;
      const realm = challenge['realm'] ?? '';
      const nonce = challenge['nonce'] ?? '';
      const count = (++nc).toString(16).padStart(8, '0');
      const response = digestResponse({ username: d.username, password: d.password, realm, method: 'POST', uri: PATH, nonce, qop: { nc: count, cnonce } });
      return `Authorization: Digest username="${d.username}", realm="${realm}", nonce="${nonce}", uri="${PATH}", algorithm=MD5, response="${response}", qop=auth, nc=${count}, cnonce="${cnonce}"\r\n`;
    };

    for (let j = 0; !stopping; j++) {
      if (j === mine.length) primedWorkers++;
      const d = mine[j % mine.length]!;
      const t0 = performance.now();
      let error: string | null = null;
      try {
        if (!conn.open) await conn.connect();
        const r1 = await conn.send(post(periodicInform(d, ++informId, now), authorization(d)));
        if (r1.status !== 200) throw new Error(`Inform of ${d.serial}: ${r1.status} ${r1.body.slice(0, 200)}`);
        const cookie = header(r1.head, 'set-cookie')?.split(';', 1)[0];
        if (!cookie) throw new Error(`Inform of ${d.serial}: no session cookie`);
        const r2 = await conn.send(emptyPost(cookie));
        if (r2.status !== 204) throw new Error(`empty POST of ${d.serial}: ${r2.status} ${r2.body.slice(0, 200)}`);
        if (args.connection === 'session') conn.close();
      } catch (err) {
        error = (err as Error).message;
        conn.close();
      }
      window?.record(performance.now() - t0, error);
    }
    conn.close();
  };

  const t0 = performance.now();
  const running = Promise.all(Array.from({ length: args.concurrency }, (_, w) => worker(w)));
  running.catch((err: Error) => {
    process.stderr.write(`cwmp-load: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
  await sleep(args.warmupMs);
  while (args.prime && primedWorkers < args.concurrency && performance.now() - t0 < PRIME_LIMIT_MS) await sleep(50);
  const warmupMs = performance.now() - t0;
  const primed = primedWorkers >= args.concurrency;
  for (let k = 1; k <= args.windows; k++) {
    window = new LatencyWindow(`#${k}`, args.serverPid);
    await sleep(args.windowMs);
    const result = windowResult(window, warmupMs, primed);
    window = undefined;
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
  stopping = true;
  await running;
  clearInterval(clock);
  process.stdout.write(`${JSON.stringify({ done: true })}\n`);
}

await main();
