import { bytesToIpv6, ipv4ToUint, ipv6ToBytes, type TransportAddress } from './address.js';
import { AttributeType as T, MAGIC_COOKIE } from './constants.js';
import { DecodeError, type RawAttribute, type StunPacket } from './decode.js';

/** A STUN attribute with its value parsed. Attributes stbd does not know travel as `OTHER`. */
export type StunAttribute =
  | { readonly kind: 'MAPPED-ADDRESS'; readonly address: TransportAddress }
  | { readonly kind: 'XOR-MAPPED-ADDRESS'; readonly address: TransportAddress }
  | { readonly kind: 'USERNAME'; readonly value: string }
  | { readonly kind: 'MESSAGE-INTEGRITY'; readonly hmac: Buffer }
  | { readonly kind: 'FINGERPRINT'; readonly crc: number }
  | { readonly kind: 'ERROR-CODE'; readonly code: number; readonly reason: string }
  | { readonly kind: 'UNKNOWN-ATTRIBUTES'; readonly types: readonly number[] }
  | { readonly kind: 'SOFTWARE'; readonly value: string }
  | { readonly kind: 'CHANGE-REQUEST'; readonly changeIp: boolean; readonly changePort: boolean }
  | { readonly kind: 'CONNECTION-REQUEST-BINDING'; readonly value: string }
  | { readonly kind: 'BINDING-CHANGE' }
  | { readonly kind: 'OTHER'; readonly type: number; readonly value: Buffer };

export type AttributeKind = StunAttribute['kind'];

const TYPE_OF: Record<Exclude<AttributeKind, 'OTHER'>, number> = {
  'MAPPED-ADDRESS': T.MAPPED_ADDRESS,
  'XOR-MAPPED-ADDRESS': T.XOR_MAPPED_ADDRESS,
  USERNAME: T.USERNAME,
  'MESSAGE-INTEGRITY': T.MESSAGE_INTEGRITY,
  FINGERPRINT: T.FINGERPRINT,
  'ERROR-CODE': T.ERROR_CODE,
  'UNKNOWN-ATTRIBUTES': T.UNKNOWN_ATTRIBUTES,
  SOFTWARE: T.SOFTWARE,
  'CHANGE-REQUEST': T.CHANGE_REQUEST,
  'CONNECTION-REQUEST-BINDING': T.CONNECTION_REQUEST_BINDING,
  'BINDING-CHANGE': T.BINDING_CHANGE,
};

export const typeOf = (a: StunAttribute): number => (a.kind === 'OTHER' ? a.type : TYPE_OF[a.kind]);

const bad = (what: string) => new DecodeError('bad-attribute-length', what);

/** Reads an address attribute value; XOR-MAPPED-ADDRESS is unmasked with the message's cookie and id. */
function readAddress(v: Buffer, xorKey: Buffer | undefined): TransportAddress | DecodeError {
  if (v.length < 4) return bad('address attribute shorter than 4 bytes');
  const family = v[1];
  let port = v.readUInt16BE(2);
  if (xorKey) port ^= MAGIC_COOKIE >>> 16;
  if (family === 0x01) {
    if (v.length !== 8) return bad('IPv4 address attribute must be 8 bytes');
    const ip = Buffer.from(v.subarray(4, 8));
    if (xorKey) for (let i = 0; i < 4; i++) ip[i] = (ip[i] as number) ^ (xorKey[i] as number);
    return { family: 'IPv4', address: `${ip[0]}.${ip[1]}.${ip[2]}.${ip[3]}`, port };
  }
  if (family === 0x02) {
    if (v.length !== 20) return bad('IPv6 address attribute must be 20 bytes');
    const ip = Buffer.from(v.subarray(4, 20));
    if (xorKey) for (let i = 0; i < 16; i++) ip[i] = (ip[i] as number) ^ (xorKey[i] as number);
    return { family: 'IPv6', address: bytesToIpv6(ip), port };
  }
  return bad(`unknown address family 0x${(family ?? 0).toString(16)}`);
}

/** Parses one attribute of a decoded packet. Never throws. */
export function parseAttribute(packet: StunPacket, raw: RawAttribute): StunAttribute | DecodeError {
  const v = packet.bytes.subarray(raw.offset, raw.offset + raw.length);
  switch (raw.type) {
    case T.MAPPED_ADDRESS: {
      const address = readAddress(v, undefined);
      return address instanceof DecodeError ? address : { kind: 'MAPPED-ADDRESS', address };
    }
    case T.XOR_MAPPED_ADDRESS: {
      const address = readAddress(v, packet.transactionId);
      return address instanceof DecodeError ? address : { kind: 'XOR-MAPPED-ADDRESS', address };
    }
    case T.USERNAME:
      return { kind: 'USERNAME', value: v.toString('utf8') };
    case T.MESSAGE_INTEGRITY:
      return v.length === 20 ? { kind: 'MESSAGE-INTEGRITY', hmac: Buffer.from(v) } : bad('MESSAGE-INTEGRITY must be 20 bytes');
    case T.FINGERPRINT:
      return v.length === 4 ? { kind: 'FINGERPRINT', crc: v.readUInt32BE(0) } : bad('FINGERPRINT must be 4 bytes');
    case T.ERROR_CODE:
      if (v.length < 4) return bad('ERROR-CODE shorter than 4 bytes');
      return { kind: 'ERROR-CODE', code: ((v[2] as number) & 0x07) * 100 + (v[3] as number), reason: v.subarray(4).toString('utf8') };
    case T.UNKNOWN_ATTRIBUTES: {
      if (v.length % 2 !== 0) return bad('UNKNOWN-ATTRIBUTES length must be even');
      const types: number[] = [];
      for (let i = 0; i < v.length; i += 2) types.push(v.readUInt16BE(i));
      return { kind: 'UNKNOWN-ATTRIBUTES', types };
    }
    case T.SOFTWARE:
      return { kind: 'SOFTWARE', value: v.toString('utf8') };
    case T.CHANGE_REQUEST:
      if (v.length !== 4) return bad('CHANGE-REQUEST must be 4 bytes');
      return { kind: 'CHANGE-REQUEST', changeIp: ((v[3] as number) & 0x04) !== 0, changePort: ((v[3] as number) & 0x02) !== 0 };
    case T.CONNECTION_REQUEST_BINDING:
      return { kind: 'CONNECTION-REQUEST-BINDING', value: v.toString('latin1') };
    case T.BINDING_CHANGE:
      return { kind: 'BINDING-CHANGE' };
    default:
      return { kind: 'OTHER', type: raw.type, value: Buffer.from(v) };
  }
}

/** Parses every attribute, or returns the first failure. */
export function parseAttributes(packet: StunPacket): StunAttribute[] | DecodeError {
  const out: StunAttribute[] = [];
  for (const raw of packet.attributes) {
    const a = parseAttribute(packet, raw);
    if (a instanceof DecodeError) return a;
    out.push(a);
  }
  return out;
}

/** The length of an attribute's value (before padding). */
export function valueLength(a: StunAttribute): number {
  switch (a.kind) {
    case 'MAPPED-ADDRESS':
    case 'XOR-MAPPED-ADDRESS':
      return a.address.family === 'IPv4' ? 8 : 20;
    case 'USERNAME':
    case 'SOFTWARE':
      return Buffer.byteLength(a.value, 'utf8');
    case 'CONNECTION-REQUEST-BINDING':
      return a.value.length;
    case 'MESSAGE-INTEGRITY':
      return a.hmac.length;
    case 'FINGERPRINT':
    case 'CHANGE-REQUEST':
      return 4;
    case 'ERROR-CODE':
      return 4 + Buffer.byteLength(a.reason, 'utf8');
    case 'UNKNOWN-ATTRIBUTES':
      return 2 * a.types.length;
    case 'BINDING-CHANGE':
      return 0;
    case 'OTHER':
      return a.value.length;
  }
}

function writeAddress(a: TransportAddress, out: Buffer, at: number, xorKey: Buffer | undefined): void {
  out.writeUInt16BE(a.family === 'IPv4' ? 0x0001 : 0x0002, at);
  out.writeUInt16BE(xorKey ? a.port ^ (MAGIC_COOKIE >>> 16) : a.port, at + 2);
  if (a.family === 'IPv4') {
    const ip = ipv4ToUint(a.address);
    if (ip === undefined) throw new TypeError(`not an IPv4 address: ${a.address}`);
    out.writeUInt32BE(xorKey ? (ip ^ xorKey.readUInt32BE(0)) >>> 0 : ip, at + 4);
    return;
  }
  const ip = ipv6ToBytes(a.address);
  if (!ip) throw new TypeError(`not an IPv6 address: ${a.address}`);
  for (let i = 0; i < 16; i++) out[at + 4 + i] = xorKey ? (ip[i] as number) ^ (xorKey[i] as number) : (ip[i] as number);
}

/**
 * Writes an attribute's value (no header, no padding) at `at`; `valueLength(a)` bytes must be free there.
 * `transactionId` is the message's 16 bytes (the XOR key of XOR-MAPPED-ADDRESS).
 */
export function writeValue(a: StunAttribute, out: Buffer, at: number, transactionId: Buffer): void {
  switch (a.kind) {
    case 'MAPPED-ADDRESS':
      return writeAddress(a.address, out, at, undefined);
    case 'XOR-MAPPED-ADDRESS':
      return writeAddress(a.address, out, at, transactionId);
    case 'USERNAME':
    case 'SOFTWARE':
      out.write(a.value, at, 'utf8');
      return;
    case 'CONNECTION-REQUEST-BINDING':
      out.write(a.value, at, 'latin1');
      return;
    case 'MESSAGE-INTEGRITY':
      a.hmac.copy(out, at);
      return;
    case 'FINGERPRINT':
      out.writeUInt32BE(a.crc >>> 0, at);
      return;
    case 'ERROR-CODE':
      out.writeUInt16BE(0, at);
      out[at + 2] = Math.floor(a.code / 100) & 0x07;
      out[at + 3] = a.code % 100;
      out.write(a.reason, at + 4, 'utf8');
      return;
    case 'UNKNOWN-ATTRIBUTES':
      a.types.forEach((t, i) => out.writeUInt16BE(t, at + i * 2));
      return;
    case 'CHANGE-REQUEST':
      out.writeUInt32BE((a.changeIp ? 0x04 : 0) | (a.changePort ? 0x02 : 0), at);
      return;
    case 'BINDING-CHANGE':
      return;
    case 'OTHER':
      a.value.copy(out, at);
      return;
  }
}
