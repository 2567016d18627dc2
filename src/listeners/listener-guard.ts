import { type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Clock } from '../clock.js';
import type { Logger } from '../log/logger.js';
import { LogThrottle } from '../rate-limit/log-throttle.js';
import type { TimerHost } from '../timer/timers.js';
import { sourceKey } from '../source-key.js';
import { type Admission, ConnectionLimits, type LimitReason } from './connection-limits.js';
import type { ListenerMetrics } from './listener-metrics.js';

/** A listener's limits (`header_timeout`, `body_timeout`, `idle_timeout`, `max_connections`, `max_connections_per_source`). */
export interface ListenerLimits {
  /** From the connection (TLS handshake included), or from the first byte after an idle spell, to the end of a request's headers. */
  readonly headerTimeoutMs: number;
  /** From the end of a request's headers to the end of its body: a deadline for the whole body, not a time between two reads. */
  readonly bodyTimeoutMs: number;
  /** How long a kept-alive connection may wait for its next request. */
  readonly idleTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxConnectionsPerSource: number;
}

export interface GuardOptions {
  /** The `listener` label and log field: cwmp, certs, api. */
  readonly name: string;
  readonly limits: ListenerLimits;
  /**
   * Past a limit: `shed` answers the connection's request 503 with Retry-After (a CPE then comes back
   * later, as from any overloaded ACS) and closes it; `refuse` closes it at once.
   */
  readonly pastLimit: 'shed' | 'refuse';
  /** Retry-After of a shed request, seconds. */
  readonly retryAfterS?: number;
  /**
   * The source a connection counts against: its peer, unless a trusted proxy said otherwise (PROXY protocol);
   * undefined for a trusted proxy's connection that names no client (X-Forwarded-For only): counted in
   * max_connections alone, since all its clients come through the proxy's address.
   */
  readonly sourceOf?: (socket: Socket) => string | undefined;
}

export interface ListenerGuardDeps {
  readonly clock: Clock;
  readonly timers: TimerHost;
  readonly log: Logger;
  readonly metrics: ListenerMetrics;
}

type TimeoutReason = 'header_timeout' | 'body_timeout';
/** A request Node's HTTP parser refused (a CPE's broken HTTP stack, a scanner's garbage). */
type MalformedReason = 'malformed_http';

/**
 * Where a connection stands: waiting for a request's headers, for its body, for the answer (no deadline:
 * the work is ours), idle between two requests, or shed (its request is answered 503).
 */
type Phase = 'headers' | 'body' | 'busy' | 'idle' | 'shed';

interface Connection {
  readonly socket: Socket;
  readonly source: string | undefined;
  readonly admission: Admission;
  phase: Phase;
  deadline: number;
  timer: unknown;
  request: IncomingMessage | undefined;
  answered: boolean;
  /** Bytes read when it went idle: more means the next request has begun. */
  bytesAtIdle: number;
}

const LINES: Record<LimitReason | TimeoutReason | MalformedReason, string> = {
  max_connections: 'connection refused: the listener serves max_connections already',
  max_connections_per_source: 'connection refused: its source address has max_connections_per_source already',
  header_timeout: 'connection closed: request headers not received within header_timeout',
  body_timeout: 'connection closed: request body not received within body_timeout',
  malformed_http: 'request refused: not valid HTTP',
};

/**
 * Puts limits on a node:http or node:https server (fastify's `app.server` too), so every listener behaves
 * alike by one call, made after the server's request handler is attached and before it listens.
 *
 * Its own deadlines replace Node's headersTimeout and requestTimeout: those are checked only every
 * connectionsCheckingInterval (30 s, fixed when the server is made), do not cover a TLS handshake, and
 * give headers and body one deadline. Node's keepAliveTimeout is kept at `idle_timeout`, so that the
 * Keep-Alive header tells clients when an idle connection is closed.
 */
export function guardListener(server: Server, o: GuardOptions, d: ListenerGuardDeps): void {
  const { limits, name } = o;
  const counts = new ConnectionLimits(limits.maxConnections, limits.maxConnectionsPerSource, o.pastLimit === 'shed');
  // One line per reason a minute; its count says how many events it stands for.
  const lines = new LogThrottle<{ source: string | undefined; limit?: number; error?: string }>({
    intervalMs: 60_000,
    capacity: 8,
    now: () => d.clock.now(),
    emit: (l) => d.log.warn({ listener: name, reason: l.key, source: l.detail.source, limit: l.detail.limit, error: l.detail.error, count: l.count }, LINES[l.key as LimitReason | TimeoutReason | MalformedReason]),
  });
  // A TLS server's request arrives on the TLS socket, not the TCP one it saw connect: both have the same peer.
  const byPeer = new Map<string, Connection>();
  const peerOf = (s: Socket) => `${s.remoteAddress}|${s.remotePort}`;
  const retryAfter = String(o.retryAfterS ?? 60);

  server.headersTimeout = 0;
  server.requestTimeout = 0;
  server.keepAliveTimeout = limits.idleTimeoutMs;

  // The source as counted: the client a trusted proxy named, an IPv6 /64.
  const note = (reason: LimitReason | TimeoutReason, source: string | undefined, limit: number) => {
    d.metrics.refused.inc({ listener: name, reason });
    lines.record(reason, { source, limit });
  };
  // Counts held back are written once their minute is over, and at close.
  let flushTimer: unknown;
  const flushLater = () => {
    flushTimer = d.timers.setTimeout(() => {
      lines.flush();
      flushLater();
    }, 60_000);
  };
  server.on('listening', flushLater);
  server.on('close', () => {
    if (flushTimer !== undefined) d.timers.clearTimeout(flushTimer);
    flushTimer = undefined;
    lines.drain();
  });

  const arm = (c: Connection, phase: Phase, deadline: number) => {
    c.phase = phase;
    c.deadline = deadline;
    if (c.timer !== undefined) d.timers.clearTimeout(c.timer);
    c.timer = undefined;
    if (phase !== 'busy') wait(c);
  };
  const wait = (c: Connection) => {
    c.timer = d.timers.setTimeout(() => {
      c.timer = undefined;
      if (d.clock.now() < c.deadline) wait(c);
      else expire(c);
    }, Math.max(0, c.deadline - d.clock.now()));
  };
  const idle = (c: Connection) => {
    // A request's socket is gone (null) once Node detached it, the connection closing after the answer.
    c.bytesAtIdle = (c.request?.socket as Socket | null | undefined)?.bytesRead ?? c.socket.bytesRead;
    arm(c, 'idle', d.clock.now() + limits.idleTimeoutMs);
  };
  const expire = (c: Connection) => {
    switch (c.phase) {
      case 'headers':
        note('header_timeout', c.source, limits.headerTimeoutMs);
        return void c.socket.destroy();
      case 'body':
        if (!c.request?.complete) {
          note('body_timeout', c.source, limits.bodyTimeoutMs);
          return void c.socket.destroy();
        }
        return c.answered ? idle(c) : arm(c, 'busy', 0);
      case 'idle':
        // Bytes since it went idle: the next request has begun, and its headers get header_timeout from now.
        if ((c.request?.socket.bytesRead ?? c.socket.bytesRead) > c.bytesAtIdle) return arm(c, 'headers', d.clock.now() + limits.headerTimeoutMs);
        return void c.socket.destroy();
      default:
        return void c.socket.destroy();
    }
  };

  // Node's own answer to a request its parser refuses is a bare 400 and no log line: the CPE whose HTTP stack
  // sends, say, both Content-Length and Transfer-Encoding would never learn why, nor would the operator.
  // fastify has a handler of its own (api, certs).
  if (server.listenerCount('clientError') === 0) {
    server.on('clientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: Socket) => {
      // A reset connection, or an error after the answer began: nothing to tell anyone.
      const answered = (socket as { _httpMessage?: ServerResponse })._httpMessage?.headersSent === true;
      if (err.code === 'ECONNRESET' || !socket.writable || answered) return void socket.destroy();
      const from = o.sourceOf ? o.sourceOf(socket) : (socket.remoteAddress ?? '');
      const why = `${err.reason ?? err.message}${err.code ? ` (${err.code})` : ''}`;
      d.metrics.refused.inc({ listener: name, reason: 'malformed_http' });
      lines.record('malformed_http', { source: from === undefined ? undefined : sourceKey(from), error: why });
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      const body = `malformed HTTP request: ${why}\n`;
      socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  }

  server.on('connection', (socket: Socket) => {
    const from = o.sourceOf ? o.sourceOf(socket) : (socket.remoteAddress ?? '');
    const source = from === undefined ? undefined : sourceKey(from);
    const admission = counts.admit(source);
    if (admission.kind !== 'served') note(admission.reason, source, admission.reason === 'max_connections' ? limits.maxConnections : limits.maxConnectionsPerSource);
    if (admission.kind === 'refused') return void socket.destroy();
    const c: Connection = { socket, source, admission, phase: 'headers', deadline: 0, timer: undefined, request: undefined, answered: false, bytesAtIdle: 0 };
    const peer = peerOf(socket);
    byPeer.set(peer, c);
    if (admission.kind === 'served') d.metrics.open.inc({ listener: name });
    arm(c, 'headers', d.clock.now() + limits.headerTimeoutMs);
    socket.once('close', () => {
      if (c.timer !== undefined) d.timers.clearTimeout(c.timer);
      byPeer.delete(peer);
      counts.release(source, admission);
      if (admission.kind === 'served') d.metrics.open.dec({ listener: name });
    });
  });

  // The guard stands between the server and its handlers: a shed connection's request reaches none of them.
  const handlers = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
  // A handler attached later would run beside the guard, shed requests included: refuse that order outright.
  if (handlers.length === 0) throw new Error(`guardListener(${name}): attach the request handler before the guard`);
  server.removeAllListeners('request');
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const c = byPeer.get(peerOf(req.socket));
    if (c?.admission.kind === 'shed') {
      // Node closes the connection once the answer is out (Connection: close); the deadline, if the client does not read it.
      arm(c, 'shed', d.clock.now() + limits.headerTimeoutMs);
      const body = 'too many connections; retry later\n';
      res.writeHead(503, { 'retry-after': retryAfter, connection: 'close', 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) }).end(body);
      return;
    }
    if (c !== undefined) {
      c.request = req;
      c.answered = false;
      arm(c, 'body', d.clock.now() + limits.bodyTimeoutMs);
      res.once('finish', () => {
        if (c.request !== req) return;
        c.answered = true;
        // A body still arriving after an early answer (a 401, a 413) keeps its deadline.
        if (req.complete) idle(c);
      });
    }
    for (const h of handlers) h.call(server, req, res);
  });
}
