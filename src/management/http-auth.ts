import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { digestResponse, parseAuthParams } from '../http-digest.js';
import { DigestNonces, type IssuedNonce, type NonceVerdict } from './digest-nonces.js';

/** What an Authorization header claims. */
export type Credentials =
  | { readonly scheme: 'basic'; readonly username: string; readonly password: string }
  | { readonly scheme: 'digest'; readonly username: string; readonly params: Readonly<Record<string, string>> };

/** Reads an Authorization header; undefined if absent or not Basic/Digest. */
export function parseAuthorization(header: string | undefined): Credentials | undefined {
  if (!header) return undefined;
  const space = header.indexOf(' ');
  const scheme = header.slice(0, space).toLowerCase();
  const rest = header.slice(space + 1).trim();
  if (scheme === 'basic') {
    const decoded = Buffer.from(rest, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0 ? undefined : { scheme: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (scheme === 'digest') {
    const params = parseAuthParams(rest);
    return params['username'] === undefined ? undefined : { scheme: 'digest', username: params['username'], params };
  }
  return undefined;
}

/** Constant-time equality that does not leak the length either (both sides are hashed first). */
const equal = (a: string, b: string) => timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

const pathOf = (target: string): string | undefined => {
  try {
    return new URL(target, 'http://host').pathname;
  } catch {
    return undefined;
  }
};

/**
 * Does a Digest `uri` name the request target? CPE stacks write it in absolute form
 * (`http://host:port/path?q`) or leave out the query string: the same path is enough.
 */
export const sameTarget = (digestUri: string, requestUri: string): boolean => digestUri === requestUri || (digestUri !== '' && pathOf(digestUri) === pathOf(requestUri));

export interface CpeHttpAuthOptions {
  /** How long a nonce may be used after it was issued. */
  readonly nonceTtlMs?: number;
  /** Used nonces remembered at most (see DigestNonces). */
  readonly nonceCapacity?: number;
  /** Accept Digest without qop (RFC 2069: no nonce count, so each nonce is accepted once). */
  readonly allowRfc2069?: boolean;
}

export type { NonceVerdict };

const NC = /^[0-9a-f]{1,8}$/i;

/**
 * HTTP Basic and Digest (RFC 2617/7616, MD5, qop=auth) for CPE sessions. A nonce is its issue time and
 * random bytes, signed with a per-process key: issuing one stores nothing. Checking a login is two
 * steps: verify() (is the response right for this password? the caller may try several), then admit()
 * once one is right (may this nonce be used now with this nc?).
 */
export class CpeHttpAuth {
  readonly #key = randomBytes(32);
  readonly #nonces: DigestNonces;
  readonly #allowRfc2069: boolean;

  constructor(
    readonly realm: string,
    private readonly nowMs: () => number,
    options: CpeHttpAuthOptions = {},
  ) {
    this.#nonces = new DigestNonces({ ttlMs: options.nonceTtlMs ?? 5 * 60_000, capacity: options.nonceCapacity ?? 100_000, now: nowMs });
    this.#allowRfc2069 = options.allowRfc2069 ?? false;
  }

  /** The WWW-Authenticate value of a 401 challenge; `stale`: the last credentials were right, their nonce is renewed. */
  challenge(stale = false): string {
    const head = `${this.nowMs().toString(36)}.${randomBytes(6).toString('base64url')}`;
    return `Digest realm="${this.realm}", qop="auth", algorithm=MD5, nonce="${head}.${this.#mac(head)}"${stale ? ', stale=true' : ''}`;
  }

  /** Digest without qop (RFC 2069), refused unless allowed: the caller says so before checking any password. */
  refusedRfc2069(credentials: Credentials): boolean {
    return credentials.scheme === 'digest' && credentials.params['qop'] === undefined && !this.#allowRfc2069;
  }

  /**
   * Are these the device's credentials, for this request method and URI (as in the request line)? For
   * Digest: a nonce stbd signed, this realm and target, and the right response; whether the nonce may
   * still be used is admit()'s question.
   */
  verify(credentials: Credentials, password: string, method: string, uri: string): boolean {
    if (credentials.scheme === 'basic') return equal(credentials.password, password);
    const p = credentials.params;
    const nonce = p['nonce'] ?? '';
    const digestUri = p['uri'] ?? '';
    if (!this.#issued(nonce) || p['realm'] !== this.realm || !sameTarget(digestUri, uri) || (p['algorithm'] ?? 'MD5').toUpperCase() !== 'MD5') return false;
    let qop: { nc: string; cnonce: string } | undefined;
    if (p['qop'] === undefined) {
      if (!this.#allowRfc2069) return false;
    } else {
      if (p['qop'] !== 'auth' || !NC.test(p['nc'] ?? '')) return false;
      qop = { nc: p['nc']!, cnonce: p['cnonce'] ?? '' };
    }
    // The response is over the uri as the client wrote it.
    const expected = digestResponse({ username: credentials.username, password, realm: this.realm, method, uri: digestUri, nonce, ...(qop ? { qop } : {}) });
    return equal(expected, (p['response'] ?? '').toLowerCase());
  }

  /** Credentials verify() accepted: may their nonce be used now, with this nc? Remembered if so. */
  admit(credentials: Credentials): NonceVerdict {
    if (credentials.scheme === 'basic') return 'ok';
    const p = credentials.params;
    const issued = this.#issued(p['nonce'] ?? '');
    if (!issued) return 'stale';
    // RFC 2069 has no count: its nonce is accepted once.
    const nc = p['qop'] === undefined ? 1 : parseInt(p['nc'] ?? '', 16);
    return this.#nonces.use(issued, nc);
  }

  /** The nonce's issue time, if stbd signed it. */
  #issued(nonce: string): IssuedNonce | undefined {
    const [ts, salt, mac, ...rest] = nonce.split('.');
    if (!ts || !salt || !mac || rest.length > 0 || !equal(mac, this.#mac(`${ts}.${salt}`))) return undefined;
    return { value: nonce, issuedAt: parseInt(ts, 36) };
  }

  #mac(s: string): string {
    return createHmac('sha256', this.#key).update(s).digest('base64url').slice(0, 22);
  }
}
