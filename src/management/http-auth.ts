import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { HmacSha256 } from '../hmac-sha256.js';
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

/** Constant-time equality that does not leak the length either (both sides are hashed first): for passwords. */
const equal = (a: string, b: string) => timingSafeEqual(hash('sha256', a, 'buffer'), hash('sha256', b, 'buffer'));

/**
 * Constant-time equality with a value of a length everyone knows (a MAC, an MD5 in hex): only the bytes are
 * secret, so no hashing first. Compared as UTF-8 bytes: a character past Latin-1 cannot pass for another.
 */
const equalFixed = (ours: string, theirs: string) => {
  const a = Buffer.from(ours, 'utf8');
  const b = Buffer.from(theirs, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
};

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

/** One login's credentials, checked once for what does not depend on the password (the nonce's signature above all). */
export interface LoginCheck {
  /** Are the credentials right for this password (for Digest: a nonce stbd signed, this realm and target, the right response)? */
  matches(password: string): boolean;
  /** Once one password matched: may their Digest nonce be used now, with this nc? Remembered if so. */
  admit(): NonceVerdict;
}

const REFUSED: LoginCheck = { matches: () => false, admit: () => 'stale' };

const NC = /^[0-9a-f]{1,8}$/i;

/**
 * HTTP Basic and Digest (RFC 2617/7616, MD5, qop=auth) for CPE sessions. A nonce is its issue time and
 * random bytes, signed with a per-process key: issuing one stores nothing. Checking a login is two
 * steps on one check(): matches() (is the response right for this password? the caller may try several),
 * then admit() once one is right (may this nonce be used now with this nc?).
 */
export class CpeHttpAuth {
  /** Signs this process's nonces (a restart's nonces are new ones). */
  readonly #hmac = new HmacSha256(randomBytes(32));
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
   * The credentials of one request (method and URI as in the request line), to try against a device's passwords:
   * the nonce is checked once here, whatever the number of passwords tried.
   */
  check(credentials: Credentials, method: string, uri: string): LoginCheck {
    if (credentials.scheme === 'basic') return { matches: (password) => equal(credentials.password, password), admit: () => 'ok' };
    const p = credentials.params;
    const nonce = p['nonce'] ?? '';
    const digestUri = p['uri'] ?? '';
    const issued = this.#issued(nonce);
    if (!issued || p['realm'] !== this.realm || !sameTarget(digestUri, uri) || (p['algorithm'] ?? 'MD5').toUpperCase() !== 'MD5') return REFUSED;
    let qop: { nc: string; cnonce: string } | undefined;
    if (p['qop'] === undefined) {
      if (!this.#allowRfc2069) return REFUSED;
    } else {
      if (p['qop'] !== 'auth' || !NC.test(p['nc'] ?? '')) return REFUSED;
      qop = { nc: p['nc']!, cnonce: p['cnonce'] ?? '' };
    }
    const response = (p['response'] ?? '').toLowerCase();
    // RFC 2069 has no count: its nonce is accepted once.
    const nc = qop === undefined ? 1 : parseInt(qop.nc, 16);
    return {
      // The response is over the uri as the client wrote it.
      matches: (password) => equalFixed(digestResponse({ username: credentials.username, password, realm: this.realm, method, uri: digestUri, nonce, ...(qop ? { qop } : {}) }), response),
      admit: () => this.#nonces.use(issued, nc),
    };
  }

  /** The nonce's issue time, if stbd signed it. */
  #issued(nonce: string): IssuedNonce | undefined {
    const [ts, salt, mac, ...rest] = nonce.split('.');
    if (!ts || !salt || !mac || rest.length > 0 || !equalFixed(this.#mac(`${ts}.${salt}`), mac)) return undefined;
    return { value: nonce, issuedAt: parseInt(ts, 36) };
  }

  #mac(s: string): string {
    return this.#hmac.digest(s).toString('base64url').slice(0, 22);
  }
}
