import type { ListenAddress } from '../config/listen.js';

/**
 * Where devices reach the file server, for the URLs in Downloads: `[files] url` when set; else HTTPS on the
 * bound tls_listen, else HTTP on the bound listen, at its address, a wildcard address being replaced by
 * `hostname` (this machine's name: the best guess there is). Pure.
 */
export function fileBaseUrl(configured: string, bound: { readonly tls: ListenAddress | undefined; readonly plain: ListenAddress | undefined }, hostname: string): string | undefined {
  if (configured !== '') return configured.replace(/\/+$/, '');
  const [scheme, at] = bound.tls ? ['https', bound.tls] : bound.plain ? ['http', bound.plain] : [undefined, undefined];
  if (!scheme || !at) return undefined;
  const host = at.host === '0.0.0.0' || at.host === '::' ? hostname : at.host;
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${at.port}`;
}
