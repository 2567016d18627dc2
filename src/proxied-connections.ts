import type { Server, Socket } from 'node:net';
import type { Logger } from './log/logger.js';
import { parseProxyHeader, ProxyHeaderError } from './proxy-protocol.js';
import type { TrustedProxies } from './trusted-proxies.js';

export interface ProxiedConnectionsOptions {
  readonly trusted: TrustedProxies;
  /** How long a trusted proxy may take to send its PROXY header before the connection is dropped. */
  readonly headerTimeoutMs: number;
  readonly log: Logger;
}

/** One TCP connection to one of our ports; a TLS socket over it has the same. */
const endpointOf = (s: Pick<Socket, 'localPort' | 'remoteAddress' | 'remotePort'>) => `${s.localPort}|${s.remoteAddress}|${s.remotePort}`;

/**
 * The PROXY protocol (v2 and v1) in front of node servers, plain or TLS. On a connection from a trusted
 * proxy the header, if there is one, is read off the socket before the server sees a byte (it comes
 * before the TLS handshake too), and says where the connection really comes from. Connections from
 * anyone else go to the server untouched: a PROXY header there is what it looks like to the server, a
 * malformed request (HTTP 400, or a failed TLS handshake).
 */
export class ProxiedConnections {
  readonly #o: ProxiedConnectionsOptions;
  /** Real sources of the connections whose header named one, while they are open. */
  readonly #sources = new Map<string, { readonly socket: Socket; readonly address: string }>();
  /** Connections still sending their header. */
  readonly #pending = new Set<Socket>();

  constructor(o: ProxiedConnectionsOptions) {
    this.#o = o;
  }

  /**
   * Routes `server`'s connections through the header reader. Its 'connection' event is held back, not its
   * listeners moved, so that every listener, the server's own and any added later, gets the socket once
   * the header is off it.
   */
  install(server: Server): void {
    const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
    server.emit = ((event: string | symbol, ...args: unknown[]) => {
      if (event !== 'connection') return emit(event, ...args);
      this.#admit(args[0] as Socket, () => emit(event, ...args));
      return true;
    }) as Server['emit'];
  }

  /** The client a connection's PROXY header named, if it named one. */
  namedSource(socket: Pick<Socket, 'localPort' | 'remoteAddress' | 'remotePort'>): string | undefined {
    return this.#sources.get(endpointOf(socket))?.address;
  }

  /** The address a connection comes from: its PROXY header's source, else its peer. */
  sourceOf(socket: Pick<Socket, 'localPort' | 'remoteAddress' | 'remotePort'>): string {
    return this.#sources.get(endpointOf(socket))?.address ?? socket.remoteAddress ?? '';
  }

  /** Drops the connections still sending their header (the server is closing). */
  destroyPending(): void {
    for (const socket of this.#pending) socket.destroy();
    this.#pending.clear();
  }

  #admit(socket: Socket, proceed: () => void): void {
    const peer = socket.remoteAddress ?? '';
    if (!this.#o.trusted.has(peer)) return proceed();
    let buffered: Buffer = Buffer.alloc(0);
    const finish = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', finish);
      this.#pending.delete(socket);
    };
    const refuse = (why: string) => {
      finish();
      this.#o.log.warn({ source: peer }, `connection from a trusted proxy refused: ${why}`);
      socket.destroy();
    };
    const onError = () => {
      finish();
      socket.destroy();
    };
    const onData = (chunk: Buffer) => {
      // Bounded: an incomplete header is shorter than MAX_PROXY_HEADER bytes (the parser refuses longer ones).
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let parsed;
      try {
        parsed = parseProxyHeader(buffered);
      } catch (err) {
        if (!(err instanceof ProxyHeaderError)) throw err;
        return refuse(err.message);
      }
      if (parsed.kind === 'incomplete') return;
      socket.pause();
      finish();
      if (parsed.kind === 'header' && parsed.source) {
        const key = endpointOf(socket);
        this.#sources.set(key, { socket, address: parsed.source.address });
        socket.once('close', () => {
          if (this.#sources.get(key)?.socket === socket) this.#sources.delete(key);
        });
      }
      const rest = parsed.kind === 'header' ? buffered.subarray(parsed.length) : buffered;
      if (rest.length > 0) socket.unshift(rest);
      proceed();
      // node:http reads through 'data' events and is resumed here; a TLS socket takes over the handle and
      // reads what was unshifted itself (resuming would throw those bytes away).
      if (socket.listenerCount('data') > 0) socket.resume();
    };
    const timer = setTimeout(() => refuse(`no PROXY header or request within ${this.#o.headerTimeoutMs} ms`), this.#o.headerTimeoutMs);
    this.#pending.add(socket);
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', finish);
  }
}
