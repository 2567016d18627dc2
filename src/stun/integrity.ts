import { HEADER_LENGTH, MESSAGE_INTEGRITY_LENGTH } from './constants.js';
import type { StunPacket } from './decode.js';
import { HmacSha1 } from './hmac-sha1.js';

/**
 * How the HMAC input of MESSAGE-INTEGRITY is laid out (tr111.md §1). The hashed text is always the header
 * and the attributes before MESSAGE-INTEGRITY; the variants differ in the header's length field and padding.
 * - `rfc5389`: length counts up to and including MESSAGE-INTEGRITY; no padding (RFC 5389 §15.4).
 * - `rfc3489`: the same length, and the text zero-padded to a multiple of 64 bytes (RFC 3489 §11.2.8, icwmp).
 * - `zero-length`: the length field is still 0 while hashing; no padding (RDK-B).
 */
export type IntegrityVariant = 'rfc5389' | 'rfc3489' | 'zero-length';

export const INTEGRITY_VARIANTS: readonly IntegrityVariant[] = ['rfc5389', 'rfc3489', 'zero-length'];

/** The header length field while hashing, for MESSAGE-INTEGRITY's header at `miStart`. */
const hashedLength = (miStart: number, variant: IntegrityVariant) => (variant === 'zero-length' ? 0 : miStart + 4 + MESSAGE_INTEGRITY_LENGTH - HEADER_LENGTH);
/** The zero bytes hashed after the text. */
const zerosAfter = (miStart: number, variant: IntegrityVariant) => (variant === 'rfc3489' && miStart % 64 !== 0 ? 64 - (miStart % 64) : 0);
const keyBytes = (key: Buffer | string) => (typeof key === 'string' ? Buffer.from(key) : key);

/**
 * Writes the MESSAGE-INTEGRITY value for `bytes[0, miStart)` (`miStart` = where the MESSAGE-INTEGRITY attribute
 * header begins), keyed with `key` and laid out as `variant` says, into `bytes[miStart + 4, miStart + 24)`.
 * `hmac`: the caller's scratch (the keepalive path keeps one; the key it was last used with is reused).
 */
export function signInto(bytes: Buffer, miStart: number, key: Buffer | string, variant: IntegrityVariant, hmac = new HmacSha1()): void {
  hmac.useKey(keyBytes(key)).macInto(bytes, miStart, hashedLength(miStart, variant), zerosAfter(miStart, variant), bytes, miStart + 4);
}

/** The same HMAC-SHA1 as a new buffer (bytes[miStart + 4, ...) are not touched). */
export function computeIntegrity(bytes: Buffer, miStart: number, key: Buffer | string, variant: IntegrityVariant, hmac = new HmacSha1()): Buffer {
  const out = Buffer.alloc(MESSAGE_INTEGRITY_LENGTH);
  hmac.useKey(keyBytes(key)).macInto(bytes, miStart, hashedLength(miStart, variant), zerosAfter(miStart, variant), out, 0);
  return out;
}

/**
 * Checks the packet's MESSAGE-INTEGRITY against `key`, trying the variants in `order` (the cheap, expected one
 * first). Returns the variant that matched, or undefined (no MESSAGE-INTEGRITY, or none matched). The key is
 * derived afresh (its cost never depends on the request before), and left in `hmac` for signing the answer.
 */
export function verifyIntegrity(packet: StunPacket, key: Buffer | string, order: readonly IntegrityVariant[] = INTEGRITY_VARIANTS, hmac = new HmacSha1()): IntegrityVariant | undefined {
  const mi = packet.attributes[packet.integrityIndex];
  if (!mi || mi.length !== MESSAGE_INTEGRITY_LENGTH) return undefined;
  const miStart = mi.offset - 4;
  hmac.setKey(keyBytes(key));
  for (const variant of order) {
    if (hmac.matches(packet.bytes, miStart, hashedLength(miStart, variant), zerosAfter(miStart, variant), packet.bytes, mi.offset)) return variant;
  }
  return undefined;
}
