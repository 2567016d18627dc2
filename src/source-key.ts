import { bytesToIpv6, ipv6ToBytes } from './stun/address.js';

/**
 * Whose allowance a request spends, for every per-source limit (STUN refusals, CWMP logins, connections):
 * an IPv4 address (IPv4-mapped IPv6 included) as it is, an IPv6 address by its /64, the block one home or
 * one host is given (an address of its own per request must not buy a fresh allowance each time).
 */
export function sourceKey(address: string): string {
  // Every IPv6 text form has a colon: an address without one (IPv4, what nearly every keepalive comes
  // from) is its own key, without the IPv6 parser's regular expression.
  if (!address.includes(':')) return address;
  const bytes = ipv6ToBytes(address);
  if (!bytes) return address;
  if (bytes.readUInt32BE(0) === 0 && bytes.readUInt32BE(4) === 0 && bytes.readUInt32BE(8) === 0xffff) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  bytes.fill(0, 8);
  return `${bytesToIpv6(bytes)}/64`;
}
