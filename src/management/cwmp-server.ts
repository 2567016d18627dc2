import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { CpeReply, CwmpSessions } from './cwmp-sessions.js';

export const SESSION_COOKIE = 'stbd_session';

/**
 * Our session cookie from a Cookie header: `a=b; stbd_session=T`, quoted values, RFC 2965's
 * `$Version="1"; stbd_session="T"; $Path="/"`, and `,` between cookies as old stacks write them.
 */
export function sessionCookieOf(header: string | undefined): string | undefined {
  for (const part of (header ?? '').split(/[;,]/)) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return undefined;
}

/** The host name (without port) the CPE put in its Host header. */
const hostOf = (header: string | undefined): string => {
  const h = header ?? '';
  return h.startsWith('[') ? h.slice(1, h.indexOf(']')) : h.replace(/:\d+$/, '');
};

/**
 * The body's text in the charset the CPE declared: a `charset` parameter in Content-Type (however it is
 * punctuated), else the XML declaration's encoding, else UTF-8. An unknown charset is read as UTF-8.
 */
export function decodeBody(bytes: Buffer, contentType: string | undefined): string {
  const declared =
    /charset\s*=\s*["']?([\w.:-]+)/i.exec(contentType ?? '')?.[1] ?? /^\s*<\?xml[^>]*\bencoding\s*=\s*["']([\w.:-]+)["']/.exec(bytes.subarray(0, 200).toString('latin1'))?.[1];
  const label = declared?.toLowerCase() ?? 'utf-8';
  if (label === 'utf-8' || label === 'utf8') return bytes.toString('utf8').replace(/^\uFEFF/, '');
  try {
    return new TextDecoder(label).decode(bytes);
  } catch {
    return bytes.toString('utf8');
  }
}

/**
 * The CWMP endpoint (HTTP on `[cwmp] listen`) on node:http: CPEs send whatever Content-Type they like (or
 * none), so no framework's media-type checks stand between them and the session logic. Any path is
 * accepted, as CPEs are configured with whatever ACS URL the operator typed.
 */
export class CwmpServer {
  readonly #server: Server;
  #closing = false;

  constructor(
    private readonly sessions: CwmpSessions,
    private readonly log: Logger,
    private readonly bodyLimit: number,
    /** Puts the listener's timeouts and connection limits on the server (src/listeners/). */
    guard: (server: Server) => void,
  ) {
    this.#server = createServer((req, res) => this.#request(req, res));
    guard(this.#server);
  }

  get address(): AddressInfo | undefined {
    const a = this.#server.address();
    return typeof a === 'object' && a !== null ? a : undefined;
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const failed = (err: Error) => reject(err);
      this.#server.once('error', failed);
      this.#server.listen({ host, port }, () => {
        this.#server.off('error', failed);
        resolve();
      });
    });
  }

  /** Stops accepting; requests arriving meanwhile get 503; open connections are closed. */
  async close(): Promise<void> {
    this.#closing = true;
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    if (this.#closing) return this.#send(res, 503, 'text/plain', 'shutting down\n', { connection: 'close' });
    if (req.method !== 'POST') return this.#send(res, 405, 'text/plain', 'CWMP sessions are HTTP POSTs\n', { allow: 'POST' });
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.bodyLimit) return this.#tooLarge(req, res);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > this.bodyLimit) {
        req.removeAllListeners('data');
        this.#tooLarge(req, res);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > this.bodyLimit || res.headersSent) return;
      let reply: CpeReply;
      let body: string | undefined;
      try {
        reply = this.sessions.handle({
          cookie: sessionCookieOf(req.headers.cookie),
          connection: req.socket,
          authorization: req.headers.authorization,
          method: req.method ?? 'POST',
          uri: req.url ?? '/',
          // Decoded only when the session logic reads it (a 401 challenge does not).
          get body() {
            return (body ??= decodeBody(Buffer.concat(chunks), req.headers['content-type']));
          },
          sourceAddress: req.socket.remoteAddress ?? '',
          host: hostOf(req.headers.host),
        });
      } catch (err) {
        this.log.error({ err }, 'CWMP request failed');
        return this.#send(res, 500, 'text/plain', 'internal error\n');
      }
      this.#reply(res, reply);
    });
    req.on('error', () => req.socket.destroy());
  }

  #tooLarge(req: IncomingMessage, res: ServerResponse): void {
    this.log.warn({ source: req.socket.remoteAddress, limit: this.bodyLimit }, 'CWMP body over the limit; session ended');
    this.sessions.abandon(sessionCookieOf(req.headers.cookie), req.socket);
    // The rest of the body is not read: the connection goes with the answer.
    this.#send(res, 413, 'text/plain', `body over the limit of ${this.bodyLimit} bytes\n`, { connection: 'close' });
    res.on('finish', () => req.socket.destroy());
  }

  #reply(res: ServerResponse, r: CpeReply): void {
    switch (r.status) {
      case 200:
        return this.#send(res, 200, 'text/xml; charset="utf-8"', r.body, r.cookie === undefined ? {} : { 'set-cookie': `${SESSION_COOKIE}=${r.cookie}; Path=/; HttpOnly` });
      case 204:
        res.writeHead(204).end();
        return;
      case 401:
        return this.#send(res, 401, 'text/plain', 'authentication required\n', { 'www-authenticate': r.challenge });
      case 400:
        return this.#send(res, 400, 'text/plain', `${r.message}\n`);
    }
  }

  #send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
    const bytes = Buffer.from(body, 'utf8');
    res.writeHead(status, { 'content-type': type, 'content-length': bytes.length, ...headers }).end(bytes);
  }
}
