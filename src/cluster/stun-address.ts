/** `[cluster] stun_address`: the public host (a name or an IP; IPv6 in brackets) and port STBs reach this node's STUN listener at. */
export interface StunAddress {
  readonly host: string;
  readonly port: number;
}

/** Parses "host:port" or "[v6]:port"; undefined when it is neither. */
export function parseStunAddress(text: string): StunAddress | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})?)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1] ?? m[2]!, port };
}

export const formatStunAddress = (a: StunAddress): string => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);
