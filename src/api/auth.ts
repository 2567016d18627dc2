import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Who a bearer token speaks for: the operator (everything), the business management system (binding and
 * the pool), or the media system (certificate verification only).
 */
export type Role = 'admin' | 'bss' | 'media';

/**
 * Bearer-token check in constant time. Tokens are compared as SHA-256 digests so that neither
 * their content nor their length leaks through timing.
 */
export class TokenAuth {
  readonly #tokens: { digest: Buffer; role: Role }[];

  constructor(tokens: readonly { token: string; role: Role }[]) {
    this.#tokens = tokens.map((t) => ({ digest: sha256(t.token), role: t.role }));
  }

  /** The role of the request's `Authorization: Bearer …` header, or undefined. */
  roleOf(authorization: string | undefined): Role | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m?.[1]) return undefined;
    const digest = sha256(m[1]);
    let role: Role | undefined;
    for (const t of this.#tokens) if (timingSafeEqual(t.digest, digest)) role = t.role;
    return role;
  }
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();
