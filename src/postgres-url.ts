/**
 * Parses a PostgreSQL connection URL as libpq reads it, or returns undefined. libpq lets a Unix-socket URL
 * leave the host empty (postgres://user@/db?host=/run/postgresql); WHATWG URL does not, so an empty host
 * is read as "_" (and reported by callers as the socket directory or localhost).
 */
export function parsePostgresUrl(url: string): URL | undefined {
  if (!/^postgres(?:ql)?:\/\//.test(url)) return undefined;
  try {
    return new URL(url.replace(/^(postgres(?:ql)?:\/\/(?:[^/@]*@)?)\//, '$1_/'));
  } catch {
    return undefined;
  }
}

/** The URL's host as libpq would use it: the `host` parameter (a socket directory) wins, an empty one is localhost. */
export function postgresHost(u: URL): string {
  return u.searchParams.get('host') ?? (u.hostname === '_' || u.hostname === '' ? 'localhost' : u.hostname);
}
