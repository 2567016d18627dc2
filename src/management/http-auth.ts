import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What an Authorization header claims. */
export type Credentials =
  | { readonly scheme: 'basic'; readonly username: string; readonly password: string }
  | { readonly scheme: 'digest'; readonly username: string; readonly params: Readonly<Record<string, string>> };

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

/** Splits `k1="v1", k2=v2` (quoted strings may hold commas and escaped quotes). */
function authParams(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    while (s[i] === ' ' || s[i] === ',') i++;
    const eq = s.indexOf('=', i);
    if (eq < 0) break;
    const key = s.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    let value = '';
    if (s[i] === '"') {
      for (i++; i < s.length && s[i] !== '"'; i++) value += s[i] === '\\' ? (s[++i] ?? '') : s[i];
      i++;
    } else {
      const end = s.indexOf(',', i);
      value = s.slice(i, end < 0 ? s.length : end).trim();
      i = end < 0 ? s.length : end;
    }
    out[key] = value;
  }
  return out;
}

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
    const params = authParams(rest);
    return params['username'] === undefined ? undefined : { scheme: 'digest', username: params['username'], params };
  }
  return undefined;
}

const equal = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

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
    if (!this.#freshNonce(nonce) || p['realm'] !== this.realm || p['uri'] !== uri || (p['algorithm'] ?? 'MD5').toUpperCase() !== 'MD5') return false;
    const ha1 = md5(`${credentials.username}:${this.realm}:${password}`);
    const ha2 = md5(`${method}:${p['uri'] ?? ''}`);
    const expected = p['qop'] === 'auth' ? md5(`${ha1}:${nonce}:${p['nc'] ?? ''}:${p['cnonce'] ?? ''}:auth:${ha2}`) : md5(`${ha1}:${nonce}:${ha2}`);
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
