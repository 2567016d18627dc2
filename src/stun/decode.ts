import { AttributeType, FINGERPRINT_XOR, HEADER_LENGTH, MAGIC_COOKIE } from './constants.js';
import { crc32 } from './crc32.js';

export type Dialect = 'rfc3489' | 'rfc5389';

/** Where one attribute sits in the packet. Values are parsed on demand (see attributes.ts). */
export interface RawAttribute {
  readonly type: number;
  /** Offset of the value (after the 4-byte attribute header) in `StunPacket.bytes`. */
  readonly offset: number;
  readonly length: number;
}

/** A structurally valid STUN message. */
export interface StunPacket {
  /** The message, exactly header + declared length (trailing datagram bytes are not part of it). */
  readonly bytes: Buffer;
  readonly type: number;
  readonly dialect: Dialect;
  /**
   * The 16 bytes after the length field: RFC 3489's transaction id, or RFC 5389's magic cookie followed
   * by its 96-bit transaction id. Echoed verbatim in responses, so each dialect is answered in kind.
   */
  readonly transactionId: Buffer;
  readonly attributes: readonly RawAttribute[];
  /** Index in `attributes` of MESSAGE-INTEGRITY, or -1. */
  readonly integrityIndex: number;
}

export type DecodeErrorCode =
  | 'too-short'
  | 'not-stun'
  | 'truncated'
  | 'bad-attribute-length'
  | 'attribute-after-fingerprint'
  | 'bad-fingerprint';

/** Why bytes are not a STUN message. Decoding never throws: it returns this instead. */
export class DecodeError {
  constructor(
    readonly code: DecodeErrorCode,
    readonly detail: string,
  ) {}
}

/**
 * Parses a datagram into a StunPacket, or says why it is not one. RFC 5389 messages (magic cookie) are
 * held to RFC 5389's rules (4-byte alignment, nothing after FINGERPRINT, FINGERPRINT checked); RFC 3489
 * messages are read liberally, because deployed agents differ (tr111.md §1).
 */
export function decode(datagram: Buffer): StunPacket | DecodeError {
  if (datagram.length < HEADER_LENGTH) return new DecodeError('too-short', `${datagram.length} bytes; a STUN header is 20`);
  const type = datagram.readUInt16BE(0);
  if (type & 0xc000) return new DecodeError('not-stun', 'the two top bits of the message type are not zero');
  const length = datagram.readUInt16BE(2);
  if (HEADER_LENGTH + length > datagram.length) {
    return new DecodeError('truncated', `the header declares ${length} bytes of attributes, ${datagram.length - HEADER_LENGTH} arrived`);
  }
  const dialect: Dialect = datagram.readUInt32BE(4) === MAGIC_COOKIE ? 'rfc5389' : 'rfc3489';
  if (dialect === 'rfc5389' && length % 4 !== 0) return new DecodeError('bad-attribute-length', 'RFC 5389 message length is not a multiple of 4');
  const bytes = datagram.length === HEADER_LENGTH + length ? datagram : datagram.subarray(0, HEADER_LENGTH + length);
  let attributes = readAttributes(bytes, true);
  // Some RFC 3489 agents do not pad attribute values: read again without alignment before giving up.
  if (attributes instanceof DecodeError && dialect === 'rfc3489') attributes = readAttributes(bytes, false);
  if (attributes instanceof DecodeError) return attributes;

  let integrityIndex = -1;
  for (let i = 0; i < attributes.length; i++) {
    const a = attributes[i] as RawAttribute;
    if (a.type === AttributeType.MESSAGE_INTEGRITY && integrityIndex < 0) integrityIndex = i;
    if (a.type === AttributeType.FINGERPRINT && dialect === 'rfc5389') {
      if (i !== attributes.length - 1) return new DecodeError('attribute-after-fingerprint', 'FINGERPRINT must be the last attribute');
      if (a.length !== 4) return new DecodeError('bad-attribute-length', 'FINGERPRINT must be 4 bytes');
      if (bytes.readUInt32BE(a.offset) !== fingerprintOf(bytes, a.offset - 4)) return new DecodeError('bad-fingerprint', 'FINGERPRINT does not match');
    }
  }
  return { bytes, type, dialect, transactionId: bytes.subarray(4, HEADER_LENGTH), attributes, integrityIndex };
}

function readAttributes(bytes: Buffer, aligned: boolean): RawAttribute[] | DecodeError {
  const attributes: RawAttribute[] = [];
  let at = HEADER_LENGTH;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) return new DecodeError('truncated', `attribute header at offset ${at} is cut short`);
    const type = bytes.readUInt16BE(at);
    const length = bytes.readUInt16BE(at + 2);
    const end = at + 4 + length;
    if (end > bytes.length) return new DecodeError('truncated', `attribute 0x${type.toString(16).padStart(4, '0')} at offset ${at} runs past the message`);
    attributes.push({ type, offset: at + 4, length });
    at = aligned ? end + ((4 - (length % 4)) % 4) : end;
  }
  if (at !== bytes.length) return new DecodeError('truncated', 'the last attribute\'s padding runs past the message');
  return attributes;
}

/**
 * The FINGERPRINT value for a message whose FINGERPRINT attribute header starts at `fpStart`: CRC-32 of
 * everything before it, with the header's length counting the FINGERPRINT attribute (RFC 5389 §15.5).
 */
export function fingerprintOf(bytes: Buffer, fpStart: number): number {
  return (crc32(bytes, fpStart, fpStart + 8 - HEADER_LENGTH) ^ FINGERPRINT_XOR) >>> 0;
}
