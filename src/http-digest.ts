import { hash, randomBytes } from 'node:crypto';

/**
 * HTTP Digest (RFC 7616, MD5, qop=auth) arithmetic shared by both sides: the CWMP endpoint checks it,
 * the HTTP connection request and the simulator answer challenges with it.
 */
/** One-shot: a createHash object per call costs several times the hashing in a busy daemon (three per Digest login). */
export const md5 = (s: string): string => hash('md5', s, 'hex');

/** Splits `k1="v1", k2=v2` (quoted strings may hold commas and escaped quotes); keys lower-cased. */
export function parseAuthParams(s: string): Record<string, string> {
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

export interface DigestInput {
  readonly username: string;
  readonly password: string;
  readonly realm: string;
  readonly method: string;
  readonly uri: string;
  readonly nonce: string;
  /** With qop=auth: the nonce count (8 hex digits) and the client nonce. */
  readonly qop?: { readonly nc: string; readonly cnonce: string };
}

/** The `response` value of a Digest Authorization. */
export function digestResponse(d: DigestInput): string {
  const ha1 = md5(`${d.username}:${d.realm}:${d.password}`);
  const ha2 = md5(`${d.method}:${d.uri}`);
  return d.qop ? md5(`${ha1}:${d.nonce}:${d.qop.nc}:${d.qop.cnonce}:auth:${ha2}`) : md5(`${ha1}:${d.nonce}:${ha2}`);
}

/**
 * The Authorization header answering a WWW-Authenticate challenge (Digest, else Basic), or undefined
 * when the challenge is neither. Client side: used for HTTP connection requests and by the simulator.
 */
export function answerChallenge(challenge: string, user: { readonly username: string; readonly password: string }, method: string, uri: string): string | undefined {
  const space = challenge.indexOf(' ');
  const scheme = challenge.slice(0, space).toLowerCase();
  if (scheme === 'basic') return `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
  if (scheme !== 'digest') return undefined;
  const p = parseAuthParams(challenge.slice(space + 1));
  const realm = p['realm'] ?? '';
  const nonce = p['nonce'] ?? '';
  const auth = (p['qop'] ?? '').split(',').some((q) => q.trim() === 'auth');
  const qop = auth ? { nc: '00000001', cnonce: randomBytes(8).toString('hex') } : undefined;
  const response = digestResponse({ ...user, realm, method, uri, nonce, ...(qop ? { qop } : {}) });
  const q = (s: string) => s.replace(/["\\]/g, '\\$&');
  const parts = [`username="${q(user.username)}"`, `realm="${q(realm)}"`, `nonce="${q(nonce)}"`, `uri="${q(uri)}"`, 'algorithm=MD5', `response="${response}"`];
  if (p['opaque'] !== undefined) parts.push(`opaque="${q(p['opaque'])}"`);
  if (qop) parts.push('qop=auth', `nc=${qop.nc}`, `cnonce="${qop.cnonce}"`);
  return `Digest ${parts.join(', ')}`;
}
