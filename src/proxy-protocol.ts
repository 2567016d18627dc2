import { isIP } from 'node:net';
import { bytesToIpv6 } from './stun/address.js';

/**
 * The PROXY protocol (HAProxy's proxy-protocol.txt) a TLS terminator or load balancer puts in front of a
 * TCP connection to say whose it is: version 2 (binary) and version 1 (text). Pure: bytes in, verdict out.
 */

/** Where the client behind the proxy connected from. */
export interface ProxySource {
  readonly address: string;
  readonly port: number;
}

export type ProxyParse =
  /** The bytes are not a PROXY header: they belong to the application (the connection had none). */
  | { readonly kind: 'none' }
  /** A PROXY header may be coming: read more (up to MAX_PROXY_HEADER bytes in all). */
  | { readonly kind: 'incomplete' }
  /**
   * A whole header of `length` bytes. `source` is undefined when the header names no client address (a
   * LOCAL command such as a health check, an UNKNOWN or Unix-socket family): the connection's own address stands.
   */
  | { readonly kind: 'header'; readonly length: number; readonly source: ProxySource | undefined };

export class ProxyHeaderError extends Error {
  override name = 'ProxyHeaderError';
}

/**
 * Most bytes a header may take. v1 lines are at most 107 bytes; v2 may carry TLVs (ALPN, SNI, TLS details)
 * after the addresses: a few hundred bytes in practice, 64 KiB by the length field. Beyond this a header
 * is refused, so that nobody can make us buffer more.
 */
export const MAX_PROXY_HEADER = 4096;

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V1_MAX = 107;
/** Address block sizes by v2 family: INET, INET6, UNIX. */
const V2_ADDRESS_BYTES: Readonly<Record<number, number>> = { 0: 0, 1: 12, 2: 36, 3: 216 };

/** Do the first bytes of `bytes` agree with `prefix` as far as both go? */
const startsLike = (bytes: Buffer, prefix: Buffer): boolean => bytes.subarray(0, prefix.length).equals(prefix.subarray(0, Math.min(bytes.length, prefix.length)));

/** Reads a PROXY header at the start of what a connection sent so far. @throws ProxyHeaderError */
export function parseProxyHeader(bytes: Buffer): ProxyParse {
  if (bytes.length === 0) return { kind: 'incomplete' };
  if (startsLike(bytes, V2_SIGNATURE)) return bytes.length < 16 ? { kind: 'incomplete' } : parseV2(bytes);
  if (startsLike(bytes, V1_PREFIX)) return bytes.length < V1_PREFIX.length ? { kind: 'incomplete' } : parseV1(bytes);
  return { kind: 'none' };
}

function parseV2(bytes: Buffer): ProxyParse {
  const versionCommand = bytes[12]!;
  const familyProtocol = bytes[13]!;
  const length = 16 + bytes.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) throw new ProxyHeaderError(`PROXY v2 header of version ${versionCommand >> 4}`);
  const command = versionCommand & 0x0f;
  if (command > 1) throw new ProxyHeaderError(`PROXY v2 header with unknown command ${command}`);
  const family = familyProtocol >> 4;
  const addressBytes = V2_ADDRESS_BYTES[family];
  if (addressBytes === undefined || (familyProtocol & 0x0f) > 2) throw new ProxyHeaderError(`PROXY v2 header with unknown address family 0x${familyProtocol.toString(16).padStart(2, '0')}`);
  if (length > MAX_PROXY_HEADER) throw new ProxyHeaderError(`PROXY v2 header of ${length} bytes, over the limit of ${MAX_PROXY_HEADER}`);
  if (length - 16 < addressBytes) throw new ProxyHeaderError(`PROXY v2 header too short for its addresses (${length - 16} bytes, ${addressBytes} needed)`);
  if (bytes.length < length) return { kind: 'incomplete' };
  // LOCAL: the proxy speaks for itself (a health check); the address block, if any, is to be ignored.
  if (command === 0) return { kind: 'header', length, source: undefined };
  const a = bytes.subarray(16);
  if (family === 1) return { kind: 'header', length, source: { address: `${a[0]}.${a[1]}.${a[2]}.${a[3]}`, port: a.readUInt16BE(8) } };
  if (family === 2) {
    const address = bytesToIpv6(a.subarray(0, 16));
    // An IPv4 client seen through an IPv6 socket is the IPv4 client.
    return { kind: 'header', length, source: { address: address.startsWith('::ffff:') ? address.slice(7) : address, port: a.readUInt16BE(32) } };
  }
  return { kind: 'header', length, source: undefined };
}

function parseV1(bytes: Buffer): ProxyParse {
  const end = bytes.subarray(0, V1_MAX).indexOf('\r\n');
  if (end < 0) {
    if (bytes.length >= V1_MAX) throw new ProxyHeaderError(`PROXY v1 line without CRLF in its first ${V1_MAX} bytes`);
    return { kind: 'incomplete' };
  }
  const line = bytes.subarray(0, end).toString('latin1');
  const length = end + 2;
  const [, protocol, ...fields] = line.split(' ');
  if (protocol === 'UNKNOWN') return { kind: 'header', length, source: undefined };
  const family = protocol === 'TCP4' ? 4 : protocol === 'TCP6' ? 6 : 0;
  if (family === 0) throw new ProxyHeaderError(`PROXY v1 line with protocol ${JSON.stringify(protocol ?? '')}`);
  const [source, destination, sourcePort, destinationPort] = fields;
  const port = (p: string | undefined) => (p !== undefined && /^(0|[1-9]\d{0,4})$/.test(p) && Number(p) <= 65535 ? Number(p) : undefined);
  const sport = port(sourcePort);
  if (fields.length !== 4 || isIP(source ?? '') !== family || isIP(destination ?? '') !== family || sport === undefined || port(destinationPort) === undefined) {
    throw new ProxyHeaderError(`malformed PROXY v1 line ${JSON.stringify(line)}`);
  }
  return { kind: 'header', length, source: { address: source!.toLowerCase(), port: sport } };
}
