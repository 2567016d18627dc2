import type { StunAttribute } from '../stun/attributes.js';
import { AttributeType, isComprehensionRequired, MessageType } from '../stun/constants.js';
import { decode, DecodeError, type StunPacket } from '../stun/decode.js';
import { encode } from '../stun/encode.js';
import { type IntegrityVariant, verifyIntegrity } from '../stun/integrity.js';
import type { DeviceTable } from './device-table.js';
import type { Endpoint, Presence } from './presence.js';

export type IntegrityPolicy = 'binding' | 'always';

/** What became of a datagram (the listener counts these). */
export type Outcome = 'answered' | 'anonymous' | 'challenged' | 'rejected' | 'malformed';

export interface HandleResult {
  readonly outcome: Outcome;
  /** The bytes to send back to the sender, if any. */
  readonly response?: Buffer;
  /** Why a datagram was dropped or refused, for debug logs. */
  readonly reason?: string;
  /** The device slot whose keepalive was accepted. */
  readonly slot?: number;
}

export interface HandlerOptions {
  readonly integrity: IntegrityPolicy;
  readonly reauthAfterMs: number;
  /** Answer requests without USERNAME (and without MESSAGE-INTEGRITY) like a plain STUN server. */
  readonly answerAnonymous: boolean;
}

/** Attribute types a Binding Request may carry that stbd understands (RFC 5389 clients get 420 for others). */
const UNDERSTOOD = new Set<number>([AttributeType.USERNAME, AttributeType.MESSAGE_INTEGRITY, AttributeType.FINGERPRINT, AttributeType.CHANGE_REQUEST]);

/** The order in which to try MESSAGE-INTEGRITY layouts for a dialect, when the device has no history. */
const VARIANT_ORDER: Record<StunPacket['dialect'], readonly IntegrityVariant[]> = {
  rfc5389: ['rfc5389', 'rfc3489', 'zero-length'],
  rfc3489: ['rfc3489', 'zero-length', 'rfc5389'],
};

const UNAUTHORIZED: StunAttribute = { kind: 'ERROR-CODE', code: 401, reason: 'Unauthorized' };

/** Where USERNAME ends once the trailing spaces and NULs some agents pad it with (and count in its length) are cut. */
function trimmedEnd(bytes: Buffer, start: number, end: number): number {
  while (end > start && (bytes[end - 1] === 0x20 || bytes[end - 1] === 0x00)) end--;
  return end;
}

/**
 * One keepalive datagram in, at most one response out (seed 001 steps 3–4, tr111.md §1). Decides who sent
 * it, whether to believe it, records presence, and answers in the sender's own dialect. Never throws; a
 * datagram that is refused changes no state. No response is ever larger than twice its request.
 */
export class KeepaliveHandler {
  constructor(
    private readonly devices: DeviceTable,
    private readonly presence: Presence,
    private readonly options: HandlerOptions,
  ) {}

  handle(datagram: Buffer, from: Endpoint & { readonly family: 'IPv4' | 'IPv6' }, now: number): HandleResult {
    const packet = decode(datagram);
    if (packet instanceof DecodeError) return { outcome: 'malformed', reason: `${packet.code}: ${packet.detail}` };
    if (packet.type !== MessageType.BindingRequest) return { outcome: 'malformed', reason: `message type 0x${packet.type.toString(16)} is not a Binding Request` };
    const limit = 2 * packet.bytes.length;

    let userStart = -1;
    let userEnd = -1;
    let crBinding = false;
    let bindingChange = false;
    const unknown: number[] = [];
    // Attributes after MESSAGE-INTEGRITY are ignored (RFC 5389 §15.4), FINGERPRINT aside.
    const end = packet.integrityIndex >= 0 ? packet.integrityIndex : packet.attributes.length;
    for (let i = 0; i < end; i++) {
      const a = packet.attributes[i]!;
      if (a.type === AttributeType.USERNAME && userStart < 0) {
        userStart = a.offset;
        userEnd = trimmedEnd(packet.bytes, a.offset, a.offset + a.length);
      }
      else if (a.type === AttributeType.CONNECTION_REQUEST_BINDING) crBinding = true;
      else if (a.type === AttributeType.BINDING_CHANGE) bindingChange = true;
      // Answering "from another address or port" needs a second address stbd does not have: RFC 5389/5780
      // clients are told so with 420; RFC 3489 agents (some send it in every keepalive) are answered as usual.
      else if (a.type === AttributeType.CHANGE_REQUEST && packet.dialect === 'rfc5389' && a.length === 4 && (packet.bytes[a.offset + 3]! & 0x06) !== 0) unknown.push(a.type);
      else if (!UNDERSTOOD.has(a.type) && isComprehensionRequired(a.type)) unknown.push(a.type);
    }
    // RFC 3489 agents predate 420: their stray attributes are ignored (tr111.md: accept every variant).
    if (unknown.length > 0 && packet.dialect === 'rfc5389') {
      const response = this.#respond(packet, MessageType.BindingError, [{ kind: 'ERROR-CODE', code: 420, reason: 'Unknown Attribute' }, { kind: 'UNKNOWN-ATTRIBUTES', types: unknown }], undefined, limit);
      return { outcome: 'rejected', reason: 'unknown comprehension-required attributes', ...(response ? { response } : {}) };
    }

    const hasUsername = userStart >= 0;
    const slot = hasUsername ? this.devices.slotOfUsernameBytes(packet.bytes, userStart, userEnd) : undefined;
    let verified: IntegrityVariant | undefined;
    if (packet.integrityIndex >= 0) {
      verified = slot === undefined ? undefined : verifyIntegrity(packet, this.devices.passwordOf(slot), this.#order(slot, packet));
      // A wrong MESSAGE-INTEGRITY and an unknown USERNAME get the very same answer: usernames cannot be probed.
      if (verified === undefined) return this.#unauthorized(packet, limit, 'rejected', slot === undefined ? 'unknown username' : 'wrong MESSAGE-INTEGRITY');
    } else if (!hasUsername && this.options.answerAnonymous) {
      const response = this.#respond(packet, MessageType.BindingSuccess, [this.#mapped(packet, from)], undefined, limit);
      return { outcome: 'anonymous', ...(response ? { response } : {}) };
    } else if (slot === undefined) {
      return this.#unauthorized(packet, limit, 'rejected', hasUsername ? 'unknown username' : 'no USERNAME');
    } else if (this.options.integrity === 'always' || !this.presence.isTrusted(slot, from, now, this.options.reauthAfterMs)) {
      return this.#unauthorized(packet, limit, 'challenged', 'MESSAGE-INTEGRITY required');
    }

    this.presence.accept(slot!, from, now, verified ?? null, crBinding, bindingChange);
    const integrity = verified ? { key: this.devices.passwordOf(slot!), variant: verified } : undefined;
    const response = this.#respond(packet, MessageType.BindingSuccess, [this.#mapped(packet, from)], integrity, limit);
    return response ? { outcome: 'answered', response, slot: slot! } : { outcome: 'answered', reason: 'response would exceed twice the request', slot: slot! };
  }

  /** The sender's address as the client's dialect reports it: MAPPED-ADDRESS (RFC 3489) or XOR-MAPPED-ADDRESS. */
  #mapped(packet: StunPacket, from: Endpoint & { readonly family: 'IPv4' | 'IPv6' }): StunAttribute {
    const address = { family: from.family, address: from.address, port: from.port };
    return packet.dialect === 'rfc5389' ? { kind: 'XOR-MAPPED-ADDRESS', address } : { kind: 'MAPPED-ADDRESS', address };
  }

  #order(slot: number, packet: StunPacket): readonly IntegrityVariant[] {
    const last = this.presence.variantOf(slot);
    const order = VARIANT_ORDER[packet.dialect];
    return last && last !== order[0] ? [last, ...order.filter((v) => v !== last)] : order;
  }

  #unauthorized(packet: StunPacket, limit: number, outcome: Outcome, reason: string): HandleResult {
    const response = this.#respond(packet, MessageType.BindingError, [UNAUTHORIZED], undefined, limit);
    return { outcome, reason, ...(response ? { response } : {}) };
  }

  /**
   * Encodes a response in the request's dialect (FINGERPRINT for RFC 5389), dropping FINGERPRINT if that
   * keeps it within `limit` bytes (anti-amplification), or answering nothing if even that is too large.
   */
  #respond(
    packet: StunPacket,
    type: number,
    attributes: readonly StunAttribute[],
    integrity: { key: Buffer; variant: IntegrityVariant } | undefined,
    limit: number,
  ): Buffer | undefined {
    const base = { type, transactionId: packet.transactionId, attributes, ...(integrity ? { integrity } : {}) };
    if (packet.dialect === 'rfc5389') {
      const full = encode({ ...base, fingerprint: true });
      if (full.length <= limit) return full;
    }
    const plain = encode(base);
    return plain.length <= limit ? plain : undefined;
  }
}
