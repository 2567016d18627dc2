import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { ListenAddress } from '../config/listen.js';
import { ListenError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { ProxiedConnections } from '../proxied-connections.js';
import { type Cidr, TrustedProxies } from '../trusted-proxies.js';
import type { CwmpTransport } from './cwmp-server.js';

export interface CwmpListenersOptions {
  /** HTTP; undefined: off. */
  readonly listen: ListenAddress | undefined;
  /** HTTPS, with `tls`; undefined: off. */
  readonly tlsListen: ListenAddress | undefined;
  /** The HTTPS endpoint's certificate and key, PEM. */
  readonly tls: { readonly cert: string; readonly key: string } | undefined;
  /** PEM: a CPE presenting a certificate issued under it is the device its subject CN names. */
  readonly clientCa: string | undefined;
  /** Proxies whose PROXY header and X-Forwarded-For say where a connection really comes from. */
  readonly trustedProxies: readonly Cidr[];
}

/** A trusted proxy sends its PROXY header at once; this is only the bound for one that does not. */
const PROXY_HEADER_TIMEOUT_MS = 10_000;

/**
 * The sockets of the CWMP endpoint: HTTP on `[cwmp] listen`, HTTPS on `[cwmp] tls_listen` (optionally
 * asking CPEs for a client certificate), and, with `[cwmp] trusted_proxies`, the PROXY protocol and
 * X-Forwarded-For from those proxies. CwmpServer answers the requests on the servers made here.
 */
export class CwmpListeners {
  readonly servers: readonly (Server | HttpsServer)[];
  readonly transport: CwmpTransport;
  readonly #o: CwmpListenersOptions;
  readonly #plain: Server | undefined;
  readonly #tls: HttpsServer | undefined;
  readonly #proxied: ProxiedConnections | undefined;

  /** `certificateRefused`: a client certificate did not verify (the connection is closed); logged and counted by the caller, aggregated. */
  constructor(o: CwmpListenersOptions, log: Logger, certificateRefused: (source: string, reason: string) => void) {
    this.#o = o;
    const trusted = new TrustedProxies(o.trustedProxies);
    this.#proxied = trusted.size > 0 ? new ProxiedConnections({ trusted, headerTimeoutMs: PROXY_HEADER_TIMEOUT_MS, log }) : undefined;
    const proxied = this.#proxied;
    const peerOf = (socket: IncomingMessage['socket']) => (proxied ? proxied.sourceOf(socket) : (socket.remoteAddress ?? ''));
    this.sourceOf = (socket) => {
      const peer = socket.remoteAddress ?? '';
      if (!proxied) return peer;
      // A trusted proxy's connection that named no client carries many (X-Forwarded-For): no one source.
      return proxied.namedSource(socket) ?? (trusted.has(peer) ? undefined : peer);
    };
    this.#plain = o.listen ? createServer() : undefined;
    this.#tls = o.tlsListen && o.tls ? this.#httpsServer(o.tls, o.clientCa, certificateRefused, peerOf) : undefined;
    this.servers = [this.#plain, this.#tls].filter((s) => s !== undefined);
    if (proxied) for (const s of this.servers) proxied.install(s);
    this.transport = {
      sourceOf: (req) => (trusted.size > 0 ? trusted.clientOf(peerOf(req.socket), req.headers['x-forwarded-for'] as string | undefined) : peerOf(req.socket)),
      clientCertificateOf: (req) => (o.clientCa ? verifiedCommonName(req.socket) : undefined),
    };
  }

  /**
   * The source a connection counts against for max_connections_per_source: the client a trusted proxy's
   * PROXY header named, else the peer; undefined for a trusted proxy's connection that named none.
   */
  readonly sourceOf: (socket: IncomingMessage['socket']) => string | undefined;

  get address(): ListenAddress | undefined {
    return boundAt(this.#plain);
  }

  get tlsAddress(): ListenAddress | undefined {
    return boundAt(this.#tls);
  }

  /** Binds every listener, or none (a failure closes those already bound). @throws ListenError */
  async listen(): Promise<void> {
    const { listen, tlsListen } = this.#o;
    try {
      if (this.#plain && listen) await listenOn(this.#plain, listen, '[cwmp] listen');
      if (this.#tls && tlsListen) await listenOn(this.#tls, tlsListen, '[cwmp] tls_listen');
    } catch (err) {
      if (this.#plain?.listening) await new Promise((resolve) => this.#plain!.close(resolve));
      throw err;
    }
  }

  /** Drops the connections of trusted proxies still sending their PROXY header (CwmpServer closes the rest). */
  dropPending(): void {
    this.#proxied?.destroyPending();
  }

  #httpsServer(tls: { cert: string; key: string }, clientCa: string | undefined, refused: (source: string, reason: string) => void, peerOf: (s: TLSSocket) => string): HttpsServer {
    // Client certificates are asked for, not required: CPEs without one log in with Digest or Basic.
    const server = createHttpsServer({ cert: tls.cert, key: tls.key, ...(clientCa ? { ca: clientCa, requestCert: true, rejectUnauthorized: false } : {}) });
    if (clientCa) {
      // Before node:http reads a byte: a certificate that does not verify ends the connection.
      server.prependListener('secureConnection', (socket: TLSSocket) => {
        if (socket.authorized || !socket.getPeerX509Certificate()) return;
        refused(peerOf(socket), String(socket.authorizationError));
        socket.destroy();
      });
    }
    return server;
  }
}

/** The subject CN of the client certificate that verified against the CA, if any. */
function verifiedCommonName(socket: IncomingMessage['socket']): string | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const cn: unknown = socket.getPeerCertificate().subject?.CN;
  // A certificate with two CNs names no one device.
  return typeof cn === 'string' && cn !== '' ? cn : undefined;
}

function listenOn(server: Server | HttpsServer, at: ListenAddress, key: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(new ListenError(key, at, err));
    server.once('error', failed);
    server.listen({ host: at.host, port: at.port }, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

function boundAt(server: Server | HttpsServer | undefined): ListenAddress | undefined {
  const a = server?.address() as AddressInfo | null | undefined;
  return a ? { host: a.address, port: a.port } : undefined;
}
