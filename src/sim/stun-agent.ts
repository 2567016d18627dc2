import { randomBytes } from 'node:crypto';
import type { TransportAddress } from '../stun/address.js';
import { parseAttributes, type StunAttribute } from '../stun/attributes.js';
import { CONNECTION_REQUEST_BINDING_TEXT, MessageType } from '../stun/constants.js';
import { DecodeError, type StunPacket } from '../stun/decode.js';
import { encode } from '../stun/encode.js';

/** Where and how to send keepalives (ManagementServer.STUN*). */
export interface StunConfig {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly intervalMs: number;
}

export type StunOutcome = 'sent' | 'lost' | 'answered' | 'unauthorized' | 'error' | 'timeout';

export interface StunAgentDeps {
  /** Sends from the device's connection-request socket (that is what 0xC001 promises). */
  send(bytes: Buffer, port: number, host: string): void;
  /** A success response told us our mapped address; `changed` when it differs from the last one. */
  onBinding(address: TransportAddress, changed: boolean): void;
  /** Counts for the stats. */
  onOutcome(outcome: StunOutcome): void;
  /** Probability of losing each outgoing packet (--loss). */
  readonly loss: number;
  readonly random: () => number;
}

/** RFC 3489 §9.3: 100 ms doubling to 1.6 s, 9 requests, then 1.6 s more before giving up. */
const RETRANSMIT_MS = [100, 200, 400, 800, 1600, 1600, 1600, 1600, 1600];

interface Transaction {
  readonly id: Buffer;
  readonly bytes: Buffer;
  readonly bindingChange: boolean;
  sent: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * TR-111 part 2 keepalives, as deployed agents send them: RFC 3489 Binding Requests with USERNAME,
 * CONNECTION-REQUEST-BINDING and (first, and after a change) BINDING-CHANGE; MESSAGE-INTEGRITY only once
 * the server has asked for it with a 401, and from then on.
 */
export class StunAgent {
  #config: StunConfig | undefined;
  #integrity = false;
  #bindingChange = true;
  #mapped: TransportAddress | undefined;
  #tx: Transaction | undefined;
  #periodTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: StunAgentDeps) {}

  /** The mapped address of the last success response. */
  get binding(): TransportAddress | undefined {
    return this.#mapped;
  }

  get usesIntegrity(): boolean {
    return this.#integrity;
  }

  /** Starts (or restarts, with fresh state) keepalives with `config`; undefined stops them. */
  configure(config: StunConfig | undefined): void {
    this.stop();
    this.#config = config;
    if (config) this.#keepalive();
  }

  /** Stops and forgets everything (a reboot loses it). */
  stop(): void {
    clearTimeout(this.#periodTimer);
    this.#periodTimer = undefined;
    this.#abandon();
    this.#config = undefined;
    this.#integrity = false;
    this.#bindingChange = true;
    this.#mapped = undefined;
  }

  /** A response that arrived on the socket; false if it is not for the transaction in flight. */
  handle(packet: StunPacket): boolean {
    const tx = this.#tx;
    if (!tx || !packet.transactionId.equals(tx.id)) return false;
    const attrs = parseAttributes(packet);
    if (attrs instanceof DecodeError) return false;
    this.#abandon();
    if (packet.type === MessageType.BindingError) {
      const unauthorized = attrs.some((a) => a.kind === 'ERROR-CODE' && a.code === 401);
      this.deps.onOutcome(unauthorized ? 'unauthorized' : 'error');
      // Asked for integrity: repeat at once with it. Already sending it: the password is wrong; wait for the next period.
      if (unauthorized && !this.#integrity) {
        this.#integrity = true;
        this.#send();
      }
      return true;
    }
    if (packet.type !== MessageType.BindingSuccess) return true;
    this.deps.onOutcome('answered');
    const mapped = attrs.find((a) => a.kind === 'XOR-MAPPED-ADDRESS') ?? attrs.find((a) => a.kind === 'MAPPED-ADDRESS');
    if (tx.bindingChange) this.#bindingChange = false;
    if (mapped && (mapped.kind === 'XOR-MAPPED-ADDRESS' || mapped.kind === 'MAPPED-ADDRESS')) {
      const before = this.#mapped;
      const changed = before !== undefined && (before.address !== mapped.address.address || before.port !== mapped.address.port);
      this.#mapped = mapped.address;
      this.deps.onBinding(mapped.address, changed || before === undefined);
      // Tell the server at once that the binding moved (TR-111: BINDING-CHANGE).
      if (changed) {
        this.#bindingChange = true;
        this.#send();
      }
    }
    return true;
  }

  #keepalive(): void {
    const config = this.#config;
    if (!config) return;
    this.#send();
    this.#periodTimer = setTimeout(() => this.#keepalive(), config.intervalMs).unref();
  }

  #send(): void {
    const config = this.#config;
    if (!config) return;
    this.#abandon();
    const id = randomBytes(16);
    const attributes: StunAttribute[] = [
      { kind: 'USERNAME', value: config.username },
      { kind: 'CONNECTION-REQUEST-BINDING', value: CONNECTION_REQUEST_BINDING_TEXT },
    ];
    if (this.#bindingChange) attributes.push({ kind: 'BINDING-CHANGE' });
    const bytes = encode({
      type: MessageType.BindingRequest,
      transactionId: id,
      attributes,
      // tr111.md §1 variant 1 (RFC 3489 style, as icwmp sends it).
      ...(this.#integrity ? { integrity: { key: config.password, variant: 'rfc3489' as const } } : {}),
    });
    const tx: Transaction = { id, bytes, bindingChange: this.#bindingChange, sent: 0, timer: undefined };
    this.#tx = tx;
    this.#transmit(tx, config);
  }

  #transmit(tx: Transaction, config: StunConfig): void {
    if (tx.sent === RETRANSMIT_MS.length) {
      this.#tx = undefined;
      this.deps.onOutcome('timeout');
      return;
    }
    const wait = RETRANSMIT_MS[tx.sent] as number;
    tx.sent++;
    if (this.deps.loss > 0 && this.deps.random() < this.deps.loss) this.deps.onOutcome('lost');
    else {
      this.deps.send(tx.bytes, config.port, config.host);
      this.deps.onOutcome('sent');
    }
    tx.timer = setTimeout(() => this.#transmit(tx, config), wait).unref();
  }

  #abandon(): void {
    if (this.#tx) clearTimeout(this.#tx.timer);
    this.#tx = undefined;
  }
}
