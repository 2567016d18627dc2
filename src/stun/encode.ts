import { type StunAttribute, typeOf, valueLength, writeValue } from './attributes.js';
import { AttributeType, HEADER_LENGTH, MESSAGE_INTEGRITY_LENGTH } from './constants.js';
import { fingerprintOf } from './decode.js';
import type { HmacSha1 } from './hmac-sha1.js';
import { type IntegrityVariant, signInto } from './integrity.js';

export interface OutgoingMessage {
  readonly type: number;
  /** 16 bytes: RFC 3489's id, or the magic cookie + RFC 5389's 96-bit id (see StunPacket.transactionId). */
  readonly transactionId: Buffer;
  /** Attributes in order, without MESSAGE-INTEGRITY and FINGERPRINT (those are computed here). */
  readonly attributes: readonly StunAttribute[];
  /** Appends MESSAGE-INTEGRITY keyed with `key`, laid out as `variant` (`hmac`: scratch to reuse, see signInto). */
  readonly integrity?: { readonly key: Buffer | string; readonly variant: IntegrityVariant; readonly hmac?: HmacSha1 } | undefined;
  /** Appends FINGERPRINT (RFC 5389). */
  readonly fingerprint?: boolean;
  /** The byte used to pad attribute values to 4 bytes; RFC 5389 says any value (RFC 5769's vectors use 0x20). */
  readonly padding?: number;
}

const padded = (n: number) => (n + 3) & ~3;

/** Encodes a STUN message. Throws TypeError only on a programming error (e.g. an unparsable address). */
export function encode(msg: OutgoingMessage): Buffer {
  if (msg.transactionId.length !== 16) throw new TypeError('transactionId must be 16 bytes (cookie + id for RFC 5389)');
  let size = HEADER_LENGTH;
  for (const a of msg.attributes) size += 4 + padded(valueLength(a));
  const miStart = size;
  if (msg.integrity) size += 4 + MESSAGE_INTEGRITY_LENGTH;
  const fpStart = size;
  if (msg.fingerprint) size += 8;

  // From Node's shared pool, every byte written: Buffer.alloc's own small array would be copied off the heap by
  // the send that follows (0.2 µs of a keepalive's answer).
  const out = Buffer.allocUnsafe(size);
  out.writeUInt16BE(msg.type, 0);
  out.writeUInt16BE(size - HEADER_LENGTH, 2);
  // Byte by byte: for 16 bytes, cheaper than a call into Buffer.copy.
  const id = msg.transactionId;
  for (let i = 0; i < 16; i++) out[4 + i] = id[i] as number;
  const padding = msg.padding ?? 0;
  let at = HEADER_LENGTH;
  for (const a of msg.attributes) {
    const length = valueLength(a);
    out.writeUInt16BE(typeOf(a), at);
    out.writeUInt16BE(length, at + 2);
    writeValue(a, out, at + 4, id);
    // Every byte of a pooled buffer is written: the padding too.
    for (let p = at + 4 + length, end = at + 4 + padded(length); p < end; p++) out[p] = padding;
    at += 4 + padded(length);
  }
  if (msg.integrity) {
    out.writeUInt16BE(AttributeType.MESSAGE_INTEGRITY, miStart);
    out.writeUInt16BE(MESSAGE_INTEGRITY_LENGTH, miStart + 2);
    signInto(out, miStart, msg.integrity.key, msg.integrity.variant, msg.integrity.hmac);
  }
  if (msg.fingerprint) {
    out.writeUInt16BE(AttributeType.FINGERPRINT, fpStart);
    out.writeUInt16BE(4, fpStart + 2);
    out.writeUInt32BE(fingerprintOf(out, fpStart), fpStart + 4);
  }
  return out;
}
