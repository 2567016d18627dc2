import type { StunAttribute } from '../stun/attributes.js';
import { AttributeType, isComprehensionRequired, MessageType } from '../stun/constants.js';
import { decode, DecodeError, type StunPacket } from '../stun/decode.js';
import { encode } from '../stun/encode.js';
import { HmacSha1 } from '../stun/hmac-sha1.js';
import { type IntegrityVariant, verifyIntegrity } from '../stun/integrity.js';
import type { Deferral } from './device-lookups.js';
import type { DeviceTable } from './device-table.js';
import type { Endpoint, Presence } from './presence.js';
import { ReplayMemory } from './replay-memory.js';
import { sourceKey } from '../source-key.js';

export type IntegrityPolicy = 'binding' | 'always';

/**
 * What became of a datagram (the listener counts these). `retransmitted`: a signed keepalive seen before,
 * from the same source, answered again; `replayed`: one seen before from another source, refused;
 * `throttled`: dropped unanswered, its source being over its allowance of refusals; `deferred`: its username
 * is not held in memory (a cluster node holds only its own devices): it waits for a store lookup, or is
 * dropped unanswered when too many wait.
 */
export type Outcome = 'answered' | 'anonymous' | 'challenged' | 'rejected' | 'malformed' | 'retransmitted' | 'replayed' | 'throttled' | 'deferred';

export interface HandleResult {
  readonly outcome: Outcome;
  /** The bytes to send back to the sender, if any. */
  readonly response?: Buffer;
  /** Why a datagram was dropped or refused, for debug logs. */
  readonly reason?: string;
  /** The device slot whose keepalive was accepted. */
  readonly slot?: number;
  /** Refusals only: whose allowance it spent (sourceKey), and whether that was the last of it. */
  readonly source?: string;
  readonly overLimit?: Allowance;
  /** A refused login (unknown user, wrong MESSAGE-INTEGRITY, replay), and the device it named if any. */
  readonly failedLogin?: boolean;
  readonly claimed?: number;
}

export type Allowance = 'challenges' | 'failures';

/** A per-source allowance (TokenBuckets): looked at before the work a refusal costs, spent when one is made. */
export interface RefusalBudget {
  peek(key: string): boolean;
  take(key: string): boolean;
}

export interface HandlerDeps {
  readonly devices: DeviceTable;
  readonly presence: Presence;
  readonly replays: ReplayMemory;
  /** Spent by every error answer to a request without MESSAGE-INTEGRITY (401, 420). */
  readonly challenges: RefusalBudget;
  /** Spent by every signed request refused; while empty, signed requests from the source are not checked. */
  readonly failures: RefusalBudget;
  /** The MESSAGE-INTEGRITY check (a test may count its calls). */
  readonly verify?: typeof verifyIntegrity;
  /**
   * A username not in `devices` (a cluster node holds only its own): the datagram may wait for a store lookup
   * (`waiting`), be dropped as too much already waits, or be refused as usual (`unknown`: the store has no
   * such device). Absent: every device is in memory.
   */
  readonly notHeld?: (message: Buffer, username: string, from: Endpoint & { readonly family: 'IPv4' | 'IPv6' }) => Deferral;
}

export interface HandlerOptions {
  readonly integrity: IntegrityPolicy;
  readonly reauthAfterMs: number;
  /** Answer requests without USERNAME (and without MESSAGE-INTEGRITY) like a plain STUN server. */
  readonly answerAnonymous: boolean;
  /** HMAC key for unknown usernames, so that they cost what a wrong password costs. */
  readonly decoyKey: Buffer;
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
  private readonly devices: DeviceTable;
  private readonly presence: Presence;
  readonly #verify: typeof verifyIntegrity;
  /** HMAC scratch: a request's key, derived to check it, signs its answer. */
  readonly #hmac = new HmacSha1();

  constructor(
    private readonly deps: HandlerDeps,
    private readonly options: HandlerOptions,
  ) {
    this.devices = deps.devices;
    this.presence = deps.presence;
    this.#verify = deps.verify ?? verifyIntegrity;
  }

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
      return this.#refuse('challenges', from, () =>
        this.#error(packet, [{ kind: 'ERROR-CODE', code: 420, reason: 'Unknown Attribute' }, { kind: 'UNKNOWN-ATTRIBUTES', types: unknown }], limit, 'rejected', 'unknown comprehension-required attributes'),
      );
    }

    const hasUsername = userStart >= 0;
    let verified: IntegrityVariant | undefined;
    let slot: number | undefined;
    if (packet.integrityIndex >= 0) {
      // Past its allowance a source's signed requests are dropped before the lookup and the HMAC.
      const source = sourceKey(from.address);
      if (!this.deps.failures.peek(source)) return { outcome: 'throttled', source };
      slot = hasUsername ? this.devices.slotOfUsernameBytes(packet.bytes, userStart, userEnd) : undefined;
      if (slot === undefined && hasUsername) {
        const deferred = this.#notHeld(packet, userStart, userEnd, from);
        if (deferred) return deferred;
      }
      // An unknown USERNAME is checked against a decoy key, in the same order of layouts: it costs what a
      // wrong password costs, and gets the very same answer, so usernames cannot be probed.
      verified = this.#verify(packet, slot === undefined ? this.options.decoyKey : this.devices.passwordOf(slot), this.#order(slot, packet), this.#hmac);
      if (slot === undefined || verified === undefined) {
        return this.#refused(source, this.#unauthorized(packet, limit, 'rejected', slot === undefined ? 'unknown username' : 'wrong MESSAGE-INTEGRITY'), slot);
      }
      const fingerprint = ReplayMemory.fingerprint(packet.bytes);
      if (this.deps.replays.has(slot, fingerprint)) {
        // The same transaction again: a retransmission (RFC 5389 §7.2.1) if from where it was believed, answered
        // as before but not taken as news of the device; from anywhere else, captured bytes replayed.
        if (!this.presence.isSource(slot, from)) return this.#refused(source, this.#unauthorized(packet, limit, 'replayed', 'transaction id already used'), slot);
        const response = this.#respond(packet, MessageType.BindingSuccess, [this.#mapped(packet, from)], { key: this.devices.passwordOf(slot), variant: verified }, limit);
        return { outcome: 'retransmitted', ...(response ? { response } : {}) };
      }
      this.deps.replays.remember(slot, fingerprint);
    } else {
      slot = hasUsername ? this.devices.slotOfUsernameBytes(packet.bytes, userStart, userEnd) : undefined;
      // Below, one allowance for every unsigned request answered 401, known username or not: which one
      // runs out first must not tell usernames apart either.
      if (!hasUsername && this.options.answerAnonymous) {
        const response = this.#respond(packet, MessageType.BindingSuccess, [this.#mapped(packet, from)], undefined, limit);
        return { outcome: 'anonymous', ...(response ? { response } : {}) };
      } else if (slot === undefined) {
        if (hasUsername && this.deps.challenges.peek(sourceKey(from.address))) {
          const deferred = this.#notHeld(packet, userStart, userEnd, from);
          if (deferred) return deferred;
        }
        const reason = hasUsername ? 'unknown username' : 'no USERNAME';
        return this.#refuse('challenges', from, () => ({ ...this.#unauthorized(packet, limit, 'rejected', reason), ...(hasUsername ? { failedLogin: true } : {}) }));
      } else if (this.options.integrity === 'always' || !this.presence.isTrusted(slot, from, now, this.options.reauthAfterMs)) {
        return this.#refuse('challenges', from, () => this.#unauthorized(packet, limit, 'challenged', 'MESSAGE-INTEGRITY required'));
      }
    }

    this.presence.accept(slot, from, now, verified ?? null, crBinding, bindingChange);
    const integrity = verified ? { key: this.devices.passwordOf(slot), variant: verified } : undefined;
    const response = this.#respond(packet, MessageType.BindingSuccess, [this.#mapped(packet, from)], integrity, limit);
    return response ? { outcome: 'answered', response, slot } : { outcome: 'answered', reason: 'response would exceed twice the request', slot };
  }

  /** A username this node does not hold: waiting for (or dropped before) a store lookup; undefined: refuse it. */
  #notHeld(packet: StunPacket, userStart: number, userEnd: number, from: Endpoint & { readonly family: 'IPv4' | 'IPv6' }): HandleResult | undefined {
    const ask = this.deps.notHeld;
    if (!ask) return undefined;
    const d = ask(packet.bytes, packet.bytes.toString('utf8', userStart, userEnd), from);
    if (d === 'unknown') return undefined;
    return { outcome: 'deferred', reason: d === 'waiting' ? 'its device is being read from the store' : 'too many devices being read from the store at once' };
  }

  /** An error answer that spends `budget`: dropped unanswered (and unbuilt) once the source's allowance is spent. */
  #refuse(allowance: Allowance, from: Endpoint & { readonly family: 'IPv4' | 'IPv6' }, refusal: () => HandleResult): HandleResult {
    const budget = this.deps[allowance];
    const source = sourceKey(from.address);
    // peek() first: a flooded source then costs one lookup and nothing is written.
    if (!budget.peek(source)) return { outcome: 'throttled', source };
    budget.take(source);
    return { ...refusal(), source, ...(budget.peek(source) ? {} : { overLimit: allowance }) };
  }

  /** A signed request refused: spends the source's allowance of failures. */
  #refused(source: string, result: HandleResult, slot: number | undefined): HandleResult {
    this.deps.failures.take(source);
    return { ...result, source, ...(this.deps.failures.peek(source) ? {} : { overLimit: 'failures' as const }), failedLogin: true, ...(slot === undefined ? {} : { claimed: slot }) };
  }

  /** The sender's address as the client's dialect reports it: MAPPED-ADDRESS (RFC 3489) or XOR-MAPPED-ADDRESS. */
  #mapped(packet: StunPacket, from: Endpoint & { readonly family: 'IPv4' | 'IPv6' }): StunAttribute {
    const address = { family: from.family, address: from.address, port: from.port };
    return packet.dialect === 'rfc5389' ? { kind: 'XOR-MAPPED-ADDRESS', address } : { kind: 'MAPPED-ADDRESS', address };
  }

  #order(slot: number | undefined, packet: StunPacket): readonly IntegrityVariant[] {
    const last = slot === undefined ? null : this.presence.variantOf(slot);
    const order = VARIANT_ORDER[packet.dialect];
    return last && last !== order[0] ? [last, ...order.filter((v) => v !== last)] : order;
  }

  #unauthorized(packet: StunPacket, limit: number, outcome: Outcome, reason: string): HandleResult {
    return this.#error(packet, [UNAUTHORIZED], limit, outcome, reason);
  }

  #error(packet: StunPacket, attributes: readonly StunAttribute[], limit: number, outcome: Outcome, reason: string): HandleResult {
    const response = this.#respond(packet, MessageType.BindingError, attributes, undefined, limit);
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
    // Plain literals of one shape (no spreads): this runs for every answer.
    const signed = integrity ? { key: integrity.key, variant: integrity.variant, hmac: this.#hmac } : undefined;
    if (packet.dialect === 'rfc5389') {
      const full = encode({ type, transactionId: packet.transactionId, attributes, integrity: signed, fingerprint: true });
      if (full.length <= limit) return full;
    }
    const plain = encode({ type, transactionId: packet.transactionId, attributes, integrity: signed, fingerprint: false });
    return plain.length <= limit ? plain : undefined;
  }
}
