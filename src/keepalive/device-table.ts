import { randomBytes } from 'node:crypto';
import { grown } from '../typed-arrays.js';
import { fnv1a } from './fnv1a.js';

/** Credentials the keepalive path needs for one device. */
export interface KeepaliveCredentials {
  readonly id: string;
  readonly stunUsername: string;
  readonly stunPassword: string;
}

/** The same, with the STUN password as stored (sealed under the master key): how they are loaded at start. */
export interface SealedKeepaliveCredentials {
  readonly id: string;
  readonly stunUsername: string;
  readonly sealedStunPassword: Buffer;
}

/**
 * Opens sealed STUN passwords (the device registry's). A sealed value is `overhead` bytes more than the
 * password (nonce and tag: the cipher keeps the length).
 */
export interface PasswordOpener {
  readonly overhead: number;
  /** @throws when it does not open */
  open(id: string, sealed: Buffer): Buffer;
}

/** Flags in a slot's password length: its bytes are still sealed; or they did not open. */
const SEALED = 0x8000;
const UNUSABLE = 0x4000;
const LENGTH = 0x3fff;

const EMPTY = 0;
const TOMBSTONE = -1;
const REMOVED = 0xffff;

/**
 * Who may send keepalives, held compactly enough for millions of devices (about 70 bytes each): every
 * device gets a slot number; its STUN username, id (when it differs) and STUN password live as bytes
 * in one arena, and an open-addressing index of slot numbers finds a slot by username bytes, straight
 * from the datagram, without making a string. Presence (presence.ts) keeps its own arrays indexed by
 * the same slots. Slots of removed devices are not reused until restart, so a late timer for a slot
 * can never hit another device.
 *
 * Passwords loaded at start arrive sealed (opening a million takes seconds): their sealed bodies take the
 * passwords' places in the arena, the rest of each sealed value waits in a side buffer, and each is opened
 * in place when first needed (a keepalive) or by `openSealed` in the background; the side buffer goes
 * once all are open.
 */
export class DeviceTable {
  #arena: Buffer;
  #arenaUsed = 0;
  /** Per slot: where its bytes start, and the lengths of username, id (0: same as the username) and password. */
  #start: Uint32Array;
  #userLen: Uint16Array;
  #idLen: Uint16Array;
  #pwLen: Uint16Array;
  #slots = 0;
  #removed = 0;
  /** Open addressing: slot + 1, EMPTY or TOMBSTONE; kept at most half full. */
  #index = new Int32Array(1024);
  #indexUsed = 0;
  /** Devices room was made for (`reserve`): the arena, if short, grows by what those still to come need. */
  #reserved = 0;
  /** The few devices whose id differs from their STUN username, by id. */
  readonly #otherIds = new Map<string, number>();
  readonly #scratch = Buffer.allocUnsafe(4096);
  readonly #opener: PasswordOpener | undefined;
  readonly #onUnusable: (id: string, err: unknown) => void;
  /** Per slot, `overhead` bytes: what a sealed password has beyond its body; undefined when none is left sealed. */
  #sealedRest: Buffer | undefined;
  #sealedLeft = 0;
  #openCursor = 0;
  /** The key of a device whose password does not open: random, so no request can be signed with it. */
  readonly #unusable = randomBytes(32);

  /** `opener`: for passwords added sealed; `onUnusable`: told once about each that does not open. */
  constructor(expectedDevices = 0, opener?: PasswordOpener, onUnusable: (id: string, err: unknown) => void = () => undefined) {
    this.#opener = opener;
    this.#onUnusable = onUnusable;
    const n = Math.max(1024, expectedDevices);
    this.#arena = Buffer.allocUnsafe(n * 48);
    this.#start = new Uint32Array(n);
    this.#userLen = new Uint16Array(n);
    this.#idLen = new Uint16Array(n);
    this.#pwLen = new Uint16Array(n);
    this.#resizeIndex(n * 2);
  }

  /**
   * Makes room for `devices` in all (a cluster node, once it has counted the bindings it holds), so the table is
   * the size of what is held, not the next doubling past it. The arena's bytes per device are not known before:
   * when it fills, it grows once to what the devices still expected need at the size seen so far.
   */
  reserve(devices: number): void {
    this.#reserved = Math.max(this.#reserved, devices);
    if (devices > this.#start.length) this.#growSlots(devices);
    if ((this.#indexUsed + (devices - this.#slots)) * 2 > this.#index.length) this.#resizeIndex((this.#indexUsed + devices - this.#slots) * 2);
  }

  /** Bytes of its buffers (arena, slot arrays, index, sealed remainders). */
  get bytes(): number {
    const slots = this.#start.byteLength + this.#userLen.byteLength + this.#idLen.byteLength + this.#pwLen.byteLength;
    return this.#arena.length + slots + this.#index.byteLength + (this.#sealedRest?.length ?? 0);
  }

  /** Slots handed out so far, removed ones included: arrays indexed by slot need this length. */
  get slotCount(): number {
    return this.#slots;
  }

  /** Devices held now (slots of removed ones aside). */
  get size(): number {
    return this.#slots - this.#removed;
  }

  /** Adds a device (its STUN username must not be in the table already) and returns its slot. */
  add(device: KeepaliveCredentials | SealedKeepaliveCredentials): number {
    const slot = this.#slots;
    if (slot >= this.#start.length) this.#growSlots();
    const sameId = device.id === device.stunUsername;
    const sealed = 'sealedStunPassword' in device ? this.#splitSealed(slot, device.sealedStunPassword) : undefined;
    const plain = 'stunPassword' in device ? device.stunPassword : '';
    const pwBytes = sealed ? sealed.length : Buffer.byteLength(plain);
    if (pwBytes > LENGTH) throw new RangeError('a STUN password longer than the table holds');
    const need = Buffer.byteLength(device.stunUsername) + (sameId ? 0 : Buffer.byteLength(device.id)) + pwBytes;
    if (this.#arenaUsed + need > this.#arena.length) this.#growArena(need);
    const start = this.#arenaUsed;
    const userLen = this.#arena.write(device.stunUsername, start);
    const idLen = sameId ? 0 : this.#arena.write(device.id, start + userLen);
    const pwAt = start + userLen + idLen;
    const pwLen = sealed ? sealed.copy(this.#arena, pwAt) : this.#arena.write(plain, pwAt);
    this.#arenaUsed += userLen + idLen + pwLen;
    this.#start[slot] = start;
    this.#userLen[slot] = userLen;
    this.#idLen[slot] = idLen;
    this.#pwLen[slot] = sealed ? pwLen | SEALED : pwLen;
    this.#slots++;
    if (!sameId) this.#otherIds.set(device.id, slot);
    if ((this.#indexUsed + 1) * 2 > this.#index.length) this.#resizeIndex(this.#index.length * 2);
    this.#insert(slot);
    return slot;
  }

  /**
   * Adds one device whose password arrives sealed, opened now (a device read from the store at its keepalive:
   * the side buffer is for the bulk load at start, not for one device at a time). One that does not open is
   * added sealed, to be found unusable when used.
   */
  addOpened(device: SealedKeepaliveCredentials): number {
    let password: string;
    try {
      password = this.#opener!.open(device.id, device.sealedStunPassword).toString();
    } catch {
      return this.add(device);
    }
    return this.add({ id: device.id, stunUsername: device.stunUsername, stunPassword: password });
  }

  /** Keeps what a sealed password has beyond its body aside; returns the body. */
  #splitSealed(slot: number, sealed: Buffer): Buffer {
    const o = this.#opener;
    if (!o) throw new TypeError('a sealed STUN password needs an opener');
    if (sealed.length < o.overhead) throw new RangeError('a sealed STUN password shorter than its overhead');
    if (!this.#sealedRest) this.#sealedRest = Buffer.alloc(this.#start.length * o.overhead);
    sealed.copy(this.#sealedRest, slot * o.overhead, 0, o.overhead);
    this.#sealedLeft++;
    return sealed.subarray(o.overhead);
  }

  /** Passwords still sealed (opened when first needed or by `openSealed`). */
  get sealedCount(): number {
    return this.#sealedLeft;
  }

  /** Opens up to `max` passwords still sealed (background work after start); false once none is left. */
  openSealed(max: number): boolean {
    for (let n = 0; this.#sealedLeft > 0 && this.#openCursor < this.#slots && n < max; this.#openCursor++) {
      const slot = this.#openCursor;
      if (((this.#pwLen[slot] as number) & SEALED) === 0 || this.#userLen[slot] === REMOVED) continue;
      this.#opened(slot);
      n++;
    }
    return this.#sealedLeft > 0 && this.#openCursor < this.#slots;
  }

  remove(id: string): number | undefined {
    const slot = this.slotOfId(id);
    if (slot === undefined) return undefined;
    const start = this.#start[slot] as number;
    const i = this.#probe(this.#arena, start, start + (this.#userLen[slot] as number));
    if (i >= 0) this.#index[i] = TOMBSTONE;
    this.#otherIds.delete(id);
    this.#userLen[slot] = REMOVED;
    this.#removed++;
    if (((this.#pwLen[slot] as number) & SEALED) !== 0) this.#settled(slot, UNUSABLE);
    return slot;
  }

  /** The slot whose STUN username is `buf[start, end)`, e.g. a USERNAME value inside a datagram. */
  slotOfUsernameBytes(buf: Buffer, start: number, end: number): number | undefined {
    const i = this.#probe(buf, start, end);
    return i < 0 ? undefined : (this.#index[i] as number) - 1;
  }

  slotOfUsername(username: string): number | undefined {
    const len = this.#scratch.write(username, 0);
    if (len >= this.#scratch.length - 4) return this.slotOfUsernameBytes(Buffer.from(username), 0, Buffer.byteLength(username));
    return this.slotOfUsernameBytes(this.#scratch, 0, len);
  }

  slotOfId(id: string): number | undefined {
    const other = this.#otherIds.get(id);
    if (other !== undefined) return other;
    const slot = this.slotOfUsername(id);
    // The username matched, but the device's id may be another string than its username.
    return slot !== undefined && this.#idLen[slot] === 0 ? slot : undefined;
  }

  /** The device id of a slot, or null if the device was removed. Allocates: not for the per-datagram path. */
  idOf(slot: number): string | null {
    if (slot >= this.#slots || this.#userLen[slot] === REMOVED) return null;
    const userLen = this.#userLen[slot] as number;
    const start = this.#start[slot] as number;
    const idLen = this.#idLen[slot] as number;
    return idLen === 0 ? this.#arena.toString('utf8', start, start + userLen) : this.#arena.toString('utf8', start + userLen, start + userLen + idLen);
  }

  /** The STUN password as HMAC key. A view into the arena: do not keep it. */
  passwordOf(slot: number): Buffer {
    if (((this.#pwLen[slot] as number) & (SEALED | UNUSABLE)) !== 0) return this.#opened(slot);
    const off = (this.#start[slot] as number) + (this.#userLen[slot] as number) + (this.#idLen[slot] as number);
    return this.#arena.subarray(off, off + (this.#pwLen[slot] as number));
  }

  /** Opens a sealed password into its place in the arena (the same length as its sealed body). */
  #opened(slot: number): Buffer {
    const flags = this.#pwLen[slot] as number;
    if ((flags & UNUSABLE) !== 0) return this.#unusable;
    const o = this.#opener!;
    const len = flags & LENGTH;
    const off = (this.#start[slot] as number) + (this.#userLen[slot] as number) + (this.#idLen[slot] as number);
    const id = this.idOf(slot) ?? '';
    try {
      const sealed = Buffer.concat([this.#sealedRest!.subarray(slot * o.overhead, (slot + 1) * o.overhead), this.#arena.subarray(off, off + len)]);
      const plain = o.open(id, sealed);
      if (plain.length !== len) throw new RangeError('an opened password of another length than its sealed body');
      plain.copy(this.#arena, off);
      this.#settled(slot, len);
      return this.#arena.subarray(off, off + len);
    } catch (err) {
      this.#settled(slot, UNUSABLE);
      this.#onUnusable(id, err);
      return this.#unusable;
    }
  }

  /** A sealed slot is opened (its length) or not usable: once none is left sealed, the side buffer goes. */
  #settled(slot: number, pwLen: number): void {
    this.#pwLen[slot] = pwLen;
    if (--this.#sealedLeft === 0) this.#sealedRest = undefined;
  }

  /** Index position holding the slot whose username is `buf[start, end)`, or -1. */
  #probe(buf: Buffer, start: number, end: number): number {
    const mask = this.#index.length - 1;
    const len = end - start;
    for (let i = fnv1a(buf, start, end) & mask; ; i = (i + 1) & mask) {
      const entry = this.#index[i] as number;
      if (entry === EMPTY) return -1;
      if (entry === TOMBSTONE) continue;
      const slot = entry - 1;
      if (this.#userLen[slot] !== len) continue;
      if (this.#equals(buf, start, this.#start[slot] as number, len)) return i;
    }
  }

  /** Byte comparison in JS: for usernames of a few dozen bytes it beats a call into Buffer.compare. */
  #equals(buf: Buffer, start: number, at: number, len: number): boolean {
    const arena = this.#arena;
    for (let k = 0; k < len; k++) if (buf[start + k] !== arena[at + k]) return false;
    return true;
  }

  #insert(slot: number): void {
    const mask = this.#index.length - 1;
    const start = this.#start[slot] as number;
    let i = fnv1a(this.#arena, start, start + (this.#userLen[slot] as number)) & mask;
    while (this.#index[i] !== EMPTY && this.#index[i] !== TOMBSTONE) i = (i + 1) & mask;
    if (this.#index[i] === EMPTY) this.#indexUsed++;
    this.#index[i] = slot + 1;
  }

  #resizeIndex(minCapacity: number): void {
    let capacity = 1024;
    while (capacity < minCapacity) capacity *= 2;
    this.#index = new Int32Array(capacity);
    this.#indexUsed = 0;
    for (let slot = 0; slot < this.#slots; slot++) if (this.#userLen[slot] !== REMOVED) this.#insert(slot);
  }

  /** By half again (not double): past what was reserved, a node's devices arrive a few at a time. */
  #growSlots(atLeast = 0): void {
    const n = Math.max(atLeast, Math.ceil(this.#start.length * 1.5));
    this.#start = grown(this.#start, n);
    this.#userLen = grown(this.#userLen, n);
    this.#idLen = grown(this.#idLen, n);
    this.#pwLen = grown(this.#pwLen, n);
    if (this.#sealedRest) {
      const rest = Buffer.alloc(n * this.#opener!.overhead);
      this.#sealedRest.copy(rest);
      this.#sealedRest = rest;
    }
  }

  #growArena(need: number): void {
    // Short of what was reserved: room for the devices still expected at the bytes per device seen so far.
    const expected = this.#reserved > this.#slots && this.#slots > 0 ? Math.ceil(((this.#reserved - this.#slots) * this.#arenaUsed * 1.05) / this.#slots) : 0;
    const size = expected > 0 ? this.#arenaUsed + Math.max(expected, this.#arena.length >> 4) : Math.ceil(this.#arena.length * 1.5);
    const bigger = Buffer.allocUnsafe(Math.max(size, this.#arenaUsed + need));
    this.#arena.copy(bigger, 0, 0, this.#arenaUsed);
    this.#arena = bigger;
  }
}
