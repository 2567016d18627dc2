import { bytesToIpv6, ipv6ToBytes } from '../stun/address.js';

/**
 * Whose allowance of refusals a datagram spends: its IPv4 address, or its IPv6 /64 (one subscriber's
 * prefix: an address of its own per request must not buy a fresh allowance each time).
 */
export function sourceKey(from: { readonly address: string; readonly family: 'IPv4' | 'IPv6' }): string {
  if (from.family === 'IPv4') return from.address;
  const bytes = ipv6ToBytes(from.address);
  if (!bytes) return from.address;
  if (bytes.readUInt32BE(0) === 0 && bytes.readUInt32BE(4) === 0 && bytes.readUInt32BE(8) === 0xffff) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  bytes.fill(0, 8);
  return `${bytesToIpv6(bytes)}/64`;
}
