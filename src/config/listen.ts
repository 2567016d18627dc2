import { isIP } from 'node:net';

/** A socket address to listen on. `host` is an IP literal (IPv6 without brackets) or "localhost". */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Parses "HOST:PORT" or "[IPV6]:PORT". Port 0 means "any free port" (used by tests). */
export function parseListen(text: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined ? isIP(host) !== 6 : isIP(host) !== 4 && host !== 'localhost') return undefined;
  return { host, port };
}

export function formatListen(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Where a local client should connect to reach a listener: wildcard addresses mean loopback. */
export function connectHost(a: ListenAddress): string {
  if (a.host === '0.0.0.0') return '127.0.0.1';
  if (a.host === '::') return '::1';
  return a.host;
}
