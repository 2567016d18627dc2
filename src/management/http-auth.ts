import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { digestResponse, parseAuthParams } from '../http-digest.js';

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

const equal = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
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

/**
 * HTTP Basic and Digest (RFC 2617/7616, MD5, qop=auth) for CPE sessions. Nonces are stateless: a
 * timestamp and random bytes signed with a per-process key, valid for `nonceTtlMs`, so no table of
 * nonces grows with millions of CPEs.
 */
export class CpeHttpAuth {
  readonly #key = randomBytes(32);

  constructor(
    readonly realm: string,
    private readonly nowMs: () => number,
    private readonly nonceTtlMs = 5 * 60_000,
  ) {}

  /** The WWW-Authenticate value of a 401 challenge. */
  challenge(): string {
    const ts = this.nowMs().toString(36);
    const salt = randomBytes(6).toString('base64url');
    const nonce = `${ts}.${salt}.${this.#mac(`${ts}.${salt}`)}`;
    return `Digest realm="${this.realm}", qop="auth", algorithm=MD5, nonce="${nonce}"`;
  }

  /** Are these the device's credentials, for this request method and URI (as in the request line)? */
  verify(credentials: Credentials, password: string, method: string, uri: string): boolean {
    if (credentials.scheme === 'basic') return equal(credentials.password, password);
    const p = credentials.params;
    const nonce = p['nonce'] ?? '';
    const digestUri = p['uri'] ?? '';
    if (!this.#freshNonce(nonce) || p['realm'] !== this.realm || !sameTarget(digestUri, uri) || (p['algorithm'] ?? 'MD5').toUpperCase() !== 'MD5') return false;
    const qop = p['qop'] === 'auth' ? { nc: p['nc'] ?? '', cnonce: p['cnonce'] ?? '' } : undefined;
    // The response is over the uri as the client wrote it.
    const expected = digestResponse({ username: credentials.username, password, realm: this.realm, method, uri: digestUri, nonce, ...(qop ? { qop } : {}) });
    return equal(expected, (p['response'] ?? '').toLowerCase());
  }

  #freshNonce(nonce: string): boolean {
    const [ts, salt, mac] = nonce.split('.');
    if (!ts || !salt || !mac || !equal(mac, this.#mac(`${ts}.${salt}`))) return false;
    const age = this.nowMs() - parseInt(ts, 36);
    return age >= 0 && age <= this.nonceTtlMs;
  }

  #mac(s: string): string {
    return createHmac('sha256', this.#key).update(s).digest('base64url').slice(0, 22);
  }
}
