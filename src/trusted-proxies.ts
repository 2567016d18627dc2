import { BlockList, isIP } from 'node:net';

/** "10.0.0.0/8", "2001:db8::/32", or one address ("192.0.2.7" is "192.0.2.7/32"). */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** `[2001:db8::1]` and `::ffff:192.0.2.1` as the addresses they are. */
const canonical = (address: string): string => {
  const a = address.trim().replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return a.startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
};

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const address = canonical(slash < 0 ? text : text.slice(0, slash));
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const bits = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(bits) || Number(bits) > max) return undefined;
  return { address, prefix: Number(bits), family: version === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * The addresses of the proxies (TLS terminators, load balancers) whose word about a connection's real
 * source is taken: their PROXY protocol header and their X-Forwarded-For.
 */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly Cidr[]) {
    for (const c of cidrs) this.#list.addSubnet(c.address, c.prefix, c.family);
    this.size = cidrs.length;
  }

  has(address: string): boolean {
    const a = canonical(address);
    const version = isIP(a);
    return version !== 0 && this.#list.check(a, version === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * Who a request really comes from, `peer` being the address that handed it to us: a trusted peer's
   * X-Forwarded-For is read from the right, past every trusted hop, to the first address that is not one
   * (a client can write anything at the left of the header; only what trusted proxies appended counts).
   * An entry that is not an address ends the walk at the last trusted hop.
   */
  clientOf(peer: string, forwardedFor: string | undefined): string {
    let client = canonical(peer);
    if (forwardedFor === undefined) return client;
    const hops = forwardedFor.split(',');
    for (let i = hops.length - 1; i >= 0 && this.has(client); i--) {
      const hop = canonical(hops[i]!);
      if (isIP(hop) === 0) break;
      client = hop;
    }
    return client;
  }
}
