import { isStoreUnavailable } from '../store/store-unavailable.js';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { TLSSocket } from 'node:tls';
import type { Logger } from '../log/logger.js';
import type { CpeReply, CpeRequest, CwmpSessions } from './cwmp-sessions.js';
import type { WorkSlices } from '../listeners/work-slices.js';
import type { UploadEndpoint } from './upload-endpoint.js';

export const SESSION_COOKIE = 'stbd_session';

/**
 * Our session cookie from a Cookie header: `a=b; stbd_session=T`, quoted values, RFC 2965's
 * `$Version="1"; stbd_session="T"; $Path="/"`, and `,` between cookies as old stacks write them.
 */
export function sessionCookieOf(header: string | undefined): string | undefined {
  // Most requests (every session's first) carry no cookie of ours: no split for them.
  if (header === undefined || !header.includes(SESSION_COOKIE)) return undefined;
  for (const part of header.split(/[;,]/)) {
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

/** A Host header worth repeating in a URL: a name or an address, and a port. */
const HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$/;

/** The scheme, host and port the CPE reached us at (its Host header; else the address it connected to). */
export function originOf(req: IncomingMessage): string {
  const scheme = req.socket instanceof TLSSocket ? 'https' : 'http';
  const host = req.headers.host;
  if (host !== undefined && HOST.test(host)) return `${scheme}://${host}`;
  const local = req.socket.localAddress ?? '127.0.0.1';
  return `${scheme}://${local.includes(':') ? `[${local}]` : local}:${req.socket.localPort ?? 0}`;
}

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

/** What the connection says about a request beyond its HTTP. */
export interface CwmpTransport {
  /** Where the request comes from (behind a trusted proxy: the client it speaks for). */
  sourceOf(req: IncomingMessage): string;
  /** The subject CN of the client certificate the TLS layer verified, if the CPE presented one. */
  clientCertificateOf(req: IncomingMessage): string | undefined;
}

const DIRECT: CwmpTransport = { sourceOf: (req) => req.socket.remoteAddress ?? '', clientCertificateOf: () => undefined };

/**
 * The CWMP endpoint on node:http (HTTP on `[cwmp] listen`, HTTPS on `[cwmp] tls_listen`; cwmp-listeners.ts
 * makes the servers): CPEs send whatever Content-Type they like (or none), so no framework's media-type
 * checks stand between them and the session logic. Any path is accepted, as CPEs are configured with
 * whatever ACS URL the operator typed.
 */
export class CwmpServer {
  readonly #servers: (Server | HttpsServer)[] = [];
  #closing = false;

  constructor(
    private readonly sessions: CwmpSessions,
    private readonly log: Logger,
    private readonly bodyLimit: number,
    /** Starts the sessions' work: in slices of loop time, so keepalives are not stuck behind a burst. */
    private readonly slices: Pick<WorkSlices, 'run'>,
    private readonly transport: CwmpTransport = DIRECT,
    /** The upload URL (`/stbd-upload/…`), answered beside the CWMP sessions. */
    private readonly uploads?: UploadEndpoint,
  ) {}

  /** Answers CWMP on `server` (HTTP or HTTPS), which the caller makes listen; close() closes it. */
  serve(server: Server | HttpsServer): void {
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#request(req, res));
    this.#servers.push(server);
  }

  /** Stops accepting; requests arriving meanwhile get 503; open connections are closed. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(
      this.#servers
        .filter((s) => s.listening)
        .map((s) => {
          const closed = new Promise<void>((resolve) => s.close(() => resolve()));
          s.closeAllConnections();
          return closed;
        }),
    );
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    if (this.#closing) return this.#send(res, 503, 'text/plain', 'shutting down\n', { connection: 'close' });
    if (this.uploads?.handles(req.url)) return this.uploads.receive(req, res);
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
      this.slices.run(() => this.#handle(req, res, chunks));
    });
    req.on('error', () => req.socket.destroy());
  }

  #handle(req: IncomingMessage, res: ServerResponse, chunks: Buffer[]): void {
    // It may have waited for its slice while stbd began to stop.
    if (this.#closing) return this.#send(res, 503, 'text/plain', 'shutting down\n', { connection: 'close' });
    const request = new HttpCpeRequest(req, chunks, this.transport);
    this.sessions
      .handle(request)
      .then(
        (reply) => this.#reply(res, reply),
        (err: unknown) => {
          // A CPE takes an error answer for the end of its session: ours ends too, so that a task queued meanwhile
          // asks the device to call in rather than waiting for a session that is over (until it times out).
          this.sessions.abandon(request.cookie, req.socket, request.sourceAddress);
          // Not a fault of the CPE: it calls again later and its session starts over.
          if (isStoreUnavailable(err)) {
            this.log.warn({ err: (err as Error).message }, 'CWMP request refused: the store is unavailable');
            return this.#send(res, 503, 'text/plain', 'the server is unavailable; retry later\n', { 'retry-after': '30', connection: 'close' });
          }
          this.log.error({ err }, 'CWMP request failed');
          this.#send(res, 500, 'text/plain', 'internal error\n');
        },
      );
  }

  #tooLarge(req: IncomingMessage, res: ServerResponse): void {
    this.log.warn({ source: this.transport.sourceOf(req), limit: this.bodyLimit }, 'CWMP body over the limit; session ended');
    this.sessions.abandon(sessionCookieOf(req.headers.cookie), req.socket, this.transport.sourceOf(req));
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
      case 503:
        // Load shedding: the connection goes too, so a flood pays for a new one each time.
        return this.#send(res, 503, 'text/plain', 'too many requests from this address; retry later\n', { 'retry-after': String(r.retryAfterSec), connection: 'close' });
    }
  }

  #send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
    // Answered already (a shed connection's 503): writing again would throw in the request handler.
    if (res.headersSent) return;
    // A string body goes out with the header in one write (a Buffer would be a second chunk of a writev).
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...headers }).end(body);
  }
}

/**
 * A CPE's request as the session logic sees it. A class, not a literal with getters: those define their
 * accessors anew on every request. What not every request needs is worked out when read: the body (a 401
 * challenge never reads it) and the host (provisioning). The origin is not: it may fall back to the socket's
 * local address, gone once the connection closes, and the session reads it after awaiting the store.
 */
class HttpCpeRequest implements CpeRequest {
  readonly cookie: string | undefined;
  readonly connection: object;
  readonly authorization: string | undefined;
  readonly method: string;
  readonly uri: string;
  readonly sourceAddress: string;
  readonly clientCertificate: string | undefined;
  readonly origin: string;
  readonly #req: IncomingMessage;
  #chunks: Buffer[] | undefined;
  #body: string | undefined;

  constructor(req: IncomingMessage, chunks: Buffer[], transport: CwmpTransport) {
    this.#req = req;
    this.#chunks = chunks;
    this.cookie = sessionCookieOf(req.headers.cookie);
    this.connection = req.socket;
    this.authorization = req.headers.authorization;
    this.method = req.method ?? 'POST';
    this.uri = req.url ?? '/';
    this.sourceAddress = transport.sourceOf(req);
    this.clientCertificate = transport.clientCertificateOf(req);
    this.origin = originOf(req);
  }

  get body(): string {
    if (this.#body === undefined) {
      this.#body = decodeBody(this.#chunks!.length === 1 ? this.#chunks![0]! : Buffer.concat(this.#chunks!), this.#req.headers['content-type']);
      this.#chunks = undefined;
    }
    return this.#body;
  }

  get host(): string {
    return hostOf(this.#req.headers.host);
  }
}
