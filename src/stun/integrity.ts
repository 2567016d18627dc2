import { createHmac, timingSafeEqual } from 'node:crypto';
import { HEADER_LENGTH, MESSAGE_INTEGRITY_LENGTH } from './constants.js';
import type { StunPacket } from './decode.js';

/**
 * How the HMAC input of MESSAGE-INTEGRITY is laid out (tr111.md §1). The hashed text is always the header
 * and the attributes before MESSAGE-INTEGRITY; the variants differ in the header's length field and padding.
 * - `rfc5389`: length counts up to and including MESSAGE-INTEGRITY; no padding (RFC 5389 §15.4).
 * - `rfc3489`: the same length, and the text zero-padded to a multiple of 64 bytes (RFC 3489 §11.2.8, icwmp).
 * - `zero-length`: the length field is still 0 while hashing; no padding (RDK-B).
 */
export type IntegrityVariant = 'rfc5389' | 'rfc3489' | 'zero-length';

export const INTEGRITY_VARIANTS: readonly IntegrityVariant[] = ['rfc5389', 'rfc3489', 'zero-length'];

const ZEROS = Buffer.alloc(64);

/**
 * HMAC-SHA1 over `bytes[0, miStart)` (`miStart` = where the MESSAGE-INTEGRITY attribute header begins),
 * keyed with `key`, laid out as `variant` says.
 */
export function computeIntegrity(bytes: Buffer, miStart: number, key: Buffer | string, variant: IntegrityVariant): Buffer {
  const header = Buffer.allocUnsafe(HEADER_LENGTH);
  bytes.copy(header, 0, 0, HEADER_LENGTH);
  header.writeUInt16BE(variant === 'zero-length' ? 0 : miStart + 4 + MESSAGE_INTEGRITY_LENGTH - HEADER_LENGTH, 2);
  const hmac = createHmac('sha1', key).update(header).update(bytes.subarray(HEADER_LENGTH, miStart));
  if (variant === 'rfc3489' && miStart % 64 !== 0) hmac.update(ZEROS.subarray(0, 64 - (miStart % 64)));
  return hmac.digest();
}

/**
 * Checks the packet's MESSAGE-INTEGRITY against `key`, trying the variants in `order` (the cheap, expected one
 * first). Returns the variant that matched, or undefined (no MESSAGE-INTEGRITY, or none matched).
 */
export function verifyIntegrity(packet: StunPacket, key: Buffer | string, order: readonly IntegrityVariant[] = INTEGRITY_VARIANTS): IntegrityVariant | undefined {
  const mi = packet.attributes[packet.integrityIndex];
  if (!mi || mi.length !== MESSAGE_INTEGRITY_LENGTH) return undefined;
  const expected = packet.bytes.subarray(mi.offset, mi.offset + MESSAGE_INTEGRITY_LENGTH);
  for (const variant of order) {
    if (timingSafeEqual(computeIntegrity(packet.bytes, mi.offset - 4, key, variant), expected)) return variant;
  }
  return undefined;
}
