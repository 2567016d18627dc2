import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as connectTls } from 'node:tls';

/** An HTTP answer as read off the socket. */
export interface RawReply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly text: string;
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

export interface RawCpeOptions {
  /** Bytes sent first on each new connection, before any TLS: a PROXY protocol header. */
  readonly preamble?: Buffer;
  /** HTTPS: TLS over the connection (after the preamble) with these options (ca, cert, key, …). */
  readonly tls?: ConnectionOptions;
  /** The source address to connect from (another 127.0.0.0/8 address is another CPE's address). */
  readonly localAddress?: string;
}

/**
 * A CPE's HTTP client written against the wire, not stbd's own code: requests are bytes as field agents
 * send them (odd headers included), answers are parsed from the socket by hand. One TCP connection, kept
 * open across requests as CPE stacks do within a session.
 */
export class RawCpe {
  #socket: Socket | undefined;
  #buffer = Buffer.alloc(0);
  #waiting: (() => void) | undefined;
  #closed = false;

  constructor(
    readonly port: number,
    readonly host = '127.0.0.1',
    readonly options: RawCpeOptions = {},
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one request; `headers` are written as given, in order (Content-Length added unless present). */
  async request(body: string | Buffer, headers: readonly [string, string][] = [], target = '/acs'): Promise<RawReply> {
    const socket = await this.#connect();
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const lines = [`POST ${target} HTTP/1.1`, `Host: ${this.host}:${this.port}`, ...headers.map(([k, v]) => `${k}: ${v}`)];
    if (!headers.some(([k]) => k.toLowerCase() === 'content-length')) lines.push(`Content-Length: ${bytes.length}`);
    socket.write(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), bytes]));
    return this.#read();
  }

  /** Closes the connection (a CPE dropping its session). */
  close(): void {
    this.#socket?.destroy();
    this.#socket = undefined;
  }

  /** The Authorization header answering `challenge` (RFC 7616 arithmetic, written here and not imported). */
  static digest(challenge: string, username: string, password: string, uri: string, nc = '00000001'): string {
    const param = (k: string) => new RegExp(`${k}="([^"]*)"`).exec(challenge)?.[1] ?? '';
    const realm = param('realm');
    const nonce = param('nonce');
    const cnonce = randomBytes(8).toString('hex');
    const ha1 = md5(`${username}:${realm}:${password}`);
    const ha2 = md5(`POST:${uri}`);
    const response = md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${ha2}`);
    return `Digest username="${username}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", qop=auth, nc=${nc}, cnonce="${cnonce}", algorithm=MD5`;
  }

  static basic(username: string, password: string): string {
    return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  async #connect(): Promise<Socket> {
    if (this.#socket) return this.#socket;
    const tcp = connect({ port: this.port, host: this.host, ...(this.options.localAddress ? { localAddress: this.options.localAddress } : {}) });
    await new Promise<void>((resolve, reject) => {
      tcp.once('connect', resolve);
      tcp.once('error', reject);
    });
    if (this.options.preamble) tcp.write(this.options.preamble);
    const socket = this.options.tls ? connectTls({ socket: tcp, ...this.options.tls }) : tcp;
    if (socket !== tcp) {
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
    }
    this.#closed = false;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#waiting?.();
    });
    socket.on('close', () => {
      this.#closed = true;
      if (this.#socket === socket) this.#socket = undefined;
      this.#waiting?.();
    });
    socket.on('error', () => undefined);
    this.#socket = socket;
    return socket;
  }

  async #read(): Promise<RawReply> {
    for (;;) {
      const end = this.#buffer.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = this.#buffer.subarray(0, end).toString('latin1').split('\r\n');
        const status = Number(head[0]?.split(' ')[1]);
        const headers: Record<string, string> = {};
        for (const line of head.slice(1)) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (this.#buffer.length >= end + 4 + length) {
          const body = this.#buffer.subarray(end + 4, end + 4 + length);
          this.#buffer = this.#buffer.subarray(end + 4 + length);
          if (headers['connection'] === 'close') this.close();
          return { status, headers, body, text: body.toString('utf8') };
        }
      }
      if (this.#closed) throw new Error(`connection closed before a whole answer (${this.#buffer.length} bytes read)`);
      await new Promise<void>((resolve) => (this.#waiting = resolve));
      this.#waiting = undefined;
    }
  }
}
