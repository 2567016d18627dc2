/**
 * The load generators' HTTP/1.1 client (bench/http-load.ts, bench/cwmp-load.ts): pre-built requests
 * written on a net socket, one request in flight, responses read by Content-Length (204 and 304: no
 * body). About 4× less CPU per request than node:http's client, so a generator outruns the servers it
 * measures.
 */
import { connect, type Socket } from 'node:net';

export const REQUEST_TIMEOUT_MS = 10_000;

export interface Reply {
  readonly status: number;
  readonly head: string;
  readonly body: string;
}

/** The value of header `name` in a response head, if present. */
export const header = (head: string, name: string): string | undefined => {
  const m = new RegExp(`\\r\\n${name}:[ \\t]*([^\\r\\n]*)`, 'i').exec(head);
  return m?.[1];
};

/** One TCP connection to 127.0.0.1:port, one request in flight. */
export class RawConnection {
  #socket: Socket | undefined;
  #buf: Buffer = Buffer.alloc(0);
  #pending: { resolve: (r: Reply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;

  constructor(private readonly port: number) {}

  get open(): boolean {
    return this.#socket !== undefined;
  }

  async connect(): Promise<void> {
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
    this.#socket = socket;
  }

  /** Writes `request` (a whole HTTP/1.1 request) and resolves with the answer; the connection must be open. */
  send(request: string): Promise<Reply> {
    const socket = this.#socket;
    if (!socket) return Promise.reject(new Error('not connected'));
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        this.#settle(undefined, new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`));
      }, REQUEST_TIMEOUT_MS);
      this.#pending = { resolve, reject, timer };
      socket.write(request);
    });
  }

  close(): void {
    const s = this.#socket;
    this.#socket = undefined;
    s?.destroy();
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
    const status = Number(head.slice(9, 12));
    let length = 0;
    if (status !== 204 && status !== 304) {
      const cl = header(head, 'content-length');
      if (cl === undefined) {
        this.close();
        return this.#settle(undefined, new Error(`answer without Content-Length: ${head.slice(0, 200)}`));
      }
      length = Number(cl);
    }
    const end = headEnd + 4 + length;
    if (this.#buf.length < end) return;
    const body = this.#buf.toString('utf8', headEnd + 4, end);
    this.#buf = this.#buf.subarray(end);
    this.#settle({ status, head, body });
  }
}
