import type { IntegrityVariant } from '../stun/integrity.js';
import { ipv4ToUint, uintToIpv4 } from '../stun/address.js';
import { grown } from '../typed-arrays.js';

/** A public address and port as the daemon sees it (after the STB's NAT). */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** What the rest of the daemon may know about a device's presence. */
export interface PresenceView {
  readonly online: boolean;
  /** Unix ms of the last accepted keepalive, or null. */
  readonly lastSeen: number | null;
  /** Where UDP Connection Requests go: learnt only from requests carrying CONNECTION-REQUEST-BINDING. */
  readonly binding: Endpoint | null;
  /** The public IP of the binding: devices behind one NAT gateway share it. */
  readonly natId: string | null;
  readonly bindingChangedAt: number | null;
}

/** What is persisted per device (the presence table) and restored at start. */
export interface PresenceRecord {
  readonly lastSeen: number;
  readonly source: Endpoint | null;
  readonly authenticatedAt: number | null;
  readonly variant: IntegrityVariant | null;
  readonly binding: Endpoint | null;
  readonly bindingChangedAt: number | null;
}

export interface PresenceEvents {
  online(slot: number): void;
  offline(slot: number): void;
  /** `reported`: the STB said so (BINDING-CHANGE); otherwise the daemon saw a new address. */
  bindingChanged(slot: number, from: Endpoint | null, to: Endpoint | null, reported: boolean): void;
}

const ONLINE = 1;
const HAS_SOURCE = 2;
const SOURCE_V6 = 4;
const HAS_BINDING = 8;
const BINDING_V6 = 16;
/** Changed in a way the store must learn within a second (online again, new binding, new trusted source). */
const DIRTY = 64;
/** Only last-seen or trust times moved: written by the slower sweep (and at shutdown). */
const STALE = 128;

/** Whose binding a slot's is (a cluster: the node whose STUN socket accepted its latest binding keepalive). */
const OURS = 0;
const FOREIGN = 1;
/** Ours since a keepalive here: the next write claims the row (the others' writes are fenced by it). */
const CLAIMING = 2;

const VARIANTS: readonly (IntegrityVariant | null)[] = [null, 'rfc5389', 'rfc3489', 'zero-length'];

/**
 * Presence of every device, in typed arrays indexed by DeviceTable slots (tens of bytes per device).
 * Pure bookkeeping: time comes in as arguments; offline detection is driven from outside through
 * `sweepOffline`; changes are collected for the batched writes via `takeDirty`
 * (what must reach the store quickly) and `takeStale` (keepalives that only moved the last-seen time:
 * writing those as they come would cost one SQLite row per keepalive).
 */
export class Presence {
  #flags = new Uint8Array(0);
  #variant = new Uint8Array(0);
  #lastSeen = new Float64Array(0);
  #authAt = new Float64Array(0);
  #changedAt = new Float64Array(0);
  #srcV4 = new Uint32Array(0);
  #srcPort = new Uint16Array(0);
  #bindV4 = new Uint32Array(0);
  #bindPort = new Uint16Array(0);
  /** IPv6 addresses (rare for STBs) live beside the arrays. */
  readonly #srcV6 = new Map<number, string>();
  readonly #bindV6 = new Map<number, string>();
  /** OURS, FOREIGN or CLAIMING per slot; all OURS on a single node. */
  #owner = new Uint8Array(0);
  /** When the slot last claimed its binding here (seconds), against flapping between nodes. */
  #claimedAt = new Uint32Array(0);
  #dirty: number[] = [];
  #online = 0;

  constructor(
    private readonly offlineAfterMs: number,
    private readonly events: PresenceEvents,
    /** A binding is claimed from another node at most once per this many ms per device. */
    private readonly claimIntervalMs = 30_000,
  ) {}

  get onlineCount(): number {
    return this.#online;
  }

  /** Makes room for slots [0, n). */
  ensureCapacity(n: number): void {
    if (n <= this.#flags.length) return;
    const size = Math.max(n, Math.ceil(this.#flags.length * 1.5), 1024);
    this.#flags = grown(this.#flags, size);
    this.#variant = grown(this.#variant, size);
    this.#lastSeen = grown(this.#lastSeen, size);
    this.#authAt = grown(this.#authAt, size);
    this.#changedAt = grown(this.#changedAt, size);
    this.#srcV4 = grown(this.#srcV4, size);
    this.#srcPort = grown(this.#srcPort, size);
    this.#bindV4 = grown(this.#bindV4, size);
    this.#bindPort = grown(this.#bindPort, size);
    this.#owner = grown(this.#owner, size);
    this.#claimedAt = grown(this.#claimedAt, size);
  }

  /** Did (slot) pass MESSAGE-INTEGRITY from exactly this address and port within `windowMs`? */
  isTrusted(slot: number, from: Endpoint, now: number, windowMs: number): boolean {
    return now - (this.#authAt[slot] as number) < windowMs && this.isSource(slot, from);
  }

  /** Is `from` the address and port (slot) last passed MESSAGE-INTEGRITY from, however long ago? */
  isSource(slot: number, from: Endpoint): boolean {
    return this.#isSource(slot, this.#flags[slot] as number, from);
  }

  #isSource(slot: number, f: number, from: Endpoint): boolean {
    if (!(f & HAS_SOURCE) || this.#srcPort[slot] !== from.port) return false;
    return f & SOURCE_V6 ? this.#srcV6.get(slot) === from.address : this.#srcV4[slot] === ipv4ToUint(from.address);
  }

  #isBinding(slot: number, f: number, from: Endpoint): boolean {
    if (!(f & HAS_BINDING) || this.#bindPort[slot] !== from.port) return false;
    return f & BINDING_V6 ? this.#bindV6.get(slot) === from.address : this.#bindV4[slot] === ipv4ToUint(from.address);
  }

  /** The MESSAGE-INTEGRITY layout this device used last, to try first next time. */
  variantOf(slot: number): IntegrityVariant | null {
    return VARIANTS[this.#variant[slot] as number] ?? null;
  }

  /**
   * Records an accepted keepalive. `authenticated`: the variant that verified its MESSAGE-INTEGRITY (the
   * source becomes trusted), or null. `connectionRequestBinding`: the request carried 0xC001, so its source
   * is where connection requests must go. `bindingChange`: it carried 0xC002.
   */
  accept(slot: number, from: Endpoint, now: number, authenticated: IntegrityVariant | null, connectionRequestBinding: boolean, bindingChange: boolean): void {
    let f = this.#flags[slot] as number;
    let significant = !(f & ONLINE);
    this.#lastSeen[slot] = now;
    if (authenticated) {
      if (!this.#isSource(slot, f, from)) {
        f = this.#setEndpoint(slot, f, from, true);
        significant = true;
      }
      this.#authAt[slot] = now;
      this.#variant[slot] = VARIANTS.indexOf(authenticated);
    }
    let changed = bindingChange;
    let previous: Endpoint | null = null;
    if (connectionRequestBinding && this.#owner[slot] === FOREIGN && this.#mayClaim(slot, now)) significant = true;
    if (connectionRequestBinding && !this.#isBinding(slot, f, from)) {
      previous = this.#binding(slot, f);
      f = this.#setEndpoint(slot, f, from, false);
      changed = true;
    } else if (bindingChange) {
      previous = this.#binding(slot, f);
    }
    if (changed) {
      this.#changedAt[slot] = now;
      significant = true;
    }
    if (!(f & ONLINE)) {
      f |= ONLINE;
      this.#online++;
      this.#flags[slot] = f;
      this.events.online(slot);
    }
    if (changed) this.events.bindingChanged(slot, previous, this.#binding(slot, f), bindingChange);
    if (significant && !(f & DIRTY)) {
      f |= DIRTY;
      this.#dirty.push(slot);
    } else if (!(f & DIRTY)) {
      f |= STALE;
    }
    this.#flags[slot] = f;
  }

  /** Another node's binding keepalive was more recent: take it back, unless this device claimed too recently. */
  #mayClaim(slot: number, now: number): boolean {
    const seconds = Math.floor(now / 1000);
    if (seconds - (this.#claimedAt[slot] as number) < this.claimIntervalMs / 1000) return false;
    this.#claimedAt[slot] = seconds;
    this.#owner[slot] = CLAIMING;
    return true;
  }

  /** Does this node hold the slot's binding (it may send connection requests to it from its STUN socket)? */
  owns(slot: number): boolean {
    return this.#owner[slot] !== FOREIGN && ((this.#flags[slot] as number) & HAS_BINDING) !== 0;
  }

  /** Is the slot's next write a claim of its binding from another node? Cleared by the write (`claimed`). */
  isClaiming(slot: number): boolean {
    return this.#owner[slot] === CLAIMING;
  }

  /** The claim of `slot` reached the store. */
  claimed(slot: number): void {
    if (this.#owner[slot] === CLAIMING) this.#owner[slot] = OURS;
  }

  /** The store says another node holds the binding (a fenced write found it so, or its row said so at start). */
  lostOwnership(slot: number): void {
    if (this.#owner[slot] !== CLAIMING) this.#owner[slot] = FOREIGN;
  }

  /** Bindings held here. A scan: for the heartbeat and status, never per packet. */
  get ownedCount(): number {
    let n = 0;
    const flags = this.#flags;
    const owner = this.#owner;
    for (let slot = 0; slot < flags.length; slot++) if ((flags[slot] as number) & HAS_BINDING && owner[slot] !== FOREIGN) n++;
    return n;
  }

  /**
   * Marks offline every device of slots [from, to) silent for offline_after at `now`. The keepalive path sweeps
   * every slot about once a second this way: a loop over two arrays, where a timer per online device would
   * cost tens of bytes each.
   */
  sweepOffline(from: number, to: number, now: number): void {
    const flags = this.#flags;
    const lastSeen = this.#lastSeen;
    const cutoff = now - this.offlineAfterMs;
    const end = Math.min(to, flags.length);
    for (let slot = from; slot < end; slot++) {
      const f = flags[slot] as number;
      if ((f & ONLINE) === 0 || (lastSeen[slot] as number) > cutoff) continue;
      flags[slot] = f & ~ONLINE;
      this.#online--;
      this.#markDirty(slot);
      this.events.offline(slot);
    }
  }

  view(slot: number): PresenceView {
    const f = this.#flags[slot] as number;
    const lastSeen = this.#lastSeen[slot] as number;
    const binding = this.#binding(slot, f);
    const changedAt = this.#changedAt[slot] as number;
    return { online: (f & ONLINE) !== 0, lastSeen: lastSeen || null, binding, natId: binding?.address ?? null, bindingChangedAt: changedAt || null };
  }

  /** Where UDP Connection Requests for `slot` must go, if known. */
  binding(slot: number): Endpoint | null {
    return this.#binding(slot, this.#flags[slot] as number);
  }

  record(slot: number): PresenceRecord {
    const f = this.#flags[slot] as number;
    const authAt = this.#authAt[slot] as number;
    const changedAt = this.#changedAt[slot] as number;
    return {
      lastSeen: this.#lastSeen[slot] as number,
      source: f & HAS_SOURCE ? { address: f & SOURCE_V6 ? (this.#srcV6.get(slot) as string) : uintToIpv4(this.#srcV4[slot] as number), port: this.#srcPort[slot] as number } : null,
      authenticatedAt: authAt || null,
      variant: this.variantOf(slot),
      binding: this.#binding(slot, f),
      bindingChangedAt: changedAt || null,
    };
  }

  /** Restores a persisted record at start; online if its last keepalive is recent enough. */
  restore(slot: number, r: PresenceRecord, now: number, foreign = false): void {
    let f = 0;
    this.#owner[slot] = foreign ? FOREIGN : OURS;
    this.#lastSeen[slot] = r.lastSeen;
    this.#authAt[slot] = r.authenticatedAt ?? 0;
    this.#changedAt[slot] = r.bindingChangedAt ?? 0;
    this.#variant[slot] = Math.max(0, VARIANTS.indexOf(r.variant));
    if (r.source) f = this.#setEndpoint(slot, f, r.source, true);
    if (r.binding) f = this.#setEndpoint(slot, f, r.binding, false);
    if (now - r.lastSeen < this.offlineAfterMs) {
      f |= ONLINE;
      this.#online++;
    }
    this.#flags[slot] = f;
  }

  /** The device was removed: forget it (it stays out of the flush). */
  forget(slot: number): void {
    if ((this.#flags[slot] as number) & ONLINE) this.#online--;
    this.#flags[slot] = 0;
    this.#owner[slot] = OURS;
    this.#claimedAt[slot] = 0;
    this.#srcV6.delete(slot);
    this.#bindV6.delete(slot);
  }

  /** Slots changed significantly since the last call, for the flush every second. */
  takeDirty(): number[] {
    const dirty = this.#dirty;
    this.#dirty = [];
    for (const slot of dirty) this.#flags[slot] = (this.#flags[slot] as number) & ~(DIRTY | STALE);
    return dirty;
  }

  /** Slots whose write failed (the store was away): written again with the next flush. */
  requeue(slots: readonly number[]): void {
    for (const slot of slots) this.#markDirty(slot);
  }

  /** Slots whose only change since they were last written is their last-seen or trust time. */
  takeStale(): number[] {
    const stale: number[] = [];
    const flags = this.#flags;
    for (let slot = 0; slot < flags.length; slot++) {
      if ((flags[slot] as number) & STALE) {
        flags[slot] = (flags[slot] as number) & ~STALE;
        stale.push(slot);
      }
    }
    return stale;
  }

  #markDirty(slot: number): void {
    const f = this.#flags[slot] as number;
    if (f & DIRTY) return;
    this.#flags[slot] = f | DIRTY;
    this.#dirty.push(slot);
  }

  #binding(slot: number, f: number): Endpoint | null {
    if (!(f & HAS_BINDING)) return null;
    const address = f & BINDING_V6 ? (this.#bindV6.get(slot) as string) : uintToIpv4(this.#bindV4[slot] as number);
    return { address, port: this.#bindPort[slot] as number };
  }

  /** Stores `e` as the slot's trusted source (`source`) or connection-request binding; returns the new flags. */
  #setEndpoint(slot: number, f: number, e: Endpoint, source: boolean): number {
    const [has, v6flag, v4, port, v6] = source
      ? ([HAS_SOURCE, SOURCE_V6, this.#srcV4, this.#srcPort, this.#srcV6] as const)
      : ([HAS_BINDING, BINDING_V6, this.#bindV4, this.#bindPort, this.#bindV6] as const);
    const n = ipv4ToUint(e.address);
    if (n === undefined) {
      v6.set(slot, e.address);
      f |= v6flag;
    } else {
      v4[slot] = n;
      v6.delete(slot);
      f &= ~v6flag;
    }
    port[slot] = e.port;
    return f | has;
  }
}
