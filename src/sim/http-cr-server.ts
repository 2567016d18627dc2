import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { digestResponse, parseAuthParams } from '../http-digest.js';

export const HTTP_CR_REALM = 'stbsim';

/** Nonces we remember: enough for a few concurrent challenges, bounded so nothing grows. */
const MAX_NONCES = 32;

export interface HttpCrDeps {
  /** The current ConnectionRequestUsername/Password (the ACS may change them). */
  credentials(): { readonly username: string; readonly password: string };
  onAccepted(): void;
  /** Authorization was given but wrong. */
  onRejected(): void;
}

const equal = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * The HTTP Connection Request endpoint (TR-069 §3.2.2) for devices the ACS reaches directly: a GET with
 * HTTP Digest (MD5, qop=auth) gets 200 and opens a session; anything else a 401 challenge.
 */
export class HttpCrServer {
  readonly #server: Server;
  #nonces: string[] = [];

  constructor(private readonly deps: HttpCrDeps) {
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.keepAliveTimeout = 1000;
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    req.resume();
    const authorization = req.headers.authorization;
    if (req.method === 'GET' && authorization !== undefined && this.#verify(authorization, req.url ?? '')) {
      res.writeHead(200, { 'content-length': 0 }).end();
      this.deps.onAccepted();
      return;
    }
    if (authorization !== undefined) this.deps.onRejected();
    const nonce = randomBytes(16).toString('hex');
    this.#nonces.push(nonce);
    if (this.#nonces.length > MAX_NONCES) this.#nonces.shift();
    res.writeHead(401, { 'www-authenticate': `Digest realm="${HTTP_CR_REALM}", qop="auth", algorithm=MD5, nonce="${nonce}"`, 'content-length': 0 }).end();
  }

  #verify(header: string, uri: string): boolean {
    const space = header.indexOf(' ');
    if (space < 0 || header.slice(0, space).toLowerCase() !== 'digest') return false;
    const p = parseAuthParams(header.slice(space + 1));
    const { username, password } = this.deps.credentials();
    const nonce = p['nonce'] ?? '';
    if (p['username'] !== username || p['realm'] !== HTTP_CR_REALM || p['uri'] !== uri || !this.#nonces.includes(nonce)) return false;
    const qop = p['qop'] === 'auth' ? { nc: p['nc'] ?? '', cnonce: p['cnonce'] ?? '' } : undefined;
    const expected = digestResponse({ username, password, realm: HTTP_CR_REALM, method: 'GET', uri, nonce, ...(qop ? { qop } : {}) });
    if (!equal(expected, (p['response'] ?? '').toLowerCase())) return false;
    // One connection request per challenge: a replayed Authorization is refused.
    this.#nonces = this.#nonces.filter((n) => n !== nonce);
    return true;
  }
}
